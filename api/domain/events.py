"""Every frame the server sends, as a typed struct, and the one encoder that turns it into bytes.

Frame shapes are CONTRACT §3's (and docs/user-stream.md's for `/ws`); they mirror the web
client's decoders in `webclient/src/net/schemas.ts`. A frame is encoded once per event and
the bytes are fanned out as they are. `Message` is the contract's message object (webclient
`ChatMessage`); `message_frame_bytes` / `edited_frame_bytes` turn a stored one into its live
frame, so history, replay and gap filling produce identical frames.

Every frame is built here, by a `*_frame` builder, and nowhere else: live and replayed frames
(`message_deleted`, reactions, `urgent_acknowledged`) come from the same builder.

Longer than the ~400 lines a module should keep to, on purpose: this is the wire contract, one
struct and one builder per frame, kept in one file so that it is checked against
`schemas.ts` in one read.
"""

from __future__ import annotations

from typing import Any

import msgspec
from msgspec import UNSET, UnsetType

from api.domain.core.timefmt import now_iso

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
    # Extension, stored system events: the display names of the people the event names, as they
    # were when it was stored, {user_id: display_name}. `content` stays the contract's event object.
    names: dict[str, str] | UnsetType = UNSET

    def fields(self) -> dict[str, Any]:
        """The fields as keyword arguments (to build a `MentionedMessage` or `SearchHit` from it)."""
        return msgspec.structs.asdict(self)


# Where a stored system event keeps the names of the people it names (`content`'s id keys).
_NAME_KEYS = (("user_id", "user_display_name"), ("actor_id", "actor_display_name"))


def split_system_names(data: Any) -> tuple[Any, dict[str, str] | UnsetType]:
    """A stored system event's object as the contract's `content`, and the names stored with it.

    The stored object keeps `user_display_name` / `actor_display_name` beside the ids; the
    message object carries them as `names`, so `content` has the contract's keys only.
    """
    if not isinstance(data, dict) or not any(key in data for _, key in _NAME_KEYS):
        return data, UNSET
    names: dict[str, str] = {}
    for id_key, name_key in _NAME_KEYS:
        ident, name = data.get(id_key), data.get(name_key)
        if isinstance(ident, str) and isinstance(name, str) and name:
            names[ident] = name
    content = {k: v for k, v in data.items() if k not in ("user_display_name", "actor_display_name")}
    return content, names or UNSET


def with_system_names(content: Any, names: Any) -> Any:
    """The event object with `user_display_name` / `actor_display_name` from `names` (the
    live `system` frame's fields, and what a preview reads)."""
    if not isinstance(content, dict) or not isinstance(names, dict) or not names:
        return content
    out = dict(content)
    for id_key, name_key in _NAME_KEYS:
        ident = out.get(id_key)
        if isinstance(ident, str) and ident in names:
            out.setdefault(name_key, names[ident])
    return out


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


class RoomEntry(msgspec.Struct, kw_only=True):
    """A room as the user stream describes it, in `connected` and `room_added` (webclient `RoomEntry`)."""

    room_id: str
    title: str
    description: str | None
    status: str
    created_at: str | None
    role: str
    last_sequence_number: int
    unread_count: int
    unread_mentions: int
    last_message_at: str | None
    preview: msgspec.Raw | None


class UserConnected(_Frame, tag="connected"):
    user_id: str
    server_time: str
    rooms: list[RoomEntry]


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
    content = with_system_names(dict(message.content or {}), message.names)
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


def _tagged(frame_type: bytes, struct: msgspec.Struct) -> bytes:
    """`{"type": <frame_type>, …the struct's fields}` from one encode of the struct."""
    body = _encoder.encode(struct)
    return b'{"type":"' + frame_type + b'",' + body[1:]


def message_frame_bytes(message: Message) -> bytes:
    """The live frame of any stored message: `message`, or `system` for system messages."""
    if message.message_type == "system":
        return encode(system_frame(message))
    return _tagged(b"message", message)


def edited_frame_bytes(message: Message) -> bytes:
    """`message_edited`: the message object with `edited_at` set."""
    return _tagged(b"message_edited", message)


def deleted_frame(message: Message, deleted_by: str | None) -> bytes:
    """`message_deleted` of a deleted message: the same live (after the delete) and replayed."""
    return encode(
        MessageDeleted(
            message_id=message.message_id,
            room_id=message.room_id,
            sequence_number=message.sequence_number,
            deleted_at=message.deleted_at,
            deleted_by=deleted_by,
        )
    )


def reaction_frame(
    message_id: str, reactions: dict[str, int], *, added: bool, emoji: str | None, user_id: str | None
) -> bytes:
    """`reaction_added` / `reaction_removed`: who changed which emoji, and the message's counts after it."""
    kind = ReactionAdded if added else ReactionRemoved
    return encode(kind(message_id=message_id, emoji=emoji, user_id=user_id, reactions=reactions))


