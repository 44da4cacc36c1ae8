"""The urgent-paging schedule the workers run (docs/alerts.md): pages planned for new urgent
messages, and one round of a page at a time.

All of it is PostgreSQL state, so a worker or API restart neither loses nor repeats a round: a
round is recorded in the same transaction as its pushes, guarded by the round number it was
published for.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from api.domain.core.settings import Settings
from api.domain.events import urgent_page_frame
from api.domain.push.planning import notice_of
from api.domain.push.urgent import ACKNOWLEDGED, ARCHIVED, DELETED, EXHAUSTED, NOT_MEMBER

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
        repeats = _repeats(row, settings)
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
           r.status, r.title AS room_title, r.urgent_escalate_after, r.urgent_escalate_to,
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


def _stop_reason(row: Any) -> str | None:
    """Why the page must stop before this round, or None while it should go on."""
    if row.acknowledged:
        return ACKNOWLEDGED
    if row.deleted_at is not None:
        return DELETED
    if row.status == "archived":
        return ARCHIVED
    if not row.is_member:
        return NOT_MEMBER
    return None


def _repeats(row: Any, settings: Settings) -> int:
    return settings.urgent_max_repeats if row.urgent_max_repeats is None else int(row.urgent_max_repeats)


async def _escalate(
    conn: AsyncConnection, row: Any, page_id: int, this_round: int, settings: Settings
) -> tuple[str, ...]:
    """After the room's K-th unacknowledged repeat, page its escalation target too (once)."""
    if (
        row.escalated_from is not None
        or row.urgent_escalate_after is None
        or not row.urgent_escalate_to
        or this_round != 1 + int(row.urgent_escalate_after)
    ):
        return ()
    added = await conn.execute(
        _ESCALATE,
        {
            "m": row.message_id,
            "r": row.room_id,
            "rounds": 1 + _repeats(row, settings),
            "interval": float(row.urgent_repeat_seconds or settings.urgent_repeat_seconds),
            "page": page_id,
            "sender": row.sender_id,
            "target": row.urgent_escalate_to,
        },
    )
    return tuple(r.user_id for r in added.all())


def _page_frame(row: Any, this_round: int, last: bool) -> bytes:
    escalated = row.escalated_from is not None
    return urgent_page_frame(notice_of(row), this_round=this_round, last_round=last, escalated=escalated)


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
    why = _stop_reason(row)
    if why is not None:
        await conn.execute(_CLOSE, {"id": page_id, "why": why})
        return None
    if int(row.rounds_sent) != published_round or not row.due:
        return None
    this_round = int(row.rounds_sent) + 1
    last = this_round >= int(row.max_rounds)
    await conn.execute(_PLAN_ROUND, {"m": row.message_id, "u": row.user_id, "round": this_round})
    await conn.execute(_ADVANCE, {"id": page_id, "round": this_round, "last": last, "exhausted": EXHAUSTED})
    escalated = await _escalate(conn, row, page_id, this_round, settings)
    frame = _page_frame(row, this_round, last)
    return Round(user_id=row.user_id, room_id=str(row.room_id), frame=frame, escalated_to=escalated)
