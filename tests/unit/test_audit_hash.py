"""The audit entry hash: canonical, and sensitive to every field including the previous hash."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import Any

from api.domain.audit import GENESIS_HASH, canonical_json, entry_hash

ENTRY: dict[str, Any] = {
    "room_id": "7d9f4a52-3c1e-4b8e-9a0f-1f2e3d4c5b6a",
    "chain_index": 3,
    "outbox_id": 41,
    "action": "edit",
    "message_id": "0b6c1d7e-8f90-4a1b-b2c3-d4e5f6a7b8c9",
    "actor_id": "mei@example.com",
    "body": {"before": {"content": "250°C"}, "after": {"content": "260°C"}, "sequence_number": 12},
    "created_at": datetime(2026, 11, 26, 8, 0, 0, 123456, tzinfo=UTC),
    "prev_hash": GENESIS_HASH,
}


def test_canonical_json_does_not_depend_on_key_order() -> None:
    assert (
        canonical_json({"b": 1, "a": [1, "é"]})
        == canonical_json({"a": [1, "é"], "b": 1})
        == '{"a":[1,"é"],"b":1}'.encode()
    )


def test_the_same_entry_hashes_the_same_whatever_the_time_zone_it_is_read_in() -> None:
    taipei = ENTRY["created_at"].astimezone(timezone(timedelta(hours=8)))
    assert entry_hash(**ENTRY) == entry_hash(**{**ENTRY, "created_at": taipei})
    assert len(entry_hash(**ENTRY)) == 64


def test_any_change_changes_the_hash() -> None:
    original = entry_hash(**ENTRY)
    changes = {
        "room_id": "7d9f4a52-3c1e-4b8e-9a0f-1f2e3d4c5b6b",
        "chain_index": 4,
        "outbox_id": 42,
        "action": "delete",
        "message_id": None,
        "actor_id": "someone@example.com",
        "body": {**ENTRY["body"], "after": {"content": "200°C"}},
        "created_at": ENTRY["created_at"] + timedelta(microseconds=1),
        "prev_hash": "f" * 64,
    }
    for field, value in changes.items():
        assert entry_hash(**{**ENTRY, field: value}) != original, field