def acknowledged_frame(ack: Acknowledgement, *, message_id: str, room_id: str) -> bytes:
    """`urgent_acknowledged`: live (`do_acknowledge`) and replayed from the message's acknowledgements."""
    return encode(
        UrgentAcknowledged(
            message_id=message_id, user_id=ack.user_id, at=ack.at, room_id=room_id, display_name=ack.display_name
        )
    )


def urgent_page_frame(
    notice: dict[str, Any], *, this_round: int, last_round: bool, escalated: bool
) -> bytes:
    """One round of an urgent page; `notice` is the message's `room_id`, `room_title`,
    `message_id`, `sequence_number`, `sender_display_name` and `preview` (as a push names them)."""
    return encode(UrgentPage(**notice, round=this_round, last_round=last_round, escalated=escalated))


# Frames that carry `server_time` or `timestamp` are stamped when they are built.


def sync_complete_frame(last_sequence_number: int) -> bytes:
    return encode(SyncComplete(last_sequence_number=last_sequence_number, server_time=now_iso()))


def pong_frame(ping_id: str | int | None) -> bytes:
    return encode(Pong(server_time=now_iso(), id=ping_id))


def typing_frame(user_id: str, *, display_name: str, is_typing: bool) -> bytes:
    return encode(Typing(user_id=user_id, display_name=display_name, is_typing=is_typing))


def presence_event_frame(event: str, *, user_id: str, display_name: str) -> bytes:
    """`system` `user_joined` / `user_left` (not stored, not sequenced)."""
    return encode(PresenceEvent(event=event, user_id=user_id, display_name=display_name, timestamp=now_iso()))


def presence_frame(online: dict[str, Any]) -> bytes:
    """`presence`; `online` holds the list and, in a large room, `online_count` and `truncated`."""
    return encode(Presence(**online))


def room_connected_frame(
    *, room_id: str, user_id: str, role: str, last_sequence_number: int, online: dict[str, Any]
) -> bytes:
    """A room socket's `connected`; `online` as in `presence_frame`."""
    return encode(
        RoomConnected(
            room_id=room_id,
            user_id=user_id,
            role=role,
            last_sequence_number=last_sequence_number,
            server_time=now_iso(),
            **online,
        )
    )


# ---------------------------------------------------------------------- user stream builders


def user_connected_frame(user_id: str, rooms: list[RoomEntry]) -> bytes:
    return encode(UserConnected(user_id=user_id, server_time=now_iso(), rooms=rooms))


def room_added_frame(entry: RoomEntry) -> bytes:
    """`room_added`: the entry's fields beside the type (as in `connected`'s list)."""
    return _tagged(b"room_added", entry)


def room_removed_frame(room_id: str) -> bytes:
    return encode(RoomRemoved(room_id=room_id))


def role_changed_frame(room_id: str, role: str) -> bytes:
    return encode(RoleChanged(room_id=room_id, role=role))


def room_status_changed_frame(room_id: str, status: str) -> bytes:
    return encode(RoomStatusChanged(room_id=room_id, status=status))


def room_activity_frame(
    room_id: str,
    last_sequence_number: int,
    *,
    unread_count: int,
    unread_mentions: int,
    last_message_at: str | None,
    preview: msgspec.Raw | None,
) -> bytes:
    return encode(
        RoomActivity(
            room_id=room_id,
            last_sequence_number=last_sequence_number,
            unread_count=unread_count,
            unread_mentions=unread_mentions,
            last_message_at=last_message_at,
            preview=preview,
        )
    )


class SharedRoomActivity:
    """`room_activity` frames of one room and number for many streams, spliced from bytes made once.

    Thousands of streams receive the same room, number and preview; only `unread_count`,
    `unread_mentions` and `last_message_at` differ. The bytes equal `room_activity_frame`'s
    (`tests/unit/test_user_stream_activity.py`).
    """

    __slots__ = ("head", "tail")

    def __init__(self, room_id: str, last_sequence_number: int, preview: msgspec.Raw) -> None:
        self.head = (
            b'{"type":"room_activity","room_id":'
            + encode(room_id)
            + b',"last_sequence_number":%d,"unread_count":' % last_sequence_number
        )
        self.tail = bytes(preview)

    def frame(self, *, unread_count: int, unread_mentions: int, last_message_at: str | None) -> bytes:
        return b"".join(
            (
                self.head,
                b"%d" % unread_count,
                b',"unread_mentions":%d,"last_message_at":' % unread_mentions,
                encode(last_message_at),
                b',"preview":',
                self.tail,
                b"}",
            )
        )
