"""Editing, deleting and reacting to messages.

Each operation checks and changes the row in one short transaction (the row locked), keeps
the audit trail in that same transaction, and broadcasts after commit. Broadcasts carry the
message's sequence number, so no receiver sees an edit before the message it edits.
"""

from __future__ import annotations

import unicodedata
import uuid
from typing import Any

import msgspec
import regex
from sqlalchemy import text

from api.domain import outbox
from api.domain.auth.access import access_room, parse_uuid
from api.domain.auth.sessions import AuthUser
from api.domain.core.db import UnitOfWork
from api.domain.core.errors import EditWindowExpired, Forbidden, Invalid, NotFound
from api.domain.core.services import Services
from api.domain.core.timefmt import iso
from api.domain.events import Message, deleted_frame, edited_frame_bytes, encode, reaction_frame
from api.domain.messages.read import load_message
from api.domain.messages.validate import check_data, check_text, check_units

_GRAPHEME = regex.compile(r"\X")
MAX_EMOJI_BYTES = 32


def _is_emoji_codepoint(cp: int) -> bool:
    return (
        0x1F000 <= cp <= 0x1FAFF
        or 0x2600 <= cp <= 0x27BF
        or 0x2300 <= cp <= 0x23FF
        or 0x2B00 <= cp <= 0x2BFF
        or 0x2190 <= cp <= 0x21FF
        or cp in (0x00A9, 0x00AE, 0x203C, 0x2049, 0x2122, 0x2139, 0x3030, 0x303D, 0x3297, 0x3299, 0x20E3)
    )


def check_emoji(value: object) -> str:
    """One grapheme cluster containing an emoji code point, at most 32 bytes of UTF-8."""
    if not isinstance(value, str) or not value:
        raise Invalid("emoji must be a non-empty string")
    if len(value.encode("utf-8")) > MAX_EMOJI_BYTES:
        raise Invalid("emoji must be at most 32 bytes")
    if len(_GRAPHEME.findall(value)) != 1:
        raise Invalid("emoji must be a single emoji")
    if not any(_is_emoji_codepoint(ord(ch)) for ch in value):
        raise Invalid("emoji must be an emoji")
    if any(unicodedata.category(ch) in ("Cc", "Zs", "Zl", "Zp") for ch in value):
        raise Invalid("emoji must be an emoji")
    return value


def check_new_content(message_type: str, content: object) -> tuple[str | None, Any]:
    """New content for an edit, validated like a new message of the same type."""
    if message_type == "incident_data":
        data = check_data(content)
        check_units(data)
        return None, data
    return check_text(content, message_type), None


_LOCK_MESSAGE = text(
    """
    SELECT m.message_id, m.room_id, m.sender_id, m.message_type, m.content, m.data, m.created_at, m.edited_at,
           m.deleted_at, m.sequence_number, r.status,
           clock_timestamp() - m.created_at > make_interval(secs => :w) AS expired
    FROM messages m JOIN incident_rooms r ON r.room_id = m.room_id
    WHERE m.room_id = :r AND m.message_id = :id
    FOR UPDATE OF m
    """
)


async def _lock(uow: UnitOfWork, room_id: uuid.UUID, message_id: object, window: int = 0) -> Any:
    mid = parse_uuid(message_id, "message_id")
    row = (await uow.conn.execute(_LOCK_MESSAGE, {"r": room_id, "id": mid, "w": window})).first()
    if row is None:
        raise NotFound("no such message in this room")
    return row


def _broadcast_after_commit(
    uow: UnitOfWork, services: Services, room_id: str, frame: bytes, seq: int, *, changed: bool = False
) -> None:
    """Publish an unsequenced frame once committed; receivers hold it until `seq` is delivered.

    `changed`: the message's content changed (edit, delete), so room lists re-read their preview.
    """

    async def publish() -> None:
        await services.bus.publish_ephemeral(
            room_id, frame, after_seq=seq, control={"changed": 1} if changed else None
        )

    uow.after_commit(publish)


async def _role(uow: UnitOfWork, room_id: uuid.UUID, user: AuthUser) -> str | None:
    if user.is_admin:
        return "OWNER"
    row = (
        await uow.conn.execute(
            text("SELECT role FROM room_members WHERE room_id = :r AND user_id = :u"),
            {"r": room_id, "u": user.user_id},
        )
    ).first()
    return row.role if row else None


