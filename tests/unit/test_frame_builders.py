"""Frames built by `api.domain.events` have the contract's shape (the live and replay paths share them)."""

from __future__ import annotations

import msgspec

from api.domain.events import (
    Acknowledgement,
    Message,
    RoomEntry,
    SharedRoomActivity,
    acknowledged_frame,
    deleted_frame,
    reaction_frame,
    room_activity_frame,
    room_added_frame,
)


def _deleted_message() -> Message:
    return Message(
        message_id="m1",
        room_id="r1",
        sender_id="a@x",
        sender_display_name="A",
        content=None,
        message_type="text",
        mentions=[],
        file_id=None,
        file_url=None,
        client_id=None,
        created_at="2026-12-04T08:00:00.000Z",
        edited_at=None,
        deleted_at="2026-12-04T08:01:00.000Z",
        sequence_number=7,
        reactions={},
    )


def test_deleted_frame_names_the_message_and_who_deleted_it() -> None:
    frame = msgspec.json.decode(deleted_frame(_deleted_message(), "owner@x"))
    assert frame == {
        "type": "message_deleted",
        "message_id": "m1",
        "room_id": "r1",
        "sequence_number": 7,
        "deleted_at": "2026-12-04T08:01:00.000Z",
        "deleted_by": "owner@x",
    }


def test_reaction_frame_is_tagged_by_whether_it_added() -> None:
    added = msgspec.json.decode(reaction_frame("m1", {"👍": 2}, added=True, emoji="👍", user_id="a@x"))
    removed = msgspec.json.decode(reaction_frame("m1", {}, added=False, emoji=None, user_id=None))
    assert added == {
        "type": "reaction_added",
        "message_id": "m1",
        "emoji": "👍",
        "user_id": "a@x",
        "reactions": {"👍": 2},
    }
    assert removed["type"] == "reaction_removed"
    assert removed["reactions"] == {}


def test_acknowledged_frame_carries_the_acknowledgement() -> None:
    ack = Acknowledgement(user_id="b@x", display_name="B", at="2026-12-04T08:02:00.000Z")
    assert msgspec.json.decode(acknowledged_frame(ack, message_id="m1", room_id="r1")) == {
        "type": "urgent_acknowledged",
        "message_id": "m1",
        "user_id": "b@x",
        "at": "2026-12-04T08:02:00.000Z",
        "room_id": "r1",
        "display_name": "B",
    }


def test_room_added_is_the_entry_beside_its_type() -> None:
    entry = RoomEntry(
        room_id="r1",
        title="Outage",
        description=None,
        status="active",
        created_at="2026-12-04T08:00:00.000Z",
        role="OWNER",
        last_sequence_number=3,
        unread_count=1,
        unread_mentions=0,
        last_message_at="2026-12-04T08:00:00.000Z",
        preview=msgspec.Raw(b'{"text":"hi"}'),
    )
    frame = msgspec.json.decode(room_added_frame(entry))
    assert frame == {"type": "room_added", **msgspec.json.decode(msgspec.json.encode(entry))}
    assert next(iter(frame)) == "type"


def test_shared_room_activity_equals_the_full_encoding() -> None:
    preview = msgspec.Raw(b'{"text":"a \\"quoted\\" word"}')
    shared = SharedRoomActivity("r1", 9, preview)
    for unread, mentions, last_at in ((0, 0, None), (12, 3, "2026-12-04T08:00:00.000Z")):
        counts = {"unread_count": unread, "unread_mentions": mentions, "last_message_at": last_at}
        assert shared.frame(**counts) == room_activity_frame("r1", 9, **counts, preview=preview)
