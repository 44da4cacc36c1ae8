"""`push.send`: send one planned Web Push and act on the push service's answer.

The task claims its `push_deliveries` row (so two copies of the task never both send), commits
`wire_at` once connected and before the first byte (so a crash after it is never followed by a
second send), sends with :func:`workers.webpush.deliver` outside any database transaction, and
records:
2xx → `sent`; 404/410 (or keys no push can be encrypted for) → the subscription is deleted;
429 → again after `Retry-After` (capped); 5xx, timeouts and network errors → again after an
exponential, jittered backoff; anything else → `failed`. Attempts are counted in the row, so
the bound holds across reruns and sweeps, not just within one Celery message.
"""

from __future__ import annotations

import logging
import random
from dataclasses import dataclass
from typing import Any

from celery import Celery

from api.domain.core.settings import Settings
from api.domain.outbox import jobs
from api.domain.push import deliveries as store
from workers.runtime import WorkerRuntime, get_runtime
from workers.task_policy import retry_backoff_max, task_options
from workers.webpush import (
    DeliveryOutcome,
    DeliveryResult,
    PayloadTooLarge,
    PushSubscriptionInfo,
    deliver,
)
from workers.webpush_http import before_first_byte

log = logging.getLogger(__name__)

BACKOFF_BASE = 2.0


def retry_delay(result: DeliveryResult, attempt: int, cap: float, rng: random.Random | None = None) -> float:
    """Seconds until the next try of a delivery that failed transiently.

    A `Retry-After` (429, or 5xx when given) is honoured, capped at `cap`, never undercut:
    the jitter only adds up to a tenth (at most a second). Otherwise an exponential backoff from
    2 s with "equal jitter" (between half and all of it), so failing deliveries spread out.
    """
    pick = rng or random
    if result.retry_after is not None and result.outcome in (
        DeliveryOutcome.RATE_LIMITED,
        DeliveryOutcome.SERVER_ERROR,
    ):
        wait = min(max(0.0, result.retry_after), cap)
        return wait + pick.uniform(0.0, min(1.0, wait * 0.1))
    ceiling = min(cap, BACKOFF_BASE * 2 ** max(0, attempt - 1))
    return pick.uniform(ceiling / 2, ceiling)


def _send(runtime: WorkerRuntime, claimed: store.ClaimedDelivery) -> DeliveryResult:
    settings = runtime.settings
    return deliver(
        PushSubscriptionInfo(endpoint=claimed.endpoint, p256dh=claimed.p256dh, auth=claimed.auth),
        claimed.payload,
        vapid_private_key=runtime.vapid.signer(),
        vapid_subject=settings.vapid_subject,
        ttl=claimed.ttl,
        urgency=claimed.urgency,
        timeout=settings.push_timeout,
        allow_private=settings.push_allow_private_endpoints,
        session=runtime.push_session(),
    )


async def _claim(runtime: WorkerRuntime, delivery_id: int) -> store.ClaimedDelivery | store.Busy | None:
    async with runtime.services.db.transaction() as uow:
        return await store.claim(uow.conn, delivery_id, runtime.claim_timeout)


async def _record(
    runtime: WorkerRuntime, claimed: store.ClaimedDelivery, result: DeliveryResult, delay: float | None
) -> None:
    async with runtime.services.db.transaction() as uow:
        conn = uow.conn
        if result.outcome is DeliveryOutcome.DELIVERED:
            await store.finish(
                conn, claimed.delivery_id, "sent", code=result.status, outcome=result.outcome.value
            )
        elif result.should_delete_subscription:
            await store.drop_subscription(conn, claimed.subscription_id)
        elif delay is not None:
            await store.schedule_retry(
                conn, claimed.delivery_id, delay, code=result.status, outcome=result.outcome.value
            )
        else:
            await store.finish(
                conn, claimed.delivery_id, "failed", code=result.status, outcome=result.outcome.value
            )


class ClaimLost(Exception):
    """The claim passed to another worker before the request left: send nothing."""


async def _mark_on_wire(runtime: WorkerRuntime, claimed: store.ClaimedDelivery) -> None:
    async with runtime.services.db.transaction() as uow:
        if not await store.mark_on_wire(uow.conn, claimed):
            raise ClaimLost(claimed.delivery_id)


async def _give_up(runtime: WorkerRuntime, delivery_id: int, why: str) -> None:
    async with runtime.services.db.transaction() as uow:
        await store.finish(uow.conn, delivery_id, "failed", outcome=why)


@dataclass(frozen=True, slots=True)
class Attempt:
    """What :func:`send_one` did with one delivery."""

    # "sent"; "retry" (again in `retry_in` seconds); "failed" (refused, unsendable or given up);
    # "dropped" (the subscription is gone); "skipped" (nothing to send: done, or no such row).
    outcome: str
    retry_in: float | None = None


def send_one(runtime: WorkerRuntime, delivery_id: int, cap: float) -> Attempt:
    """Claim, send and record one delivery."""
    claimed = runtime.run(_claim(runtime, delivery_id))
    if claimed is None:
        return Attempt("skipped")
    if isinstance(claimed, store.Busy):
        # Another worker is sending it; look again once its claim could have expired.
        return Attempt("retry", min(cap, claimed.seconds + 0.5))

    def on_wire() -> None:
        # Committed before the first byte: a crash from here on may leave the push delivered,
        # so a takeover closes the delivery instead of sending it again (deliveries.claim).
        runtime.run(_mark_on_wire(runtime, claimed))

    try:
        with before_first_byte(on_wire):
            result = _send(runtime, claimed)
    except ClaimLost:
        return Attempt("skipped")
    except (PayloadTooLarge, ValueError, TypeError) as exc:
        # Not the push service's doing: a payload or VAPID configuration that can never work.
        # Retrying would only repeat it.
        log.error("push delivery %s cannot be sent: %s", delivery_id, type(exc).__name__)
        runtime.run(_give_up(runtime, delivery_id, "unsendable"))
        return Attempt("failed")
    delay: float | None = None
    if result.should_retry and claimed.attempts < store.MAX_ATTEMPTS:
        delay = retry_delay(result, claimed.attempts, cap)
    runtime.run(_record(runtime, claimed, result, delay))
    if delay is not None:
        return Attempt("retry", delay)
    if result.outcome is DeliveryOutcome.DELIVERED:
        return Attempt("sent")
    if result.should_delete_subscription:
        return Attempt("dropped")
    if result.should_retry:
        log.warning("push delivery %s given up after %s attempts", delivery_id, claimed.attempts)
    return Attempt("failed")


def register(app: Celery, settings: Settings) -> None:
    """Register `push.send`."""
    cap = retry_backoff_max(settings)

    @app.task(name=jobs.PUSH_SEND, bind=True, shared=False, **task_options(settings))
    def send(self: Any, *delivery_ids: int) -> int:
        """Send each delivery in turn and return how many were sent (not failed, dropped or
        waiting); one that must wait is queued again on its own.

        A rerun of the whole message (an exception half-way) repeats nothing: every delivery
        is claimed and recorded by itself.
        """
        runtime = get_runtime(self.app)
        sent = 0
        for delivery_id in delivery_ids:
            attempt = send_one(runtime, int(delivery_id), cap)
            if attempt.outcome == "sent":
                sent += 1
            if attempt.retry_in is None:
                continue
            # The row says when; this message is the prompt way there (the sweep is the slow one).
            self.app.send_task(
                jobs.PUSH_SEND,
                args=[int(delivery_id)],
                queue=jobs.queue_of(jobs.PUSH_SEND),
                countdown=attempt.retry_in,
            )
        return sent