async def _store_edit(uow: UnitOfWork, rid: uuid.UUID, row: Any, new_content: Any, new_data: Any) -> None:
    """Keep the version being replaced in `message_edits`, then write the new one."""
    await uow.conn.execute(
        text(
            "INSERT INTO message_edits (message_id, room_id, content, data, version_at, version_by) "
            "VALUES (:id, :r, :c, CAST(:d AS jsonb), :at, :by)"
        ),
        {
            "id": row.message_id,
            "r": rid,
            "c": row.content,
            "d": None
            if row.data is None
            else (row.data if isinstance(row.data, str) else encode(row.data).decode()),
            "at": row.edited_at or row.created_at,
            "by": row.sender_id,
        },
    )
    await uow.conn.execute(
        text(
            "UPDATE messages SET content = :c, data = CAST(:d AS jsonb), edited_at = clock_timestamp(), "
            "updated_at = clock_timestamp() WHERE message_id = :id"
        ),
        {
            "c": new_content,
            "d": None if new_data is None else encode(new_data).decode(),
            "id": row.message_id,
        },
    )


async def _changed(uow: UnitOfWork, services: Services, kind: str, row: Any, user: AuthUser) -> Message:
    """After an edit or a deletion of the locked `row`: its outbox row (the audit trail, search),
    relayed after commit, and the message as it now stands."""
    payload = {"room_id": str(row.room_id), "message_id": str(row.message_id), "actor_id": user.user_id}
    await outbox.add_and_kick(uow, services.outbox_kick, kind, payload)
    message = await load_message(uow.conn, row.room_id, row.message_id)
    assert message is not None
    return message


async def do_edit_message(
    services: Services, user: AuthUser, room_id: str, message_id: object, content: object
) -> Message:
    """Edit one's own message within the window (database clock); the replaced version is kept."""
    rid = uuid.UUID(room_id)
    async with services.db.transaction() as uow:
        row = await _lock(uow, rid, message_id, services.settings.edit_window_seconds)
        if await _role(uow, rid, user) is None:
            raise Forbidden("you are not a member of this room")
        if row.status == "archived":
            raise Forbidden("the room is archived (read-only)")
        if row.message_type == "system":
            raise Forbidden("system messages cannot be edited")
        if row.deleted_at is not None:
            raise Forbidden("the message is deleted")
        if row.sender_id != user.user_id:
            raise Forbidden("only the sender may edit a message")
        if row.expired:
            raise EditWindowExpired("the edit window has passed")
        new_content, new_data = check_new_content(row.message_type, content)
        await _store_edit(uow, rid, row, new_content, new_data)
        message = await _changed(uow, services, outbox.MESSAGE_EDITED, row, user)
        frame = edited_frame_bytes(message)
        _broadcast_after_commit(uow, services, room_id, frame, int(row.sequence_number), changed=True)
    return message


async def do_delete_message(services: Services, user: AuthUser, room_id: str, message_id: object) -> Message:
    """Soft-delete: by the sender, the room's OWNER or an admin; the content stays for audit only."""
    rid = uuid.UUID(room_id)
    async with services.db.transaction() as uow:
        row = await _lock(uow, rid, message_id)
        role = await _role(uow, rid, user)
        if role is None:
            raise Forbidden("you are not a member of this room")
        if row.status == "archived":
            raise Forbidden("the room is archived (read-only)")
        if row.message_type == "system":
            raise Forbidden("system messages cannot be deleted")
        if row.deleted_at is not None:
            raise Forbidden("the message is already deleted")
        if row.sender_id != user.user_id and role != "OWNER":
            raise Forbidden("only the sender, the room's OWNER or an admin may delete a message")
        await uow.conn.execute(
            text(
                "UPDATE messages SET deleted_at = clock_timestamp(), deleted_by = :u, updated_at = clock_timestamp() "
                "WHERE message_id = :id"
            ),
            {"u": user.user_id, "id": row.message_id},
        )
        # Read back like an edit, so the live frame is the one a replay builds from the same row.
        message = await _changed(uow, services, outbox.MESSAGE_DELETED, row, user)
        frame = deleted_frame(message, user.user_id)
        _broadcast_after_commit(uow, services, room_id, frame, int(row.sequence_number), changed=True)
    return message


