"""Validating a client's `message` frame (CONTRACT §3) and finding the mentions in its text."""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from typing import Any

import msgspec

from api.domain.core.errors import Invalid, TooLarge

MAX_TEXT = 10_000
MAX_DATA_BYTES = 16 * 1024
MAX_DATA_DEPTH = 5
MAX_MENTIONS = 100
MAX_CLIENT_ID = 64
CLIENT_TYPES = ("text", "image_ref", "file_ref", "incident_data")
PRIORITIES = ("normal", "urgent")
# incident_data may carry the units of its readings under this key (README, extensions):
# `{"temperature": 85, "_units": {"temperature": "°C"}}`. Values stay plain JSON numbers, so the
# incident-data series and filters work on them unchanged.
UNITS_KEY = "_units"
MAX_UNIT_CHARS = 32

_enc = msgspec.json.Encoder()


def json_depth(value: Any, limit: int) -> int:
    """Nesting depth of containers (the outer object is 1); stops counting past `limit`."""
    if not isinstance(value, dict | list):
        return 0
    best = 1
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        node, depth = stack.pop()
        if depth > best:
            best = depth
            if best > limit:
                return best
        children = node.values() if isinstance(node, dict) else node
        for child in children:
            if isinstance(child, dict | list):
                stack.append((child, depth + 1))
    return best


def check_data(value: object, name: str = "incident_data content") -> dict[str, Any]:
    """An incident-data object: a JSON object, nested at most MAX_DATA_DEPTH levels, at most
    MAX_DATA_BYTES encoded (TooLarge). Its `_units` are checked by `check_units`."""
    if not isinstance(value, dict):
        raise Invalid(f"{name} must be a JSON object")
    if json_depth(value, MAX_DATA_DEPTH) > MAX_DATA_DEPTH:
        raise Invalid(f"incident_data may be nested at most {MAX_DATA_DEPTH} levels")
    if len(_enc.encode(value)) > MAX_DATA_BYTES:
        raise TooLarge("incident_data is over 16 KiB")
    return value


def check_text(value: object, message_type: str) -> str:
    """A message's text: a string of at most MAX_TEXT characters, not blank for a `text` message."""
    if not isinstance(value, str):
        raise Invalid("content must be a string")
    if len(value) > MAX_TEXT:
        raise TooLarge(f"content is over {MAX_TEXT} characters")
    if message_type == "text" and not value.strip():
        raise Invalid("content must not be empty")
    return value


def check_units(data: dict[str, Any]) -> None:
    """`_units`, when present, maps field names of this object to short unit strings."""
    if UNITS_KEY not in data:
        return
    units = data[UNITS_KEY]
    if not isinstance(units, dict):
        raise Invalid(f"incident_data {UNITS_KEY} must be an object of field name to unit")
    for name, unit in units.items():
        if name not in data or name == UNITS_KEY:
            raise Invalid(f"incident_data {UNITS_KEY} names a field the data does not have")
        if not isinstance(unit, str) or not unit.strip() or len(unit) > MAX_UNIT_CHARS:
            raise Invalid(
                f"incident_data units must be non-empty strings of at most {MAX_UNIT_CHARS} characters"
            )


@dataclass(slots=True)
class Draft:
    """A client's `message` frame, validated and normalised."""

    message_type: str
    content: str | None
    data: Any
    mentions: list[str]
    file_id: uuid.UUID | None
    client_id: str | None
    priority: str = "normal"


def check_draft(frame: dict[str, Any]) -> Draft:
    """Validate a `message` frame per CONTRACT §3 (Invalid / TooLarge)."""
    mtype = frame.get("message_type", "text")
    if mtype is None:
        mtype = "text"
    if not isinstance(mtype, str) or mtype not in CLIENT_TYPES:
        if mtype == "system":
            raise Invalid("clients may not send system messages")
        raise Invalid("message_type must be one of text, image_ref, file_ref, incident_data")
    client_id = frame.get("client_id")
    if client_id is not None and (
        not isinstance(client_id, str) or not client_id or len(client_id) > MAX_CLIENT_ID
    ):
        raise Invalid(f"client_id must be a non-empty string of at most {MAX_CLIENT_ID} characters")
    priority = frame.get("priority", "normal")
    if priority is None:
        priority = "normal"
    if not isinstance(priority, str) or priority not in PRIORITIES:
        raise Invalid("priority must be normal or urgent")
    raw_mentions = frame.get("mentions", [])
    if raw_mentions is None:
        raw_mentions = []
    if not isinstance(raw_mentions, list) or not all(isinstance(x, str) for x in raw_mentions):
        raise Invalid("mentions must be a list of user ids")
    if len(raw_mentions) > MAX_MENTIONS:
        raise Invalid(f"at most {MAX_MENTIONS} mentions")
    mentions = list(dict.fromkeys(x.strip().lower() for x in raw_mentions if x.strip()))
    content = frame.get("content")
    data: Any = None
    text_content: str | None
    if mtype == "incident_data":
        data = check_data(content)
        check_units(data)
        text_content = None
    else:
        if content is None and mtype != "text":
            content = ""
        text_content = check_text(content, mtype)
    file_id: uuid.UUID | None = None
    if mtype in ("image_ref", "file_ref"):
        raw = frame.get("file_id")
        if not isinstance(raw, str):
            raise Invalid("file_id is required for image_ref and file_ref")
        try:
            file_id = uuid.UUID(raw)
        except ValueError as exc:
            raise Invalid("file_id is not a valid UUID") from exc
    return Draft(mtype, text_content, data, mentions, file_id, client_id, priority)


def find_display_name_mentions(content: str, members: dict[str, str]) -> list[str]:
    """User ids whose `@display_name` appears in `content` (longest names win, case-insensitive)."""
    if "@" not in content:
        return []
    lowered = content.lower()
    found: list[str] = []
    taken: list[tuple[int, int]] = []
    for user_id, name in sorted(members.items(), key=lambda kv: -len(kv[1])):
        needle = "@" + name.lower()
        start = 0
        while True:
            i = lowered.find(needle, start)
            if i < 0:
                break
            end = i + len(needle)
            after_ok = end == len(lowered) or not (lowered[end].isalnum() or lowered[end] == "_")
            overlaps = any(a <= i < b for a, b in taken)
            if after_ok and not overlaps:
                taken.append((i, end))
                if user_id not in found:
                    found.append(user_id)
                break
            start = i + 1
    # Also accept a literal @user@example.com form.
    for m in re.finditer(r"@([A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,})", content):
        uid = m.group(1).lower()
        if uid in members and uid not in found:
            found.append(uid)
    return found
