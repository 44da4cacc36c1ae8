"""Members of a room and their roles: listing, adding, changing, removing (OWNER or admin)."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import text

from api.domain.auth.access import access_owned_room, access_room
from api.domain.auth.credentials import normalise_email
from api.domain.auth.sessions import AuthUser
from api.domain.core.db import UnitOfWork
from api.domain.core.errors import Conflict, Invalid, NotFound
from api.domain.core.models import ROLES
from api.domain.core.services import Services
from api.domain.core.timefmt import iso
from api.domain.rooms.manage import lock_owned_room
from api.domain.rooms.system_posts import post_system, tell_user_after_commit


def check_role(value: object) -> str:
    if not isinstance(value, str) or value.upper() not in ROLES:
        raise Invalid("role must be OWNER, EDITOR or VIEWER")
    return value.upper()


_MEMBERS = text(
    """
    SELECT m.user_id, COALESCE(u.display_name, m.user_id) AS display_name, COALESCE(u.is_bot, false) AS is_bot,
           m.role, m.joined_at
    FROM room_members m LEFT JOIN tr_users u ON u.user_id = m.user_id
    WHERE m.room_id = :r ORDER BY m.joined_at, m.user_id
    """
)


async def list_members(
    services: Services, user: AuthUser, room_id: object
) -> tuple[str, list[dict[str, Any]]]:
    async with services.db.read() as conn:
        access = await access_room(conn, room_id, user)
        rows = (await conn.execute(_MEMBERS, {"r": access.room["room_id"]})).all()
    return access.room_id, [
        {
            "user_id": r.user_id,
            "display_name": r.display_name,
            "is_bot": r.is_bot,
            "role": r.role,
            "joined_at": iso(r.joined_at),
        }
        for r in rows
    ]


async def _owner_count(uow: UnitOfWork, room_id: uuid.UUID) -> int:
    row = (
        await uow.conn.execute(
            text("SELECT count(*) AS n FROM room_members WHERE room_id = :r AND role = 'OWNER'"),
            {"r": room_id},
        )
    ).first()
    return int(row.n) if row else 0


async def _display_name(uow: UnitOfWork, user_id: str) -> str | None:
    """The user's display name; None when there is no such user."""
    row = (
        await uow.conn.execute(text("SELECT display_name FROM tr_users WHERE user_id = :u"), {"u": user_id})
    ).first()
    return None if row is None else row.display_name


async def _locked_member(
    uow: UnitOfWork, user: AuthUser, room_id: object, target: str
) -> tuple[uuid.UUID, Any]:
    """Check OWNER rights, lock the room row (membership changes serialise), load the member."""
    rid, _status = await lock_owned_room(uow, room_id, user)
    current = (
        await uow.conn.execute(
            text("SELECT role FROM room_members WHERE room_id = :r AND user_id = :u"), {"r": rid, "u": target}
        )
    ).first()
    if current is None:
        raise NotFound("not a member of this room")
    return rid, current


async def do_add_member(
    services: Services, user: AuthUser, room_id: object, member_id: object, role: object
) -> dict[str, Any]:
    """Add a member (OWNER/admin); posts `member_added`."""
    target = normalise_email(member_id)
    clean_role = check_role(role)
    async with services.db.transaction() as uow:
        rid = (await access_owned_room(uow.conn, room_id, user)).room["room_id"]
        display_name = await _display_name(uow, target)
        if display_name is None:
            raise NotFound("no such user")
        inserted = (
            await uow.conn.execute(
                text(
                    # The read marker starts where the membership does: history from before it
                    # is there to read, not unread (the member_added event itself is).
                    "INSERT INTO room_members (room_id, user_id, role, last_read_seq) "
                    "SELECT :r, :u, :role, last_seq FROM incident_rooms WHERE room_id = :r "
                    "ON CONFLICT DO NOTHING RETURNING joined_at"
                ),
                {"r": rid, "u": target, "role": clean_role},
            )
        ).first()
        if inserted is None:
            raise Conflict("already a member of this room")
        added = await post_system(
            uow,
            services,
            rid,
            user.user_id,
            {"event": "member_added", "user_id": target, "actor_id": user.user_id, "role": clean_role},
        )
        tell_user_after_commit(uow, services, target, "rooms", rid, added.sequence_number)
    return {
        "user_id": target,
        "display_name": display_name,
        "role": clean_role,
        "joined_at": iso(inserted.joined_at),
    }


async def do_change_role(
    services: Services, user: AuthUser, room_id: object, member_id: object, role: object
) -> dict[str, Any]:
    """Change a member's role (OWNER/admin); posts `member_role_changed`."""
    target = normalise_email(member_id)
    clean_role = check_role(role)
    async with services.db.transaction() as uow:
        rid, current = await _locked_member(uow, user, room_id, target)
        if current.role == "OWNER" and clean_role != "OWNER" and await _owner_count(uow, rid) <= 1:
            raise Conflict("a room needs at least one OWNER")
        if current.role != clean_role:
            await uow.conn.execute(
                text("UPDATE room_members SET role = :role WHERE room_id = :r AND user_id = :u"),
                {"r": rid, "u": target, "role": clean_role},
            )
            await post_system(
                uow,
                services,
                rid,
                user.user_id,
                {
                    "event": "member_role_changed",
                    "user_id": target,
                    "actor_id": user.user_id,
                    "role": clean_role,
                },
                control={"role": [target, clean_role]},
            )
        name = await _display_name(uow, target)
    return {"user_id": target, "display_name": name or target, "role": clean_role}


async def do_remove_member(services: Services, user: AuthUser, room_id: object, member_id: object) -> None:
    """Remove a member (OWNER/admin); posts `member_removed` and closes their sockets (4403)."""
    target = normalise_email(member_id)
    async with services.db.transaction() as uow:
        rid, current = await _locked_member(uow, user, room_id, target)
        if current.role == "OWNER" and await _owner_count(uow, rid) <= 1:
            raise Conflict("a room needs at least one OWNER")
        await uow.conn.execute(
            text("DELETE FROM room_members WHERE room_id = :r AND user_id = :u"), {"r": rid, "u": target}
        )
        await post_system(
            uow,
            services,
            rid,
            user.user_id,
            {"event": "member_removed", "user_id": target, "actor_id": user.user_id},
            control={"kick": target},
        )