_COUNTS = text(
    """
    SELECT COALESCE(jsonb_object_agg(x.emoji, x.n ORDER BY x.first_at), '{}'::jsonb)::text AS reactions
    FROM (SELECT emoji, count(*) AS n, min(created_at) AS first_at FROM message_reactions
          WHERE message_id = :id GROUP BY emoji) x
    """
)


async def do_react(
    services: Services, user: AuthUser, room_id: str, message_id: object, emoji: object, add: bool
) -> bool:
    """Add or remove a reaction; False (and no broadcast) when nothing changed."""
    clean = check_emoji(emoji)
    rid = uuid.UUID(room_id)
    async with services.db.transaction() as uow:
        row = await _lock(uow, rid, message_id)
        if await _role(uow, rid, user) is None:
            raise Forbidden("you are not a member of this room")
        if row.status == "archived":
            raise Forbidden("the room is archived (read-only)")
        if row.deleted_at is not None:
            raise Forbidden("the message is deleted")
        if add:
            changed = (
                await uow.conn.execute(
                    text(
                        "INSERT INTO message_reactions (message_id, user_id, emoji) VALUES (:id, :u, :e) "
                        "ON CONFLICT DO NOTHING RETURNING 1"
                    ),
                    {"id": row.message_id, "u": user.user_id, "e": clean},
                )
            ).first()
        else:
            changed = (
                await uow.conn.execute(
                    text(
                        "DELETE FROM message_reactions WHERE message_id = :id AND user_id = :u AND emoji = :e RETURNING 1"
                    ),
                    {"id": row.message_id, "u": user.user_id, "e": clean},
                )
            ).first()
        if changed is None:
            return False
        await uow.conn.execute(
            text(
                "UPDATE messages SET updated_at = clock_timestamp(), reactions_at = clock_timestamp() WHERE message_id = :id"
            ),
            {"id": row.message_id},
        )
        counts_row = (await uow.conn.execute(_COUNTS, {"id": row.message_id})).first()
        counts = msgspec.json.decode(counts_row.reactions) if counts_row else {}
        frame = reaction_frame(str(row.message_id), counts, added=add, emoji=clean, user_id=user.user_id)
        _broadcast_after_commit(uow, services, room_id, frame, int(row.sequence_number))
    return True


async def message_history(
    services: Services, user: AuthUser, room_id: object, message_id: object
) -> dict[str, Any]:
    """Every version of a message, original first (sender, OWNER, admin).

    Checks the caller's access to the room itself, in the same read as the message.
    """
    mid = parse_uuid(message_id, "message_id")
    async with services.db.read() as conn:
        access = await access_room(conn, room_id, user)
        row = (
            await conn.execute(
                text(
                    "SELECT sender_id, message_type, content, data, created_at, edited_at, deleted_at "
                    "FROM messages WHERE room_id = :r AND message_id = :id"
                ),
                {"r": access.room["room_id"], "id": mid},
            )
        ).first()
        if row is None:
            raise NotFound("no such message in this room")
        if row.sender_id != user.user_id and not access.is_owner:
            raise Forbidden("only the sender, the room's OWNER or an admin may read the edit history")
        edits = (
            await conn.execute(
                text(
                    "SELECT content, data, version_at, version_by FROM message_edits WHERE message_id = :id ORDER BY edit_id"
                ),
                {"id": mid},
            )
        ).all()

    def content_of(c: Any, d: Any) -> Any:
        if row.message_type in ("incident_data", "system"):
            return msgspec.json.decode(d) if isinstance(d, str) else d
        return c

    versions = [
        {"content": content_of(e.content, e.data), "at": iso(e.version_at), "by": e.version_by} for e in edits
    ]
    versions.append(
        {
            "content": content_of(row.content, row.data),
            "at": iso(row.edited_at or row.created_at),
            "by": row.sender_id,
        }
    )
    return {"versions": versions, "deleted_at": iso(row.deleted_at)}
