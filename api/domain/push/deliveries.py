"""The life of one planned push (`push_deliveries`): claim, send, record.

`pending` → `sending` (claimed, with a time and an attempt count) → `wire_at` set (committed
just before the first byte of the request leaves) → `sent`, `failed` or `skipped`; back to
`pending` with `next_attempt_at` when the push service asks to retry. No database connection is
held while the push service is being talked to.

A claim older than the claim timeout belongs to a worker that died (or hung) mid-send. Without
`wire_at` nothing left that worker, and the delivery is taken over and sent. With `wire_at` the
push service may already hold the push, and nobody can know: the delivery is closed as `failed`
with outcome `interrupted` and never sent a second time (at most once across a crash; see
docs/workers.md for the exact window).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from api.domain.push.planning import TTL_SECONDS, URGENCY, notice_of, push_payload

# Attempts (claims) per delivery before it is given up; with the backoff between them this
# spans several minutes of a failing push service.
MAX_ATTEMPTS = 8


@dataclass(frozen=True, slots=True)
class ClaimedDelivery:
    """A delivery this worker now owns, with everything needed to send it."""

    delivery_id: int
    subscription_id: int
    attempts: int
    kind: str
    endpoint: str
    p256dh: str
    auth: str
    payload: dict[str, Any]

    @property
    def ttl(self) -> int:
        return TTL_SECONDS[self.kind]

    @property
    def urgency(self) -> str:
        return URGENCY[self.kind]

    def __repr__(self) -> str:
        # The endpoint and keys are the subscription's secrets; the payload holds message text.
        return (
            f"ClaimedDelivery(delivery_id={self.delivery_id}, kind={self.kind!r}, attempts={self.attempts})"
        )


@dataclass(frozen=True, slots=True)
class Busy:
    """Not to be sent now: another worker holds a fresh claim, or a retry is not due yet.

    Ask again after `seconds`.
    """

    seconds: float


# One round trip: take the delivery and read what the push needs.
_CLAIM = text(
    """
    WITH claimed AS (
        UPDATE push_deliveries
        SET status = 'sending', claimed_at = now(), wire_at = NULL, attempts = attempts + 1
        WHERE delivery_id = :id
          AND ((status = 'pending' AND (next_attempt_at IS NULL OR next_attempt_at <= now()))
               OR (status = 'sending' AND wire_at IS NULL
                   AND claimed_at < now() - make_interval(secs => CAST(:claim AS float8))))
        RETURNING delivery_id, subscription_id, message_id, kind, attempts, user_id, page_round
    )
    SELECT c.delivery_id, c.subscription_id, c.message_id, c.kind, c.attempts, c.page_round,
           r.status AS room_status,
           (c.kind = 'urgent' AND EXISTS (
               SELECT 1 FROM urgent_acks a WHERE a.message_id = c.message_id AND a.user_id = c.user_id))
               AS acknowledged,
           s.endpoint, s.p256dh, s.auth, m.room_id, m.sequence_number, m.message_type, m.content, m.data,
           m.deleted_at, COALESCE(u.display_name, m.sender_id) AS sender_display_name, r.title AS room_title
    FROM claimed c
    LEFT JOIN push_subscriptions s ON s.subscription_id = c.subscription_id
    LEFT JOIN messages m ON m.message_id = c.message_id
    LEFT JOIN incident_rooms r ON r.room_id = m.room_id
    LEFT JOIN tr_users u ON u.user_id = m.sender_id
    """
)
_STATE = text(
    """
    SELECT status,
           CASE WHEN status = 'sending'
                THEN EXTRACT(EPOCH FROM (claimed_at + make_interval(secs => CAST(:claim AS float8)) - now()))
                ELSE EXTRACT(EPOCH FROM (next_attempt_at - now())) END AS wait
    FROM push_deliveries WHERE delivery_id = :id
    """
)


# A claim abandoned after its request left: the push service may have the push. Closed, not resent.
INTERRUPTED = "interrupted"
_CLOSE_INTERRUPTED = """
    UPDATE push_deliveries
    SET status = 'failed', finished_at = now(), last_outcome = 'interrupted'
    WHERE status = 'sending' AND wire_at IS NOT NULL
      AND claimed_at < now() - make_interval(secs => CAST(:claim AS float8))
      {extra}
