"""Cross-room and structured queries: messages that mention me, incident-data series."""

from __future__ import annotations

import base64
import re
import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import text

from api.domain.auth.sessions import AuthUser
from api.domain.core.errors import Invalid
from api.domain.core.services import Services
from api.domain.core.timefmt import iso
from api.domain.events import MentionedMessage
from api.domain.messages.read import add_condition, message_object, select_messages

# A name of letters (any script), digits and `_`, not starting with a digit; dotted for nesting.
_FIELD = re.compile(r"^[^\W\d]\w{0,63}(\.[^\W\d]\w{0,63}){0,4}$")
UNITS_KEY = "_units"
MAX_POINTS = 10_000


_SELECT_MENTIONS = select_messages(
    """,
           ir.title AS room_title,
           m.sequence_number > COALESCE(rm.last_read_seq, 0) AS unread""",
    """    JOIN incident_rooms ir ON ir.room_id = m.room_id
    LEFT JOIN room_members rm ON rm.room_id = m.room_id AND rm.user_id = :u
""",
)
_UNREAD_MENTIONS = text(
    "SELECT count(*) AS n FROM room_members rm JOIN messages m ON m.room_id = rm.room_id "
    "AND m.sequence_number > rm.last_read_seq WHERE rm.user_id = :u "
    "AND m.mentions @> CAST(:uid AS varchar[]) AND m.deleted_at IS NULL AND m.sender_id <> :u"
)


def mention_cursor(created_at: datetime, room_id: Any, sequence_number: int) -> str:
    """An opaque, exact position in the mentions list (the timestamp at full precision)."""
    raw = f"{created_at.isoformat()}|{room_id}|{sequence_number}"
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def parse_mention_cursor(cursor: str) -> tuple[datetime, uuid.UUID, int]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        at, room, seq = raw.split("|")
        when = datetime.fromisoformat(at)
        number = int(seq)
        if when.tzinfo is None or not 0 <= number < 2**63:
            raise ValueError(cursor)
        return when, uuid.UUID(room), number
    except (ValueError, UnicodeDecodeError) as exc:
        raise Invalid("cursor is not one this server gave", code="unprocessable") from exc


async def mentions_of(
    services: Services,
    user: AuthUser,
    limit: int,
    before: datetime | None,
    cursor: str | None = None,
) -> dict[str, Any]:
    """Messages mentioning the caller in rooms they can read now, newest first (GIN on `mentions`).

    Each carries `room_title` and `unread` (after the caller's read marker); `unread_total`
    counts the unread ones over all the caller's rooms. Messages stored together share a
    timestamp, so paging by `before` (a timestamp) can skip some: `next_cursor` is the exact
    position to pass back as `cursor`.
    """
    params: dict[str, Any] = {"u": user.user_id, "n": limit + 1, "uid": [user.user_id]}
    cond = "m.mentions @> CAST(:uid AS varchar[]) AND m.deleted_at IS NULL"
    if not user.is_admin:
        cond += " AND rm.user_id IS NOT NULL"
    if before is not None:
        cond += " AND m.created_at < :b"
        params["b"] = before
    if cursor is not None:
        params["ca"], params["cr"], params["cs"] = parse_mention_cursor(cursor)
        cond += " AND (m.created_at, m.room_id, m.sequence_number) < (:ca, :cr, :cs)"
    order = "m.created_at DESC, m.room_id DESC, m.sequence_number DESC"
    sql = _SELECT_MENTIONS + f" WHERE {cond} ORDER BY {order} LIMIT :n"
    async with services.read_for(user.user_id) as conn:
        rows = (await conn.execute(text(sql), params)).all()
        total = (await conn.execute(_UNREAD_MENTIONS, params)).scalar_one()
    has_more = len(rows) > limit
    page = []
    for row in rows[:limit]:
        page.append(
            MentionedMessage(
                **message_object(row).fields(),
                room_title=row.room_title,
                unread=bool(row.unread) and row.sender_id != user.user_id,
            )
        )
    last = rows[limit - 1] if has_more else None
    return {
        "messages": page,
        "has_more": has_more,
        "next_before": page[-1].created_at if page and has_more else None,
        "next_cursor": mention_cursor(last.created_at, last.room_id, int(last.sequence_number)) if last else None,
        "unread_total": int(total),
    }


