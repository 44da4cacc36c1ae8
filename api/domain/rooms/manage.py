"""Rooms: creating, updating and listing them, and read markers."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import text

from api.domain.auth.access import RoomAccess, access_owned_room, access_room, parse_uuid
from api.domain.auth.sessions import AuthUser
from api.domain.core.db import UnitOfWork
from api.domain.core.errors import Invalid
from api.domain.core.models import ROOM_STATUSES
from api.domain.core.services import Services
from api.domain.core.timefmt import iso
from api.domain.rooms.summaries import COUNT_COLUMNS, PREVIEW_COLUMNS, PREVIEW_JOIN, preview_from_row
from api.domain.rooms.system_posts import post_system, tell_user_after_commit

MAX_TITLE = 200
MAX_DESCRIPTION = 10_000


def check_title(value: object) -> str:
    if not isinstance(value, str) or not value.strip():
        raise Invalid("title must be a non-empty string")
    value = value.strip()
    if len(value) > MAX_TITLE:
        raise Invalid(f"title must be at most {MAX_TITLE} characters")
    return value


def check_description(value: object) -> str:
    if value is None:
        return ""
    if not isinstance(value, str):
        raise Invalid("description must be a string")
    if len(value) > MAX_DESCRIPTION:
        raise Invalid(f"description must be at most {MAX_DESCRIPTION} characters")
    return value


def room_object(row: Any, role: str | None, unread: int = 0) -> dict[str, Any]:
    r = row._mapping if hasattr(row, "_mapping") else row
    return {
        "room_id": str(r["room_id"]),
        "title": r["title"],
        "description": r["description"],
        "status": r["status"],
        "role": role,
        "created_by": r["created_by"],
        "created_at": iso(r["created_at"]),
        "last_message_at": iso(r["last_message_at"]),
        "last_sequence_number": int(r["last_seq"]),
        "unread_count": unread,
    }


_LIST = text(
    f"""
    SELECT r.room_id, r.title, r.description, r.status, r.created_by, r.created_at, r.last_seq,
           r.last_message_at, m.role, {COUNT_COLUMNS}, {PREVIEW_COLUMNS}
    FROM room_members m JOIN incident_rooms r ON r.room_id = m.room_id
    CROSS JOIN LATERAL (SELECT r.last_seq AS upto) p
    {PREVIEW_JOIN}
    WHERE m.user_id = :u
    ORDER BY COALESCE(pv.created_at, r.last_message_at, r.created_at) DESC
    """
)


async def list_rooms(services: Services, user: AuthUser) -> list[dict[str, Any]]:
    """The caller's rooms with role, unread counts and newest message, most recently active first."""
    async with services.db.read() as conn:
        rows = (await conn.execute(_LIST, {"u": user.user_id})).all()
    out = []
    for r in rows:
        room = room_object(r, "OWNER" if user.is_admin else r.role, int(r.unread))
        room["unread_mentions"] = int(r.unread_mentions)
        room["preview"] = preview_from_row(r)
        out.append(room)
    return out


async def _unread(services: Services, access: RoomAccess, user: AuthUser) -> int:
    async with services.db.read() as conn:
        row = (
            await conn.execute(
                text(
                    "SELECT count(*) AS n FROM messages x WHERE x.room_id = :r AND x.sequence_number > :s "
                    "AND x.deleted_at IS NULL AND (x.sender_id <> :u OR x.message_type = 'system')"
                ),
                {"r": access.room["room_id"], "s": access.room.get("last_read_seq") or 0, "u": user.user_id},
            )
        ).first()
    return int(row.n) if row else 0


async def get_room(services: Services, user: AuthUser, room_id: object) -> dict[str, Any]:
    async with services.db.read() as conn:
        access = await access_room(conn, room_id, user)
    unread = await _unread(services, access, user) if access.is_member else 0
    return room_object(access.room, access.role, unread)


async def insert_room(
    uow: UnitOfWork, room_id: uuid.UUID, title: str, description: str, created_by: str
) -> Any:
    """Insert a room row (checked title and description); the caller adds its members."""
    return (
        await uow.conn.execute(
            text(
                "INSERT INTO incident_rooms (room_id, title, description, created_by) VALUES (:r, :t, :d, :u) "
                "RETURNING room_id, title, description, status, created_by, created_at, last_seq, last_message_at"
            ),
            {"r": room_id, "t": title, "d": description, "u": created_by},
        )
    ).one()


