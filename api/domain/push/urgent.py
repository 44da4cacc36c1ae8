"""Urgent pages (docs/alerts.md): acknowledgements, the room's paging settings, a member's opt-in,
and the paging schedule the workers run.

A message sent with `priority: urgent` pages each mentioned member (or, when it mentions nobody,
each member who opted in to urgent alerts), the sender excepted: one `urgent_pages` row per
paged user, planned by the push planning job in the same transaction as the message's other
pushes. Round 1 is due at once; each round plans one push per subscription (`push_deliveries`
with `page_round`) and an in-app `urgent_page` frame, and sets `next_at` one interval later,
until `1 + max_repeats` rounds went out. All of it is PostgreSQL state, so a worker or API
restart neither loses nor repeats a round: the worker's relay publishes due pages, and a round is
recorded in the same transaction as its pushes, guarded by the round number it was published for.

Paging stops at once when the paged user acknowledges (`urgent_acks`), when the message is
deleted, or when the room is archived: the round task closes the page, and a push already
planned for it is skipped when a worker claims it (`deliveries.claim`).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from api.domain.auth.access import access_room, parse_uuid, require_owner
from api.domain.auth.sessions import AuthUser
from api.domain.core.errors import Forbidden, Invalid, NotFound
from api.domain.core.services import Services
from api.domain.core.settings import Settings
from api.domain.core.timefmt import iso
from api.domain.events import UrgentAcknowledged, UrgentPage, encode
from api.domain.push.planning import preview_of

# Why a page stopped (`urgent_pages.stop_reason`).
ACKNOWLEDGED = "acknowledged"
DELETED = "deleted"
ARCHIVED = "archived"
NOT_MEMBER = "not_member"
EXHAUSTED = "exhausted"

ROLES = ("OWNER", "EDITOR", "VIEWER")

# The longest repeat interval a room may set.
MAX_REPEAT_SECONDS = 24 * 3600


# ------------------------------------------------------------------ acknowledgement

_MESSAGE = text(
    """
    SELECT m.message_id, m.room_id, m.sequence_number, m.priority, m.deleted_at, r.status
    FROM messages m JOIN incident_rooms r ON r.room_id = m.room_id
    WHERE m.message_id = :id
    FOR SHARE OF m
    """
)
_INSERT_ACK = text(
    """
    INSERT INTO urgent_acks (message_id, user_id, acknowledged_at)
    VALUES (:id, :u, date_trunc('milliseconds', clock_timestamp()))
    ON CONFLICT DO NOTHING
    RETURNING acknowledged_at
    """
)
_EXISTING_ACK = text("SELECT acknowledged_at FROM urgent_acks WHERE message_id = :id AND user_id = :u")
_STOP_PAGE = text(
    """
    UPDATE urgent_pages SET done_at = now(), next_at = NULL, stop_reason = :why
    WHERE message_id = :id AND user_id = :u AND done_at IS NULL
    """
)


async def do_acknowledge(
    services: Services, user: AuthUser, message_id: object, room_id: str | None = None
) -> dict[str, Any]:
    """Acknowledge an urgent message (members; idempotent).

    Returns `{message_id, user_id, at, room_id, created}`; `created` is False when the user had
    acknowledged it already (then nothing changes and nothing is broadcast). With `room_id` (the
    WebSocket path) a message of another room is `not_found`.
    """
    mid = parse_uuid(message_id, "message_id")
    async with services.db.transaction() as uow:
        conn = uow.conn
        row = (await conn.execute(_MESSAGE, {"id": mid})).first()
        if row is None or (room_id is not None and str(row.room_id) != room_id):
            raise NotFound("no such message" if room_id is None else "no such message in this room")
        await access_room(conn, row.room_id, user)
        if row.priority != "urgent":
            raise Invalid("only urgent messages can be acknowledged")
        if row.deleted_at is not None:
            raise Forbidden("the message is deleted")
        if row.status == "archived":
            raise Forbidden("the room is archived (read-only)")
        params = {"id": mid, "u": user.user_id}
        inserted = (await conn.execute(_INSERT_ACK, params)).first()
        if inserted is None:
            existing = (await conn.execute(_EXISTING_ACK, params)).first()
            assert existing is not None
            return _ack_result(row, user, iso(existing.acknowledged_at), created=False)
        await conn.execute(_STOP_PAGE, {**params, "why": ACKNOWLEDGED})
        result = _ack_result(row, user, iso(inserted.acknowledged_at), created=True)
        frame = encode(
            UrgentAcknowledged(
                message_id=str(mid),
                user_id=user.user_id,
                at=result["at"],
                room_id=str(row.room_id),
                display_name=user.display_name,
            )
        )
        seq = int(row.sequence_number)
        rid = str(row.room_id)

        async def publish() -> None:
            # Room sockets, and (control `streams`) the user streams following the room, in the
            # room's order: never before the message itself.
            await services.bus.publish_ephemeral(rid, frame, after_seq=seq, control={"streams": 1})

        uow.after_commit(publish)
    return result


def _ack_result(row: Any, user: AuthUser, at: str | None, *, created: bool) -> dict[str, Any]:
    return {
        "message_id": str(row.message_id),
        "room_id": str(row.room_id),
        "user_id": user.user_id,
        "display_name": user.display_name,
        "at": at,
        "created": created,
    }


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


async def update_urgent_settings(
    services: Services, user: AuthUser, room_id: object, body: object
) -> dict[str, Any]:
    """Change the room's paging schedule and escalation (OWNER, admin).

    Fields (each optional): `repeat_seconds`, `max_repeats`, `escalate_after` (repeats; null
    turns escalation off), `escalate_to` (a member's user id, or `role:OWNER|EDITOR|VIEWER`;
    null clears it). Applies to pages started afterwards.
    """
    settings = services.settings
    if not isinstance(body, dict) or not body:
        raise Invalid("send repeat_seconds, max_repeats, escalate_after and/or escalate_to")
    unknown = set(body) - {"repeat_seconds", "max_repeats", "escalate_after", "escalate_to"}
    if unknown:
        raise Invalid(f"unknown field(s): {', '.join(sorted(unknown))}")
    repeat = _check_int(body, "repeat_seconds", settings.urgent_min_repeat_seconds, MAX_REPEAT_SECONDS)
    repeats = _check_int(body, "max_repeats", 0, settings.urgent_max_repeats_limit)
    escalate_after = _check_int(body, "escalate_after", 1, settings.urgent_max_repeats_limit)
    escalate_to = body.get("escalate_to")
    if escalate_to is not None:
        if not isinstance(escalate_to, str) or not escalate_to.strip() or len(escalate_to) > 254:
            raise Invalid("escalate_to must be a member's user id or role:OWNER|EDITOR|VIEWER")
        escalate_to = escalate_to.strip()
        if escalate_to.startswith("role:"):
            if escalate_to[5:] not in ROLES:
                raise Invalid("escalate_to must be a member's user id or role:OWNER|EDITOR|VIEWER")
        else:
            escalate_to = escalate_to.lower()
    async with services.db.transaction() as uow:
        access = await access_room(uow.conn, room_id, user)
        require_owner(access)
        rid = uuid.UUID(access.room_id)
        if isinstance(escalate_to, str) and not escalate_to.startswith("role:"):
            member = (
                await uow.conn.execute(
                    text("SELECT 1 FROM room_members WHERE room_id = :r AND user_id = :u"),
                    {"r": rid, "u": escalate_to},
                )
            ).first()
            if member is None:
                raise Invalid("escalate_to is not a member of this room")
        sets = []
        params: dict[str, Any] = {"r": rid}
        for key, column, value in (
            ("repeat_seconds", "urgent_repeat_seconds", repeat),
            ("max_repeats", "urgent_max_repeats", repeats),
            ("escalate_after", "urgent_escalate_after", escalate_after),
            ("escalate_to", "urgent_escalate_to", escalate_to),
        ):
            if key in body:
                sets.append(f"{column} = :{key}")
                params[key] = value
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


# ------------------------------------------------------------------ planning (worker)

_URGENT_MESSAGES = text(
    """
    SELECT m.message_id, m.sender_id, m.mentions, r.urgent_repeat_seconds, r.urgent_max_repeats
    FROM messages m JOIN incident_rooms r ON r.room_id = m.room_id
    WHERE m.room_id = :r AND m.message_id = ANY(CAST(:ids AS uuid[]))
      AND m.priority = 'urgent' AND m.deleted_at IS NULL AND r.status <> 'archived'
    """
)
_MEMBERS = text("SELECT user_id, urgent_alerts FROM room_members WHERE room_id = :r")
_PLAN_PAGES = text(
    """
    INSERT INTO urgent_pages (message_id, room_id, user_id, max_rounds, interval_seconds, next_at)
    SELECT p.message_id, :r, p.user_id, p.max_rounds, p.interval_seconds, now()
    FROM unnest(CAST(:mids AS uuid[]), CAST(:uids AS varchar[]), CAST(:rounds AS int[]),
                CAST(:intervals AS float8[])) AS p(message_id, user_id, max_rounds, interval_seconds)
    ON CONFLICT (message_id, user_id) DO NOTHING
    """
)


async def plan_pages(
    conn: AsyncConnection, settings: Settings, room_id: uuid.UUID, message_ids: list[str]
) -> set[tuple[str, str]]:
    """Start the pages of these new messages' urgent ones; returns every (message id, user id) paged.

    Idempotent: a page already planned is left as it is (and still returned).
    """
    ids = [str(uuid.UUID(str(m))) for m in message_ids]
    if not ids:
        return set()
    rows = (await conn.execute(_URGENT_MESSAGES, {"r": room_id, "ids": ids})).all()
    if not rows:
        return set()
    members = {r.user_id: bool(r.urgent_alerts) for r in (await conn.execute(_MEMBERS, {"r": room_id})).all()}
    mids: list[str] = []
    uids: list[str] = []
    rounds: list[int] = []
    intervals: list[float] = []
    for row in rows:
        mentioned = [u for u in (row.mentions or ()) if u in members and u != row.sender_id]
        paged = mentioned or [u for u, opted in members.items() if opted and u != row.sender_id]
        repeats = settings.urgent_max_repeats if row.urgent_max_repeats is None else int(row.urgent_max_repeats)
        interval = float(row.urgent_repeat_seconds or settings.urgent_repeat_seconds)
        for user_id in paged:
            mids.append(str(row.message_id))
            uids.append(user_id)
            rounds.append(1 + repeats)
            intervals.append(interval)
    if mids:
        await conn.execute(
            _PLAN_PAGES, {"r": room_id, "mids": mids, "uids": uids, "rounds": rounds, "intervals": intervals}
        )
    return set(zip(mids, uids, strict=True))


# ------------------------------------------------------------------ one round (worker)

_LOCK_PAGE = text(
    """
    SELECT p.page_id, p.message_id, p.room_id, p.user_id, p.rounds_sent, p.max_rounds, p.interval_seconds,
           p.next_at, p.done_at, p.next_at <= now() AS due, p.escalated_from,
           m.deleted_at, m.sequence_number, m.message_type, m.content, m.data, m.sender_id,
           COALESCE(u.display_name, m.sender_id) AS sender_display_name,
           r.status, r.title, r.urgent_escalate_after, r.urgent_escalate_to,
           r.urgent_repeat_seconds, r.urgent_max_repeats,
           EXISTS (SELECT 1 FROM urgent_acks a WHERE a.message_id = p.message_id AND a.user_id = p.user_id)
               AS acknowledged,
           EXISTS (SELECT 1 FROM room_members rm WHERE rm.room_id = p.room_id AND rm.user_id = p.user_id)
               AS is_member
    FROM urgent_pages p
    JOIN messages m ON m.message_id = p.message_id
    JOIN incident_rooms r ON r.room_id = p.room_id
    LEFT JOIN tr_users u ON u.user_id = m.sender_id
    WHERE p.page_id = :id
    FOR UPDATE OF p
    """
)
_CLOSE = text(
    "UPDATE urgent_pages SET done_at = now(), next_at = NULL, enqueued_at = NULL, stop_reason = :why "
    "WHERE page_id = :id"
)
_PLAN_ROUND = text(
    """
    INSERT INTO push_deliveries (outbox_id, message_id, subscription_id, user_id, kind, page_round)
    SELECT NULL, :m, s.subscription_id, s.user_id, 'urgent', :round
    FROM push_subscriptions s WHERE s.user_id = :u
    ON CONFLICT (message_id, subscription_id, page_round) DO NOTHING
    """
)
# The next round one interval after this one was due; after a long outage (the workers were
# away), one interval from now rather than a burst of the missed rounds.
_ADVANCE = text(
    """
    UPDATE urgent_pages
    SET rounds_sent = :round, enqueued_at = NULL,
        next_at = CASE WHEN :last THEN NULL
                       WHEN next_at + make_interval(secs => interval_seconds) > now()
                       THEN next_at + make_interval(secs => interval_seconds)
                       ELSE now() + make_interval(secs => interval_seconds) END,
        done_at = CASE WHEN :last THEN now() END,
        stop_reason = CASE WHEN :last THEN :exhausted END
    WHERE page_id = :id
    """
)


# Escalation: the members to page besides (a user id, or everyone of a role), not yet paged.
_ESCALATE = text(
    """
    INSERT INTO urgent_pages (message_id, room_id, user_id, max_rounds, interval_seconds, next_at, escalated_from)
    SELECT :m, :r, rm.user_id, :rounds, :interval, now(), :page
    FROM room_members rm
    WHERE rm.room_id = :r AND rm.user_id <> :sender
      AND (rm.user_id = :target OR 'role:' || rm.role = :target)
    ON CONFLICT (message_id, user_id) DO NOTHING
    RETURNING user_id
    """
)


@dataclass(frozen=True, slots=True)
class Round:
    """A round just recorded: who to alert in-app, the frame, and who it escalated to."""

    user_id: str
    room_id: str
    frame: bytes
    escalated_to: tuple[str, ...] = ()


async def run_round(
    conn: AsyncConnection, page_id: int, published_round: int, settings: Settings
) -> Round | None:
    """Record the round due after `published_round` rounds: plan its pushes, schedule the next.

    None when there is nothing to do: the page is done, stopped (acknowledged, message deleted,
    room archived, user no longer a member: closed here), not due yet, or the round was recorded
    already (a repeated task). Call in a transaction; queue the planned pushes after commit.
    """
    row = (await conn.execute(_LOCK_PAGE, {"id": page_id})).first()
    if row is None or row.done_at is not None:
        return None
    why = None
    if row.acknowledged:
        why = ACKNOWLEDGED
    elif row.deleted_at is not None:
        why = DELETED
    elif row.status == "archived":
        why = ARCHIVED
    elif not row.is_member:
        why = NOT_MEMBER
    if why is not None:
        await conn.execute(_CLOSE, {"id": page_id, "why": why})
        return None
    if int(row.rounds_sent) != published_round or not row.due:
        return None
    this_round = int(row.rounds_sent) + 1
    last = this_round >= int(row.max_rounds)
    await conn.execute(_PLAN_ROUND, {"m": row.message_id, "u": row.user_id, "round": this_round})
    await conn.execute(_ADVANCE, {"id": page_id, "round": this_round, "last": last, "exhausted": EXHAUSTED})
    escalated: tuple[str, ...] = ()
    if (
        row.escalated_from is None
        and row.urgent_escalate_after is not None
        and row.urgent_escalate_to
        and this_round == 1 + int(row.urgent_escalate_after)
    ):
        # The K-th repeat went out unacknowledged: page the room's escalation target too.
        repeats = settings.urgent_max_repeats if row.urgent_max_repeats is None else int(row.urgent_max_repeats)
        added = await conn.execute(
            _ESCALATE,
            {
                "m": row.message_id,
                "r": row.room_id,
                "rounds": 1 + repeats,
                "interval": float(row.urgent_repeat_seconds or settings.urgent_repeat_seconds),
                "page": page_id,
                "sender": row.sender_id,
                "target": row.urgent_escalate_to,
            },
        )
        escalated = tuple(r.user_id for r in added.all())
    frame = encode(
        UrgentPage(
            room_id=str(row.room_id),
            room_title=row.title,
            message_id=str(row.message_id),
            sequence_number=int(row.sequence_number),
            sender_display_name=row.sender_display_name,
            preview=preview_of(row.message_type, row.content, row.data),
            round=this_round,
            last_round=last,
            escalated=row.escalated_from is not None,
        )
    )
    return Round(user_id=row.user_id, room_id=str(row.room_id), frame=frame, escalated_to=escalated)
