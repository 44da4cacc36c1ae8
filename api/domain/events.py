"""Every frame the server sends, as a typed struct, and the one encoder that turns it into bytes.

Frame shapes are CONTRACT §3's (and docs/user-stream.md's for `/ws`); they mirror the web
client's decoders in `webclient/src/net/schemas.ts`. A frame is encoded once per event and
the bytes are fanned out as they are. `Message` is the contract's message object (webclient
`ChatMessage`); `message_frame_bytes` / `edited_frame_bytes` turn a stored one into its live
frame, so history, replay and gap filling produce identical frames.
"""

from __future__ import annotations

from typing import Any

import msgspec
from msgspec import UNSET, UnsetType

_encoder = msgspec.json.Encoder()


def encode(obj: Any) -> bytes:
    """The one encoder (structs, and the message object's dict form)."""
    return _encoder.encode(obj)


class Acknowledgement(msgspec.Struct):
    """Who acknowledged an urgent message, and when (docs/alerts.md)."""

    user_id: str
    display_name: str
    at: str


class Message(msgspec.Struct, kw_only=True):
    """The contract's message object (CONTRACT §3), the same in history, live frames and search.

    Mirrors `ChatMessage` in `webclient/src/net/schemas.ts`. `content` is text for chat, an
    object for incident data and stored system events, null once deleted. Built from a row by
    `api.domain.messages.read.message_object` and from a freshly stored message by
    `api.domain.messages.sequencing.stored_message`.
    """

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
    created_at: str | None
    edited_at: str | None
    deleted_at: str | None
    sequence_number: int
    reactions: dict[str, int]
    # Extension: the sender is a bot (an incoming webhook's, `api.domain.webhooks`), not a person.
    sender_is_bot: bool = False
    # REST history only: the emoji the reader has put on this message (absent elsewhere).
    my_reactions: list[str] | UnsetType = UNSET
    # Extension: an attachment's {"filename", "content_type", "size"}; null for other messages
    # and once deleted.
    file: dict[str, Any] | None = None
    # Extension, REST history only: who put each emoji on, {emoji: [{"user_id", "display_name"}]},
    # oldest first (absent elsewhere: clients follow it from the reaction frames' user_id).
    reacted_by: dict[str, list[dict[str, str]]] | UnsetType = UNSET
    # Extension (docs/alerts.md): `normal` or `urgent`; on urgent messages only, who acknowledged
    # it and when, oldest first.
    priority: str = "normal"
    acknowledgements: list[Acknowledgement] | UnsetType = UNSET

    def fields(self) -> dict[str, Any]:
        """The fields as keyword arguments (to build a `MentionedMessage` or `SearchHit` from it)."""
        return msgspec.structs.asdict(self)


class MentionedMessage(Message, kw_only=True):
    """A message in the caller's mentions inbox (`GET /api/mentions`)."""

    room_title: str
    unread: bool


class SearchHit(Message, kw_only=True):
    """A message found by search (`GET /api/search`), with the matched terms marked."""

    highlighted_content: str | None


class _Frame(msgspec.Struct, tag_field="type", kw_only=True):
    """A server → client frame; its `type` is the struct's tag."""


class Ack(_Frame, tag="ack"):
    client_id: str | None
    message_id: str
    sequence_number: int
    created_at: str | None


class Mention(_Frame, tag="mention"):
    room_id: str
    room_title: str
    message_id: str
    sequence_number: int
    sender_display_name: str
    preview: str


class UrgentAcknowledged(_Frame, tag="urgent_acknowledged"):
    """A member acknowledged an urgent message (docs/alerts.md)."""

    message_id: str
    user_id: str
    at: str
    room_id: str
    display_name: str


class UrgentPage(_Frame, tag="urgent_page"):
    """One notification round of an urgent page, to the paged user's sockets (docs/alerts.md)."""

    room_id: str
    room_title: str
    message_id: str
    sequence_number: int
    sender_display_name: str
    preview: str
    round: int
    last_round: bool
    # Paged because someone else's page went unacknowledged (the room's escalation).
    escalated: bool


class Error(_Frame, tag="error", omit_defaults=True):
    code: str
    message: str
    client_id: str | None = None
    message_id: str | None = None


class Pong(_Frame, tag="pong", omit_defaults=True):
    server_time: str
    id: str | int | None = None


class Person(msgspec.Struct):
    user_id: str
    display_name: str