def check_field(field: object) -> list[str]:
    """A field name or dotted path (≤ 5 levels) of letters (any script), digits and underscores."""
    if not isinstance(field, str) or not _FIELD.match(field):
        raise Invalid(
            "field must be a name like `temperature` or a dotted path like `oven.zone1`", code="unprocessable"
        )
    return field.split(".")


async def incident_series(
    services: Services,
    room_id: uuid.UUID,
    path: list[str],
    *,
    gte: float | None,
    lte: float | None,
    after: datetime | None,
    before: datetime | None,
    limit: int = MAX_POINTS,
    viewer: str | None = None,
) -> dict[str, Any]:
    """Numeric values of one field over time, oldest first.

    Uses the (room_id, created_at) index for the room and time range; the field filter runs
    on those rows. Values that are not JSON numbers are skipped, never cast.
    """
    params: dict[str, Any] = {"r": room_id, "p": path, "n": min(limit, MAX_POINTS)}
    cond = [
        "room_id = :r",
        "message_type = 'incident_data'",
        "deleted_at IS NULL",
        "jsonb_typeof(data #> CAST(:p AS text[])) = 'number'",
    ]
    add_condition(cond, params, "created_at > :after", after=after)
    add_condition(cond, params, "created_at < :before", before=before)
    value = "CAST(data #>> CAST(:p AS text[]) AS double precision)"
    add_condition(cond, params, f"{value} >= :gte", gte=gte)
    add_condition(cond, params, f"{value} <= :lte", lte=lte)
    sql = (
        f"SELECT message_id, sequence_number, created_at, {value} AS value FROM messages "
        f"WHERE {' AND '.join(cond)} ORDER BY sequence_number LIMIT :n"
    )
    async with services.read_for(viewer) as conn:
        rows = (await conn.execute(text(sql), params)).all()
        units = await _latest_units(conn, room_id, [path[0]]) if len(path) == 1 else {}
    return {
        "unit": units.get(path[0]),
        "points": [
            {
                "message_id": str(r.message_id),
                "sequence_number": int(r.sequence_number),
                "created_at": iso(r.created_at),
                "value": r.value,
            }
            for r in rows
        ],
    }


_LATEST_UNITS = text(
    "SELECT DISTINCT ON (u.key) u.key AS field, u.value #>> '{}' AS unit "
    "FROM messages m CROSS JOIN LATERAL jsonb_each(m.data -> '" + UNITS_KEY + "') AS u(key, value) "
    "WHERE m.room_id = :r AND m.message_type = 'incident_data' AND m.deleted_at IS NULL "
    "AND jsonb_typeof(m.data -> '" + UNITS_KEY + "') = 'object' AND jsonb_typeof(u.value) = 'string' "
    "AND (CAST(:f AS text[]) IS NULL OR u.key = ANY(CAST(:f AS text[]))) "
    "ORDER BY u.key, m.sequence_number DESC"
)

_NUMERIC_FIELDS = text(
    "SELECT f.key AS field, count(*) AS n, max(m.created_at) AS last_at "
    "FROM messages m CROSS JOIN LATERAL jsonb_each(m.data) AS f(key, value) "
    "WHERE m.room_id = :r AND m.message_type = 'incident_data' AND m.deleted_at IS NULL "
    "AND jsonb_typeof(m.data) = 'object' AND jsonb_typeof(f.value) = 'number' "
    "GROUP BY f.key ORDER BY f.key"
)


async def _latest_units(conn: Any, room_id: uuid.UUID, fields: list[str] | None) -> dict[str, str]:
    """The unit each field was last posted with (`_units`), by field name."""
    rows = (await conn.execute(_LATEST_UNITS, {"r": room_id, "f": fields})).all()
    return {r.field: r.unit for r in rows}


async def incident_fields(services: Services, room_id: uuid.UUID, viewer: str | None = None) -> dict[str, Any]:
    """The room's numeric top-level incident-data fields: what can be charted.

    `{"fields": [{"field", "count", "last_at", "unit"}]}` by name; `unit` is the one the field
    was last posted with, or null.
    """
    async with services.read_for(viewer) as conn:
        rows = (await conn.execute(_NUMERIC_FIELDS, {"r": room_id})).all()
        units = await _latest_units(conn, room_id, None)
    return {
        "fields": [
            {"field": r.field, "count": int(r.n), "last_at": iso(r.last_at), "unit": units.get(r.field)}
            for r in rows
        ],
    }
