"""An incident room's urgent-paging settings and a member's opt-in (docs/alerts.md).

The room's OWNER (or an admin) sets the repeat interval, the number of repeats and the
escalation (after how many unacknowledged repeats, to whom); each member chooses whether urgent
messages that mention nobody page them. Both apply to pages started afterwards.
"""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from api.domain.auth.access import access_room, require_owner
from api.domain.auth.sessions import AuthUser
from api.domain.core.errors import Forbidden, Invalid, NotFound
from api.domain.core.services import Services
from api.domain.core.settings import Settings

ROLES = ("OWNER", "EDITOR", "VIEWER")

# The longest repeat interval a room may set.
MAX_REPEAT_SECONDS = 24 * 3600


# ------------------------------------------------------------------ room settings and opt-in

_SETTINGS = text(
    """
    SELECT r.urgent_repeat_seconds, r.urgent_max_repeats, r.urgent_escalate_after, r.urgent_escalate_to,
           m.urgent_alerts
    FROM incident_rooms r LEFT JOIN room_members m ON m.room_id = r.room_id AND m.user_id = :u
    WHERE r.room_id = :r
    """
)


async def _settings_of(conn: AsyncConnection, settings: Settings, room_id: uuid.UUID, user: AuthUser) -> dict[str, Any]:
    row = (await conn.execute(_SETTINGS, {"r": room_id, "u": user.user_id})).first()
    if row is None:
        raise NotFound("no such room")
    return {
        "room_id": str(room_id),
        "repeat_seconds": int(row.urgent_repeat_seconds or settings.urgent_repeat_seconds),
        "max_repeats": int(
            settings.urgent_max_repeats if row.urgent_max_repeats is None else row.urgent_max_repeats
        ),
        "escalate_after": row.urgent_escalate_after,
        "escalate_to": row.urgent_escalate_to,
        "alerts": bool(row.urgent_alerts),
    }


async def urgent_settings(services: Services, user: AuthUser, room_id: object) -> dict[str, Any]:
    """The room's paging settings and the caller's opt-in (members)."""
    async with services.db.read() as conn:
        access = await access_room(conn, room_id, user)
        return await _settings_of(conn, services.settings, uuid.UUID(access.room_id), user)


def _check_int(body: dict[str, Any], key: str, low: int, high: int) -> int | None:
    if key not in body or body[key] is None:
        return None
    value = body[key]
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise Invalid(f"{key} must be an integer from {low} to {high}")
    return value


# The request's fields and the columns they set.
_COLUMNS = {
    "repeat_seconds": "urgent_repeat_seconds",
    "max_repeats": "urgent_max_repeats",
    "escalate_after": "urgent_escalate_after",
    "escalate_to": "urgent_escalate_to",
}
_ESCALATE_TO_RULE = "escalate_to must be a member's user id or role:OWNER|EDITOR|VIEWER"


def _escalate_to(value: object) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or not value.strip() or len(value) > 254:
        raise Invalid(_ESCALATE_TO_RULE)
    value = value.strip()
    if value.startswith("role:"):
        if value[5:] not in ROLES:
            raise Invalid(_ESCALATE_TO_RULE)
        return value
    return value.lower()


def _parse_changes(body: object, settings: Settings) -> dict[str, Any]:
    """The fields the request sets, checked: {field: value}, a null value clearing it."""
    if not isinstance(body, dict) or not body:
        raise Invalid("send repeat_seconds, max_repeats, escalate_after and/or escalate_to")
    unknown = set(body) - set(_COLUMNS)
    if unknown:
        raise Invalid(f"unknown field(s): {', '.join(sorted(unknown))}")
    checked = {
        "repeat_seconds": _check_int(body, "repeat_seconds", settings.urgent_min_repeat_seconds, MAX_REPEAT_SECONDS),
        "max_repeats": _check_int(body, "max_repeats", 0, settings.urgent_max_repeats_limit),
        "escalate_after": _check_int(body, "escalate_after", 1, settings.urgent_max_repeats_limit),
        "escalate_to": _escalate_to(body.get("escalate_to")),
    }
    return {key: value for key, value in checked.items() if key in body}


async def update_urgent_settings(
    services: Services, user: AuthUser, room_id: object, body: object
) -> dict[str, Any]:
    """Change the room's paging schedule and escalation (OWNER, admin).

    Fields (each optional): `repeat_seconds`, `max_repeats`, `escalate_after` (repeats; null
    turns escalation off), `escalate_to` (a member's user id, or `role:OWNER|EDITOR|VIEWER`;
    null clears it). Applies to pages started afterwards.
    """
    settings = services.settings
    changes = _parse_changes(body, settings)
    async with services.db.transaction() as uow:
        access = await access_room(uow.conn, room_id, user)
        require_owner(access)
        rid = uuid.UUID(access.room_id)
        escalate_to = changes.get("escalate_to")
        if isinstance(escalate_to, str) and not escalate_to.startswith("role:"):
            member = (
                await uow.conn.execute(
                    text("SELECT 1 FROM room_members WHERE room_id = :r AND user_id = :u"),
                    {"r": rid, "u": escalate_to},
                )
            ).first()
            if member is None:
                raise Invalid("escalate_to is not a member of this room")
        sets = [f"{_COLUMNS[key]} = :{key}" for key in changes]
        params: dict[str, Any] = {"r": rid, **changes}
        await uow.conn.execute(text(f"UPDATE incident_rooms SET {', '.join(sets)} WHERE room_id = :r"), params)
        return await _settings_of(uow.conn, settings, rid, user)


async def set_urgent_alerts(services: Services, user: AuthUser, room_id: object, body: object) -> dict[str, Any]:
    """The caller's opt-in to urgent messages of the room that mention nobody (members)."""
    if not isinstance(body, dict) or not isinstance(body.get("alerts"), bool) or set(body) != {"alerts"}:
        raise Invalid("send {\"alerts\": true|false}")
    async with services.db.transaction() as uow:
        access = await access_room(uow.conn, room_id, user)
        if not access.is_member:
            raise Forbidden("only members of the room can opt in")
        rid = uuid.UUID(access.room_id)
        await uow.conn.execute(
            text("UPDATE room_members SET urgent_alerts = :a WHERE room_id = :r AND user_id = :u"),
            {"a": body["alerts"], "r": rid, "u": user.user_id},
        )
        return await _settings_of(uow.conn, services.settings, rid, user)
