"""Typed events, and the one place where server frames are encoded.

Every frame the server sends is produced from one of these structs (past tense: something
happened). Encoding happens once per event; the bytes are fanned out as they are.
"""

from __future__ import annotations

from typing import Any

import msgspec

_encoder = msgspec.json.Encoder()


def encode(obj: Any) -> bytes:
    return _encoder.encode(obj)


class MessagePosted(msgspec.Struct, tag="message", tag_field="type"):
    """A stored chat message (the message object of CONTRACT §3)."""

    message_id: str
    room_id: str
    sender_id: str
    sender_display_name: str
    content: Any
    message_type: str
    mentions: list[str]
    file_id: str | None
    file_url: str | None
    client_id: str | None
    created_at: str
    edited_at: str | None
    deleted_at: str | None
    sequence_number: int
    reactions: dict[str, int]


class MessageEdited(msgspec.Struct, tag="message_edited", tag_field="type"):
    message_id: str
    room_id: str
    sender_id: str
    sender_display_name: str
    content: Any
    message_type: str
    mentions: list[str]
    file_id: str | None
    file_url: str | None
    client_id: str | None
    created_at: str
    edited_at: str | None
    deleted_at: str | None
    sequence_number: int
    reactions: dict[str, int]


class MessageDeleted(msgspec.Struct, tag="message_deleted", tag_field="type"):
    message_id: str
    room_id: str
    sequence_number: int
    deleted_at: str
    deleted_by: str


class ReactionChanged(msgspec.Struct, tag_field="type", tag=True):
    """Base for reaction_added / reaction_removed."""

    message_id: str
    emoji: str
    user_id: str
    reactions: dict[str, int]


class ReactionAdded(ReactionChanged, tag="reaction_added"):
    pass


class ReactionRemoved(ReactionChanged, tag="reaction_removed"):
    pass


class Ack(msgspec.Struct, tag="ack", tag_field="type"):
    client_id: str | None
    message_id: str
    sequence_number: int
    created_at: str


class ErrorFrame(msgspec.Struct, tag="error", tag_field="type", omit_defaults=True):
    code: str
    message: str
    client_id: str | None = None
    message_id: str | None = None


class OnlineUser(msgspec.Struct):
    user_id: str
    display_name: str


class Connected(msgspec.Struct, tag="connected", tag_field="type"):
    room_id: str
    user_id: str
    role: str
    last_sequence_number: int
    server_time: str
    online: list[OnlineUser]


class SyncComplete(msgspec.Struct, tag="sync_complete", tag_field="type"):
    last_sequence_number: int
    server_time: str


class UserPresenceEvent(msgspec.Struct, tag="system", tag_field="type"):
    """user_joined / user_left: not stored, not sequenced."""

    event: str
    user_id: str
    display_name: str
    timestamp: str


class PresenceChanged(msgspec.Struct, tag="presence", tag_field="type"):
    online: list[OnlineUser]


class TypingChanged(msgspec.Struct, tag="typing", tag_field="type"):
    user_id: str
    display_name: str
    is_typing: bool


class Mentioned(msgspec.Struct, tag="mention", tag_field="type"):
    room_id: str
    room_title: str
    message_id: str
    sequence_number: int
    sender_display_name: str
    preview: str


def system_frame(message: dict[str, Any]) -> dict[str, Any]:
    """The live `system` frame of a stored system message (CONTRACT §3)."""
    content = dict(message["content"] or {})
    frame: dict[str, Any] = {
        "type": "system",
        "event": content.get("event"),
        "message_id": message["message_id"],
        "sequence_number": message["sequence_number"],
        "user_id": content.get("user_id"),
        "actor_id": content.get("actor_id"),
        "timestamp": message["created_at"],
        "room_id": message["room_id"],
    }
    for key, value in content.items():
        frame.setdefault(key, value)
    return frame


def message_frame(message: dict[str, Any]) -> dict[str, Any]:
    """The live frame of any stored message: `message`, or `system` for system messages."""
    if message["message_type"] == "system":
        return system_frame(message)
    return {"type": "message", **message}