"""
_CLOSE_INTERRUPTED_ONE = text(_CLOSE_INTERRUPTED.format(extra="AND delivery_id = :id"))
_CLOSE_INTERRUPTED_ALL = text(_CLOSE_INTERRUPTED.format(extra=""))
_ON_WIRE = text(
    "UPDATE push_deliveries SET wire_at = now() WHERE delivery_id = :id AND status = 'sending' "
    "AND attempts = :attempts"
)


async def claim(
    conn: AsyncConnection, delivery_id: int, claim_timeout: float
) -> ClaimedDelivery | Busy | None:
    """Take the delivery for sending; None when it is finished (or gone, or not worth sending).

    A message deleted since it was planned is marked `skipped` here: its text must not be
    pushed any more. An abandoned claim whose request had left is closed here (`interrupted`).
    Commit right after, so other workers see the claim.
    """
    row = (await conn.execute(_CLAIM, {"id": delivery_id, "claim": claim_timeout})).first()
    if row is None:
        closed = await conn.execute(_CLOSE_INTERRUPTED_ONE, {"id": delivery_id, "claim": claim_timeout})
        if closed.rowcount:  # type: ignore[attr-defined]
            return None
        state = (await conn.execute(_STATE, {"id": delivery_id, "claim": claim_timeout})).first()
        if state is not None and state.status in ("sending", "pending"):
            # Sending elsewhere, or not due yet (a retry that must wait for Retry-After).
            return Busy(max(0.0, float(state.wait or 0.0)))
        return None
    content = row
    if content.endpoint is None or content.room_id is None or content.deleted_at is not None:
        await finish(conn, delivery_id, "skipped", outcome="message deleted")
        return None
    if row.kind == "urgent" and (row.acknowledged or row.room_status == "archived"):
        # An urgent page stops at once on acknowledgement and room archival (docs/alerts.md).
        await finish(conn, delivery_id, "skipped", outcome="acknowledged" if row.acknowledged else "archived")
        return None
    payload = push_payload(kind=row.kind, **notice_of(row))
    if row.kind == "urgent":
        payload["round"] = int(row.page_round)
    return ClaimedDelivery(
        delivery_id=int(row.delivery_id),
        subscription_id=int(row.subscription_id),
        attempts=int(row.attempts),
        kind=row.kind,
        endpoint=content.endpoint,
        p256dh=content.p256dh,
        auth=content.auth,
        payload=payload,
    )


async def mark_on_wire(conn: AsyncConnection, claimed: ClaimedDelivery) -> bool:
    """Record that this claim's request is about to leave (commit before writing a byte).

    False when the claim is no longer this worker's (taken over meanwhile): then send nothing.
    """
    result = await conn.execute(_ON_WIRE, {"id": claimed.delivery_id, "attempts": claimed.attempts})
    return bool(result.rowcount)  # type: ignore[attr-defined]


async def close_interrupted(conn: AsyncConnection, claim_timeout: float) -> int:
    """Close every abandoned claim whose request had left (`failed`, `interrupted`); how many."""
    result = await conn.execute(_CLOSE_INTERRUPTED_ALL, {"claim": claim_timeout})
    return int(result.rowcount)  # type: ignore[attr-defined]


_FINISH = text(
    """
    UPDATE push_deliveries
    SET status = :st, finished_at = now(), last_status = :code, last_outcome = :outcome
    WHERE delivery_id = :id AND status IN ('pending', 'sending')
    """
)
_RETRY = text(
    """
    UPDATE push_deliveries
    SET status = 'pending', claimed_at = NULL, enqueued_at = now(),
        next_attempt_at = now() + make_interval(secs => CAST(:delay AS float8)),
        last_status = :code, last_outcome = :outcome
    WHERE delivery_id = :id AND status = 'sending'
    """
)
_DROP_SUBSCRIPTION = text("DELETE FROM push_subscriptions WHERE subscription_id = :s")


async def finish(
    conn: AsyncConnection,
    delivery_id: int,
    status: str,
    *,
    code: int | None = None,
    outcome: str | None = None,
) -> None:
    """Record the end of a delivery: `sent`, `failed` or `skipped`."""
    await conn.execute(_FINISH, {"id": delivery_id, "st": status, "code": code, "outcome": outcome})


async def schedule_retry(
    conn: AsyncConnection, delivery_id: int, delay: float, *, code: int | None, outcome: str
) -> None:
    """Give the delivery back, to be sent again in `delay` seconds (queued by the caller)."""
    await conn.execute(_RETRY, {"id": delivery_id, "delay": delay, "code": code, "outcome": outcome})


async def drop_subscription(conn: AsyncConnection, subscription_id: int) -> None:
    """Delete a subscription the push service no longer knows (404/410); its deliveries go too."""
    await conn.execute(_DROP_SUBSCRIPTION, {"s": subscription_id})
