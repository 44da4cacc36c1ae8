"""What a report reads, in bounded pieces: the room, its members, status changes, and the
timeline, incident data, files, edits and deletions in keyset pages.

Every reader here yields rows page by page (`PAGE` at a time, each page its own short read),
so a room of any size is read without holding it whole, and no connection stays checked out
while the caller renders.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import msgspec
from sqlalchemy import text

from api.domain.audit import ChainReport, verify_chain
from api.domain.auth.access import access_room, parse_uuid
from api.domain.auth.sessions import AuthUser
from api.domain.core.db import Database
from api.domain.core.errors import NotFound

PAGE = 500


@dataclass(frozen=True, slots=True)
class Reader:
    """Who the report is for. `private`: may see deleted content and edit history (OWNER, admin)."""

    user_id: str | None
    display_name: str
    role: str
    private: bool


@dataclass(frozen=True, slots=True)
class RoomHead:
    room_id: uuid.UUID
    title: str
    description: str
    status: str
    created_by: str
    created_by_name: str
    created_at: datetime
    last_seq: int
    message_count: int
    first_message_at: datetime | None
    last_message_at: datetime | None
    resolved_at: datetime | None


def decode_json(value: Any) -> Any:
    if isinstance(value, str | bytes):
        return msgspec.json.decode(value)
    return value


async def reader_for(db: Database, room_id: object, user: AuthUser | None) -> tuple[uuid.UUID, Reader]:
    """The room id and the reader; raises NotFound / Forbidden as the other room endpoints do.

    `user=None` is the operator at the command line: the whole record, as a system admin sees it.
    """
    rid = parse_uuid(room_id, "room_id")
    async with db.read() as conn:
        if user is None:
            exists = await conn.scalar(
                text("SELECT EXISTS (SELECT 1 FROM incident_rooms WHERE room_id = :r)"), {"r": rid}
            )
            if not exists:
                raise NotFound("no such room")
            return rid, Reader(None, "operator (command line)", "OWNER", True)
        access = await access_room(conn, rid, user)
        name = await conn.scalar(
            text("SELECT display_name FROM tr_users WHERE user_id = :u"), {"u": user.user_id}
        )
    return rid, Reader(user.user_id, str(name or user.user_id), access.role, access.is_owner)


async def user_by_id(db: Database, user_id: str) -> AuthUser | None:
    """A user as the report sees them when written for them from the command line (`--as`)."""
    async with db.read() as conn:
        row = (
            await conn.execute(
                text("SELECT user_id, display_name, is_admin FROM tr_users WHERE user_id = :u"),
                {"u": user_id},
            )
        ).first()
    if row is None:
        return None
    return AuthUser(
        user_id=row.user_id,
        display_name=row.display_name,
        is_admin=bool(row.is_admin),
        token_hash=b"",
        expires_at=datetime.now(UTC),
    )


_HEAD = text(
    """
    SELECT r.room_id, r.title, r.description, r.status, r.created_by, r.created_at, r.last_seq,
           COALESCE(u.display_name, r.created_by) AS created_by_name,
           (SELECT count(*) FROM messages m WHERE m.room_id = r.room_id) AS message_count,
           -- The incident starts with the first message someone wrote (system events of setting
           -- the room up, such as members added, come before it), or the first event of all.
           (SELECT COALESCE(min(created_at) FILTER (WHERE m.message_type <> 'system'), min(created_at))
              FROM messages m WHERE m.room_id = r.room_id) AS first_at,
           (SELECT max(created_at) FROM messages m WHERE m.room_id = r.room_id) AS last_at,
           (SELECT max(created_at) FROM messages m
             WHERE m.room_id = r.room_id AND m.message_type = 'system'
               AND m.data->>'event' = 'room_status_changed' AND m.data->>'new_status' = 'resolved') AS resolved_at
    FROM incident_rooms r LEFT JOIN tr_users u ON u.user_id = r.created_by
    WHERE r.room_id = :r
    """
)


async def room_head(db: Database, room_id: uuid.UUID) -> RoomHead:
    async with db.read() as conn:
        row = (await conn.execute(_HEAD, {"r": room_id})).first()
    if row is None:
        raise NotFound("no such room")
    return RoomHead(
        room_id=row.room_id,
        title=row.title,
        description=row.description or "",
        status=row.status,
        created_by=row.created_by,
        created_by_name=row.created_by_name,
        created_at=row.created_at,
        last_seq=int(row.last_seq),
        message_count=int(row.message_count),
        first_message_at=row.first_at,
        last_message_at=row.last_at,
        resolved_at=row.resolved_at,
    )


async def _paged(db: Database, sql: str, params: dict[str, Any], key: str) -> AsyncIterator[Any]:
    """Rows of `sql` (which filters `key > :after`, orders by it and LIMITs :n), page by page."""
    after: Any = params.pop("after")
    while True:
        async with db.read() as conn:
            rows = (await conn.execute(text(sql), {**params, "after": after, "n": PAGE})).all()
        for row in rows:
            yield row
        if len(rows) < PAGE:
            return
        after = getattr(rows[-1], key)


_MEMBERS = """
    SELECT m.user_id, COALESCE(u.display_name, m.user_id) AS display_name, m.role, m.joined_at,
           (SELECT count(*) FROM messages x WHERE x.room_id = m.room_id AND x.sender_id = m.user_id
              AND x.message_type <> 'system') AS messages
    FROM room_members m LEFT JOIN tr_users u ON u.user_id = m.user_id
    WHERE m.room_id = :r AND m.user_id > :after ORDER BY m.user_id LIMIT :n