async def do_create_room(
    services: Services, user: AuthUser, title: object, description: object
) -> dict[str, Any]:
    """Create a room; the caller becomes its OWNER."""
    clean_title = check_title(title)
    clean_description = check_description(description)
    room_id = uuid.uuid4()
    async with services.db.transaction() as uow:
        row = await insert_room(uow, room_id, clean_title, clean_description, user.user_id)
        await uow.conn.execute(
            text("INSERT INTO room_members (room_id, user_id, role) VALUES (:r, :u, 'OWNER')"),
            {"r": room_id, "u": user.user_id},
        )
        tell_user_after_commit(uow, services, user.user_id, "rooms", room_id)
    return room_object(row, "OWNER")


async def lock_owned_room(uow: UnitOfWork, room_id: object, user: AuthUser) -> tuple[uuid.UUID, str]:
    """Check OWNER rights, then lock the room row: changes to the room and its members serialise.

    The room's id, and its status as read under the lock.
    """
    rid: uuid.UUID = (await access_owned_room(uow.conn, room_id, user)).room["room_id"]
    locked = (
        await uow.conn.execute(
            text("SELECT status FROM incident_rooms WHERE room_id = :r FOR UPDATE"), {"r": rid}
        )
    ).first()
    assert locked is not None
    return rid, str(locked.status)


async def do_update_room(
    services: Services, user: AuthUser, room_id: object, changes: dict[str, Any]
) -> dict[str, Any]:
    """Change title, description or status (OWNER/admin); a status change posts a system message."""
    allowed = {"title", "description", "status"}
    unknown = set(changes) - allowed
    if unknown:
        raise Invalid(f"unknown fields: {', '.join(sorted(unknown))}")
    updates: dict[str, Any] = {}
    if "title" in changes:
        updates["title"] = check_title(changes["title"])
    if "description" in changes:
        updates["description"] = check_description(changes["description"])
    new_status = changes.get("status")
    if "status" in changes and (not isinstance(new_status, str) or new_status not in ROOM_STATUSES):
        raise Invalid("status must be active, resolved or archived")
    async with services.db.transaction() as uow:
        # The status check and the system message see one state.
        rid, old_status = await lock_owned_room(uow, room_id, user)
        if new_status is not None and new_status != old_status:
            updates["status"] = new_status
        if updates:
            sets = ", ".join(f"{k} = :{k}" for k in updates)
            await uow.conn.execute(
                text(f"UPDATE incident_rooms SET {sets}, updated_at = now() WHERE room_id = :r"),
                {"r": rid, **updates},
            )
        if "status" in updates:
            await post_status_changed(uow, services, rid, user.user_id, old_status, updates["status"])
    return await get_room(services, user, room_id)


async def post_status_changed(
    uow: UnitOfWork, services: Services, room_id: uuid.UUID, actor_id: str, old_status: str, new_status: str
) -> None:
    """Post the `room_status_changed` system message of a status change made in `uow`."""
    await post_system(
        uow,
        services,
        room_id,
        actor_id,
        {
            "event": "room_status_changed",
            "user_id": actor_id,
            "actor_id": actor_id,
            "old_status": old_status,
            "new_status": new_status,
        },
    )


async def do_set_status_locked(
    uow: UnitOfWork, services: Services, room_id: uuid.UUID, actor_id: str, new_status: str
) -> bool:
    """Set a room's status in `uow` (row locked) and post the change; False when it already had it."""
    locked = (
        await uow.conn.execute(
            text("SELECT status FROM incident_rooms WHERE room_id = :r FOR UPDATE"), {"r": room_id}
        )
    ).first()
    if locked is None or locked.status == new_status:
        return False
    await uow.conn.execute(
        text("UPDATE incident_rooms SET status = :s, updated_at = now() WHERE room_id = :r"),
        {"r": room_id, "s": new_status},
    )
    await post_status_changed(uow, services, room_id, actor_id, locked.status, new_status)
    return True


async def do_mark_read(services: Services, user: AuthUser, room_id: object, sequence_number: object) -> None:
    """Move the caller's read marker forward (never backwards)."""
    if isinstance(sequence_number, bool) or not isinstance(sequence_number, int) or sequence_number < 0:
        raise Invalid("sequence_number must be a non-negative integer")
    if sequence_number >= 2**63:
        raise Invalid("sequence_number is out of range", code="unprocessable")
    rid = parse_uuid(room_id, "room_id")
    async with services.db.transaction() as uow:
        access = await access_room(uow.conn, rid, user)
        if not access.is_member:
            return
        await uow.conn.execute(
            text(
                "UPDATE room_members SET last_read_seq = GREATEST(last_read_seq, LEAST(:s, "
                "(SELECT last_seq FROM incident_rooms WHERE room_id = :r))) WHERE room_id = :r AND user_id = :u"
            ),
            {"r": rid, "u": user.user_id, "s": sequence_number},
        )
        tell_user_after_commit(uow, services, user.user_id, "read", rid)
