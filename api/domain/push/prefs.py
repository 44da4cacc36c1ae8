"""A user's push preferences (`GET`/`PUT /api/me/notifications`, CONTRACT §4).

`push` is the default for every room (`mentions` unless set); `rooms` overrides it per room.
Only rooms the user is a member of may be named, and a room the user has since left drops out
of what is shown (so a client can always PUT back what it read).
"""

from __future__ import annotations

import json
import uuid
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from api.domain.auth.sessions import AuthUser
from api.domain.core.errors import Invalid
from api.domain.core.services import Services

LEVELS = ("all", "mentions", "none")
DEFAULT_LEVEL = "mentions"
MAX_ROOM_OVERRIDES = 1000


def effective_level(global_level: str | None, room_level: str | None) -> str:
    """The level that applies in one room: its override, else the global one, else `mentions`."""
    for level in (room_level, global_level):
        if level in LEVELS:
            return level
    return DEFAULT_LEVEL


def _check_level(value: object, where: str) -> str:
    if not isinstance(value, str) or value not in LEVELS:
        raise Invalid(f"{where} must be one of {', '.join(LEVELS)}")
    return value


_READ = text("SELECT push, rooms FROM notification_prefs WHERE user_id = :u")
_MEMBER_ROOMS = text(
    "SELECT room_id FROM room_members WHERE user_id = :u AND room_id = ANY(CAST(:ids AS uuid[]))"
)
_UPSERT = text(
    """
    INSERT INTO notification_prefs (user_id, push, rooms, updated_at)
    VALUES (:u, :p, CAST(:rooms AS jsonb), now())
    ON CONFLICT (user_id) DO UPDATE SET push = EXCLUDED.push, rooms = EXCLUDED.rooms, updated_at = now()
    """
)


def _rooms_of(raw: Any) -> dict[str, str]:
    if isinstance(raw, str | bytes):
        raw = json.loads(raw)
    if not isinstance(raw, dict):
        return {}
    return {str(k): v for k, v in raw.items() if v in LEVELS}


async def _member_rooms(conn: AsyncConnection, user_id: str, room_ids: list[str]) -> set[str]:
    if not room_ids:
        return set()
    rows = (await conn.execute(_MEMBER_ROOMS, {"u": user_id, "ids": room_ids})).all()
    return {str(r.room_id) for r in rows}


async def _read(conn: AsyncConnection, user_id: str) -> dict[str, Any]:
    row = (await conn.execute(_READ, {"u": user_id})).first()
    push = row.push if row is not None and row.push in LEVELS else DEFAULT_LEVEL
    rooms = _rooms_of(row.rooms) if row is not None else {}
    current = await _member_rooms(conn, user_id, list(rooms))
    return {"push": push, "rooms": {rid: level for rid, level in sorted(rooms.items()) if rid in current}}


async def get_prefs(services: Services, user: AuthUser) -> dict[str, Any]:
    """The caller's preferences: `{"push", "rooms"}` (defaults when never set)."""
    async with services.db.read() as conn:
        return await _read(conn, user.user_id)


async def do_set_prefs(services: Services, user: AuthUser, body: dict[str, Any]) -> dict[str, Any]:
    """Replace the caller's preferences with `body` and return them.

    A field left out keeps its current value; `rooms`, when given, replaces every override.
    Raises Invalid for an unknown level, a malformed room id, or a room the caller is not a
    member of (the same answer whether or not the room exists).
    """
    async with services.db.transaction() as uow:
        current = await _read(uow.conn, user.user_id)
        push = _check_level(body["push"], "push") if "push" in body else current["push"]
        rooms = current["rooms"]
        if "rooms" in body:
            raw = body["rooms"]
            if not isinstance(raw, dict):
                raise Invalid("rooms must be an object of room id to level")
            if len(raw) > MAX_ROOM_OVERRIDES:
                raise Invalid(f"at most {MAX_ROOM_OVERRIDES} room overrides")
            rooms = {}
            for key, value in raw.items():
                try:
                    rid = str(uuid.UUID(str(key)))
                except ValueError as exc:
                    raise Invalid("rooms keys must be room ids") from exc
                rooms[rid] = _check_level(value, f"rooms[{rid}]")
            member_of = await _member_rooms(uow.conn, user.user_id, list(rooms))
            outside = sorted(set(rooms) - member_of)
            if outside:
                raise Invalid(f"not a room you are a member of: {outside[0]}")
        await uow.conn.execute(
            _UPSERT, {"u": user.user_id, "p": push, "rooms": json.dumps(rooms, separators=(",", ":"))}
        )
    return {"push": push, "rooms": dict(sorted(rooms.items()))}
