"""Building `SearchDocument`s from message rows, without knowing where the rows come from.

The indexing worker and `andon search reindex` read `messages` joined to `tr_users` and call
`document_from_message`; the row is any mapping with the `messages` column names.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from search.base import SearchDocument

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
# Incident data nests at most 5 levels (CONTRACT §3); guard anyway.
_MAX_DEPTH = 16


def version_from_timestamp(moment: datetime) -> int:
    """A document version from a timestamp (`messages.updated_at`): microseconds since 1970."""
    if moment.tzinfo is None:
        raise ValueError("timestamp must be timezone-aware")
    return (moment - _EPOCH) // timedelta(microseconds=1)


def _scalar(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value)) if abs(value) < 1e15 else repr(value)
    return str(value)


# incident_data may carry its readings' units under this key: `{"pressure": 95, "_units": {"pressure": "bar"}}`.
UNITS_KEY = "_units"


def _flatten(value: Any, out: list[str], depth: int) -> None:
    if depth > _MAX_DEPTH or value is None:
        return
    if isinstance(value, Mapping):
        for key, item in value.items():
            out.append(str(key))
            _flatten(item, out, depth + 1)
    elif isinstance(value, list | tuple):
        for item in value:
            _flatten(item, out, depth + 1)
    else:
        out.append(_scalar(value))


def incident_data_text(data: Any) -> str:
    """The text to index for an `incident_data` message: keys and values in document order.

    `{"temperature": 85, "pressure": 120.5, "line": "L3"}` -> `temperature 85 pressure 120.5 line L3`.
    A JSON string is parsed first.
    """
    if isinstance(data, str | bytes):
        try:
            data = json.loads(data)
        except ValueError:
            return data if isinstance(data, str) else data.decode("utf-8", "replace")
    out: list[str] = []
    units = data.get(UNITS_KEY) if isinstance(data, Mapping) else None
    if isinstance(data, Mapping) and isinstance(units, Mapping):
        # Units (README, extensions) follow their readings: `pressure 95 bar`; the key itself is not text.
        for key, item in data.items():
            if key == UNITS_KEY:
                continue
            out.append(str(key))
            _flatten(item, out, 1)
            unit = units.get(key)
            if isinstance(unit, str) and unit:
                out.append(unit)
    else:
        _flatten(data, out, 0)
    return " ".join(out)


def document_from_message(row: Mapping[str, Any], sender_display_name: str | None) -> SearchDocument | None:
    """The document for a `messages` row, or None when it must not be searchable.

    Deleted messages (`deleted_at` set) and `system` messages give None: call
    `SearchBackend.delete` for the former. The version is `updated_at` in microseconds (edits
    move it forward); without `updated_at`, `edited_at` or else `created_at` stands in.
    `sender_display_name` falls back to the sender id, as in the message object.
    """
    if row.get("deleted_at") is not None or row["message_type"] == "system":
        return None
    if row["message_type"] == "incident_data":
        content = incident_data_text(row.get("data"))
    else:
        content = row.get("content") or ""
    created_at: datetime = row["created_at"]
    stamp = row.get("updated_at") or row.get("edited_at") or created_at
    return SearchDocument(
        message_id=str(row["message_id"]),
        room_id=str(row["room_id"]),
        sender_id=row["sender_id"],
        sender_display_name=sender_display_name or row["sender_id"],
        message_type=row["message_type"],
        content=content,
        created_at=created_at.astimezone(UTC),
        sequence_number=int(row["sequence_number"]),
        version=version_from_timestamp(stamp),
    )
