"""Loading rooms and messages with a permission check (`access_*`)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from api.domain.auth.sessions import AuthUser
from api.domain.core.errors import Forbidden, Invalid, NotFound

WRITE_ROLES = frozenset({"OWNER", "EDITOR"})


def parse_uuid(value: object, what: str = "id") -> uuid.UUID:
    """A UUID from client input; Invalid otherwise."""
    if isinstance(value, uuid.UUID):
        return value
    if not isinstance(value, str):
        raise Invalid(f"{what} must be a UUID string")
    try:
        return uuid.UUID(value)
    except ValueError as exc:
        raise Invalid(f"{what} is not a valid UUID") from exc


@dataclass(frozen=True, slots=True)
class RoomAccess:
    """A room as seen by one user: its row and the user's effective role."""

    room: dict[str, Any]
    role: str
    is_member: bool

    @property
    def room_id(self) -> str:
        return str(self.room["room_id"])

    @property
    def can_write(self) -> bool:
        return self.role in WRITE_ROLES

    @property
    def is_owner(self) -> bool:
        return self.role == "OWNER"


_ROOM_WITH_ROLE = text(
    """
    SELECT r.room_id, r.title, r.description, r.status, r.created_by, r.created_at, r.updated_at,
           r.last_seq, r.last_message_at, m.role, m.last_read_seq
    FROM incident_rooms r
    LEFT JOIN room_members m ON m.room_id = r.room_id AND m.user_id = :u
    WHERE r.room_id = :r
    """
)


async def access_room(conn: AsyncConnection, room_id: object, user: AuthUser) -> RoomAccess:
    """The room if it exists and the user may read it (member or system admin)."""
    rid = parse_uuid(room_id, "room_id")
    row = (await conn.execute(_ROOM_WITH_ROLE, {"r": rid, "u": user.user_id})).first()
    if row is None:
        raise NotFound("no such room")
    data = dict(row._mapping)
    role = data.pop("role")
    if role is None and not user.is_admin:
        raise Forbidden("you are not a member of this room")
    effective = "OWNER" if user.is_admin else role
    return RoomAccess(room=data, role=effective, is_member=role is not None)


async def access_owned_room(conn: AsyncConnection, room_id: object, user: AuthUser) -> RoomAccess:
    """The room if the user may manage it: its OWNER, or a system admin."""
    access = await access_room(conn, room_id, user)
    require_owner(access)
    return access


def require_owner(access: RoomAccess) -> None:
    if not access.is_owner:
        raise Forbidden("only the room's OWNER or an admin may do this")


def require_writer(access: RoomAccess) -> None:
    if not access.can_write:
        raise Forbidden("your role in this room is read-only")


async def changed_roles(
    conn: AsyncConnection, held: list[tuple[str, str, str]]
) -> dict[tuple[str, str], str | None]:
    """Of these (room id, user id, role held) triples, the pairs whose membership is not that
    role now: their role, or None when they are no longer members.

    Only the differences come back (usually none), so checking thousands of open sockets
    costs the database the join, not Python a row per socket.
    """
    if not held:
        return {}
    rows = (
        await conn.execute(
            text(
                "SELECT p.room_id, p.user_id, m.role "
                "FROM unnest(CAST(:rooms AS text[]), CAST(:users AS text[]), CAST(:roles AS text[])) "
                "AS p(room_id, user_id, role) "
                "LEFT JOIN room_members m ON m.room_id = CAST(p.room_id AS uuid) AND m.user_id = p.user_id "
                "WHERE m.role IS DISTINCT FROM p.role"
            ),
            {"rooms": [r for r, _, _ in held], "users": [u for _, u, _ in held], "roles": [x for _, _, x in held]},
        )
    ).all()
    return {(r.room_id, r.user_id): r.role for r in rows}
