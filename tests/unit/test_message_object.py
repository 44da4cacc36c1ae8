"""The message object is one struct; its frames are the object's fields plus a `type` tag."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import msgspec

from api.domain.events import (
    MentionedMessage,
    Message,
    SearchHit,
    edited_frame_bytes,
    message_frame_bytes,
)
from api.domain.messages.sequencing import NewMessage, stored_message

CONTRACT_FIELDS = {
    "message_id",
    "room_id",
    "sender_id",
    "sender_display_name",
    "content",
    "message_type",
    "mentions",
    "file_id",
    "file_url",
    "client_id",
    "created_at",
    "edited_at",
    "deleted_at",
    "sequence_number",
    "reactions",
}
# Documented extensions (README): always present too.
EXTENSION_FIELDS = {"sender_is_bot", "file", "priority"}  # reacted_by: REST history only, like my_reactions


def _message(**over: object) -> Message:
    new = NewMessage(sender_id="ana", message_type="text", content="pressure 95 @bo", mentions=["bo"], client_id="c1")
    m = stored_message(uuid.uuid4(), new, 7, datetime(2026, 12, 4, 10, 0, tzinfo=UTC), "Ana")
    return msgspec.structs.replace(m, **over) if over else m


def test_stored_message_has_exactly_the_contract_fields_with_nulls_present() -> None:
    obj = msgspec.json.decode(msgspec.json.encode(_message()))
    assert set(obj) == CONTRACT_FIELDS | EXTENSION_FIELDS  # my_reactions, reacted_by absent; edited_at/deleted_at present as null
    assert obj["edited_at"] is None and obj["deleted_at"] is None
    assert obj["sender_display_name"] == "Ana" and obj["sequence_number"] == 7
    assert obj["created_at"] == "2026-12-04T10:00:00.000Z"


def test_display_name_falls_back_to_sender_id() -> None:
    new = NewMessage(sender_id="ana", message_type="text", content="x")
    assert stored_message(uuid.uuid4(), new, 1, datetime.now(UTC), None).sender_display_name == "ana"


def test_incident_data_and_system_content_is_the_object() -> None:
    for mtype in ("incident_data", "system"):
        new = NewMessage(sender_id="ana", message_type=mtype, data={"pressure": 95})
        assert stored_message(uuid.uuid4(), new, 1, datetime.now(UTC), "Ana").content == {"pressure": 95}


def test_message_frame_is_the_object_plus_its_type() -> None:
    m = _message()
    plain = msgspec.json.decode(msgspec.json.encode(m))
    assert msgspec.json.decode(message_frame_bytes(m)) == {"type": "message", **plain}
    edited = _message(edited_at="2026-12-04T10:01:00.000Z")
    assert msgspec.json.decode(edited_frame_bytes(edited))["type"] == "message_edited"


def test_system_message_becomes_a_system_frame() -> None:
    m = _message(message_type="system", content={"event": "member_added", "user_id": "bo", "role": "VIEWER"})
    frame = msgspec.json.decode(message_frame_bytes(m))
    assert frame["type"] == "system" and frame["event"] == "member_added"
    assert frame["user_id"] == "bo" and frame["role"] == "VIEWER" and frame["sequence_number"] == 7


def test_extended_objects_keep_every_field() -> None:
    m = _message(my_reactions=["👍"])
    hit = msgspec.json.decode(msgspec.json.encode(SearchHit(**m.fields(), highlighted_content="<mark>95</mark>")))
    assert set(hit) == CONTRACT_FIELDS | EXTENSION_FIELDS | {"my_reactions", "highlighted_content"}
    inbox = MentionedMessage(**_message().fields(), room_title="Line 3", unread=True)
    assert set(msgspec.json.decode(msgspec.json.encode(inbox))) == CONTRACT_FIELDS | EXTENSION_FIELDS | {"room_title", "unread"}