class RoomConnected(_Frame, tag="connected"):
    room_id: str
    user_id: str
    role: str
    last_sequence_number: int
    server_time: str
    online: list[Any]
    # Large rooms only (docs/big-rooms.md): `online` is a sample; how many are online in all.
    online_count: int | UnsetType = UNSET
    truncated: bool | UnsetType = UNSET


class SyncComplete(_Frame, tag="sync_complete"):
    last_sequence_number: int
    server_time: str


class PresenceEvent(_Frame, tag="system"):
    """`user_joined` / `user_left`: not stored, not sequenced."""

    event: str
    user_id: str
    display_name: str
    timestamp: str


class Presence(_Frame, tag="presence"):
    online: list[Any]
    # Large rooms only (docs/big-rooms.md): `online` is a sample; how many are online in all.
    online_count: int | UnsetType = UNSET
    truncated: bool | UnsetType = UNSET


class Typing(_Frame, tag="typing"):
    user_id: str
    display_name: str
    is_typing: bool


class MessageDeleted(_Frame, tag="message_deleted"):
    message_id: str
    room_id: str
    sequence_number: int
    deleted_at: str | None
    deleted_by: str | None


class _ReactionChange(_Frame):
    """A reaction added or removed: the emoji, who, and the message's counts after it."""

    message_id: str
    emoji: str | None
    user_id: str | None
    reactions: dict[str, int]


class ReactionAdded(_ReactionChange, tag="reaction_added"):
    pass


class ReactionRemoved(_ReactionChange, tag="reaction_removed"):
    pass


# ---------------------------------------------------------------------- the user stream (`/ws`)


class UserConnected(_Frame, tag="connected"):
    user_id: str
    server_time: str
    rooms: list[Any]


class RoomActivity(_Frame, tag="room_activity"):
    room_id: str
    last_sequence_number: int
    unread_count: int
    unread_mentions: int
    last_message_at: str | None
    # Encoded once per message and shared by every receiver's frame.
    preview: msgspec.Raw | None


class RoomRemoved(_Frame, tag="room_removed"):
    room_id: str


class RoomStatusChanged(_Frame, tag="room_status_changed"):
    room_id: str
    status: str


class RoleChanged(_Frame, tag="role_changed"):
    room_id: str
    role: str


# ---------------------------------------------------------------------- builders


def ack_frame(answer: Message | Ack) -> bytes:
    """The sender's `ack`: of the message stored, or (a repeated client id) of the one stored earlier."""
    if isinstance(answer, Ack):
        return encode(answer)
    return encode(
        Ack(
            client_id=answer.client_id,
            message_id=answer.message_id,
            sequence_number=answer.sequence_number,
            created_at=answer.created_at,
        )
    )


def mention_frame(message: Message, room_title: str, preview: str) -> bytes:
    return encode(
        Mention(
            room_id=message.room_id,
            room_title=room_title,
            message_id=message.message_id,
            sequence_number=message.sequence_number,
            sender_display_name=message.sender_display_name,
            preview=preview,
        )
    )


def error_frame(code: str, message: str, client_id: str | None = None, message_id: str | None = None) -> bytes:
    return encode(Error(code=code, message=message, client_id=client_id, message_id=message_id))


def system_frame(message: Message) -> dict[str, Any]:
    """The live `system` frame of a stored system message (CONTRACT §3).

    Open-ended (each event adds its own fields), so it stays a mapping built from the
    stored event object.
    """
    content = dict(message.content or {})
    frame: dict[str, Any] = {
        "type": "system",
        "event": content.get("event"),
        "message_id": message.message_id,
        "sequence_number": message.sequence_number,
        "user_id": content.get("user_id"),
        "actor_id": content.get("actor_id"),
        "timestamp": message.created_at,
        "room_id": message.room_id,
    }
    for key, value in content.items():
        frame.setdefault(key, value)
    return frame


def _tagged(frame_type: bytes, message: Message) -> bytes:
    """`{"type": <frame_type>, …the message object's fields}` from one encode of the struct."""
    body = _encoder.encode(message)
    return b'{"type":"' + frame_type + b'",' + body[1:]


def message_frame_bytes(message: Message) -> bytes:
    """The live frame of any stored message: `message`, or `system` for system messages."""
    if message.message_type == "system":
        return encode(system_frame(message))
    return _tagged(b"message", message)


def edited_frame_bytes(message: Message) -> bytes:
    """`message_edited`: the message object with `edited_at` set."""
    return _tagged(b"message_edited", message)