"""


def members(db: Database, room_id: uuid.UUID) -> AsyncIterator[Any]:
    """The room's members now, with role, join time and how many messages each sent."""
    return _paged(db, _MEMBERS, {"r": room_id, "after": ""}, "user_id")


_EVENTS = """
    SELECT m.sequence_number, m.created_at, m.data, m.sender_id,
           COALESCE(u.display_name, m.sender_id) AS actor_name,
           COALESCE(t.display_name, m.data->>'user_id') AS target_name
    FROM messages m
    LEFT JOIN tr_users u ON u.user_id = m.sender_id
    LEFT JOIN tr_users t ON t.user_id = m.data->>'user_id'
    WHERE m.room_id = :r AND m.message_type = 'system' AND m.data->>'event' = ANY(CAST(:events AS text[]))
      AND m.sequence_number > :after
    ORDER BY m.sequence_number LIMIT :n
"""


def system_events(db: Database, room_id: uuid.UUID, events: list[str]) -> AsyncIterator[Any]:
    """System events of the given kinds (status changes, role changes, …) in sequence order."""
    return _paged(db, _EVENTS, {"r": room_id, "events": events, "after": 0}, "sequence_number")


_TIMELINE = """
    SELECT m.message_id, m.sequence_number, m.sender_id, COALESCE(u.display_name, m.sender_id) AS sender_name,
           m.message_type, m.content, m.data, m.mentions, m.file_id, m.file_url, m.created_at, m.edited_at,
           m.deleted_at, m.deleted_by, COALESCE(d.display_name, m.deleted_by) AS deleted_by_name,
           f.filename, f.content_type, f.size, f.storage_key,
           (SELECT jsonb_object_agg(x.user_id, COALESCE(x.display_name, x.user_id))
              FROM (SELECT mu.user_id, mu.display_name FROM tr_users mu
                    WHERE mu.user_id = ANY(m.mentions)) x) AS mention_names,
           (SELECT count(*) FROM message_edits e WHERE e.message_id = m.message_id) AS edit_count,
           CASE WHEN m.message_type = 'system' THEN COALESCE(t.display_name, m.data->>'user_id') END AS target_name
    FROM messages m
    LEFT JOIN tr_users u ON u.user_id = m.sender_id
    LEFT JOIN tr_users d ON d.user_id = m.deleted_by
    LEFT JOIN tr_users t ON m.message_type = 'system' AND t.user_id = m.data->>'user_id'
    LEFT JOIN uploaded_files f ON f.file_id = m.file_id AND f.room_id = m.room_id
    WHERE m.room_id = :r AND m.sequence_number > :after AND m.sequence_number <= :upto {extra}
    ORDER BY m.sequence_number LIMIT :n
"""


def timeline(
    db: Database, room_id: uuid.UUID, up_to: int, *, types: list[str] | None = None
) -> AsyncIterator[Any]:
    """Every message up to sequence `up_to` (the number read at the start), oldest first."""
    extra = "AND m.message_type = ANY(CAST(:t AS text[]))" if types else ""
    params: dict[str, Any] = {"r": room_id, "upto": up_to, "after": 0}
    if types:
        params["t"] = types
    return _paged(db, _TIMELINE.format(extra=extra), params, "sequence_number")


_EDITS = """
    SELECT e.edit_id, e.message_id, m.sequence_number, m.message_type, e.content, e.data, e.version_at,
           e.version_by, COALESCE(u.display_name, e.version_by) AS version_by_name, e.replaced_at,
           m.sender_id, COALESCE(s.display_name, m.sender_id) AS sender_name,
           CASE WHEN nx.found THEN nx.content ELSE m.content END AS next_content,
           CASE WHEN nx.found THEN nx.data ELSE m.data END AS next_data
    FROM message_edits e JOIN messages m ON m.message_id = e.message_id
    LEFT JOIN tr_users u ON u.user_id = e.version_by
    LEFT JOIN tr_users s ON s.user_id = m.sender_id
    LEFT JOIN LATERAL (
        SELECT true AS found, n.content, n.data FROM message_edits n
        WHERE n.message_id = e.message_id AND n.edit_id > e.edit_id ORDER BY n.edit_id LIMIT 1
    ) nx ON true
    WHERE e.room_id = :r AND e.edit_id > :after
    ORDER BY e.edit_id LIMIT :n
"""


def edits(db: Database, room_id: uuid.UUID) -> AsyncIterator[Any]:
    """Each replaced version of every edited message (earliest edit first)."""
    return _paged(db, _EDITS, {"r": room_id, "after": 0}, "edit_id")


_DELETIONS = """
    SELECT m.message_id, m.sequence_number, m.message_type, m.content, m.data, m.created_at, m.deleted_at,
           m.deleted_by, COALESCE(d.display_name, m.deleted_by) AS deleted_by_name, m.sender_id,
           COALESCE(s.display_name, m.sender_id) AS sender_name, f.filename
    FROM messages m
    LEFT JOIN tr_users d ON d.user_id = m.deleted_by
    LEFT JOIN tr_users s ON s.user_id = m.sender_id
    LEFT JOIN uploaded_files f ON f.file_id = m.file_id
    WHERE m.room_id = :r AND m.deleted_at IS NOT NULL AND m.sequence_number > :after
    ORDER BY m.sequence_number LIMIT :n
"""


def deletions(db: Database, room_id: uuid.UUID) -> AsyncIterator[Any]:
    return _paged(db, _DELETIONS, {"r": room_id, "after": 0}, "sequence_number")


async def audit_result(db: Database, room_id: uuid.UUID) -> ChainReport:
    """What `andon audit verify` says of the room right now."""
    async with db.read() as conn:
        return await verify_chain(conn, room_id)
