"""The outbox relay: turns committed outbox rows (and planned pushes) into queued jobs.

Framework-free on purpose: it knows jobs only by name (`api.domain.outbox.jobs`) and hands them to an
`enqueue` callable; the worker process supplies one that publishes to Celery. The API never runs
the relay and never imports Celery: after a commit that wrote outbox rows it calls
:class:`OutboxKicker`, which pushes a one-byte wake-up onto a Redis list that the relay blocks
on, so a new row is usually queued within milliseconds rather than at the next sweep.

Delivery guarantees, and where each comes from:

* A row is claimed with ``FOR UPDATE SKIP LOCKED``, its jobs are published, and only then is it
  marked ``enqueued_at`` in the same transaction. If publishing fails (Redis down) the
  transaction rolls back and the row stays unsent; if the relay dies after publishing but
  before COMMIT, the row is published again later (a duplicate, which tasks drop by id).
  Several relays (one per worker process) never publish the same row at the same time.
* Every pass also sweeps rows enqueued longer than ``stale_seconds`` ago (doubling per attempt,
  capped) whose jobs have not all finished: a queue message lost with a Redis restart, or a
  worker that died, only delays the job.
* The same two rules apply to ``push_deliveries``, plus one more: a delivery claimed by a
  worker that then went silent for longer than ``claim_timeout`` is sent again if its request
  never left (``wire_at`` unset), and closed as ``interrupted`` otherwise (never sent twice).
* Queue messages lost with the broker (a Redis restart without persistence) are not left to the
  age rule: the worker's broker watch (`workers.broker_watch`) notices that Redis lost its data
  and calls :meth:`OutboxRelay.forget_enqueued`, so every unfinished row is published again on
  the next pass, seconds after Redis is back.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from redis.asyncio import Redis
from sqlalchemy import text

from api.domain.core.db import Database
from api.domain.outbox import jobs

log = logging.getLogger(__name__)

Enqueue = Callable[[Sequence[jobs.Job]], Awaitable[None]]

BATCH = 500
# However often a row has been re-sent, it is tried again at least this often.
MAX_STALE_SECONDS = 3600.0
# A row re-sent this often points at a bug or a long outage: say so in the log.
WARN_ATTEMPTS = 5


def kick_key(prefix: str) -> str:
    """The Redis list the relay blocks on; one element means 'look at the outbox now'."""
    return f"{prefix}:outbox:kick"


class OutboxKicker:
    """`Services.outbox_kick` for the API: wake the relay after a commit, without waiting for it.

    Calls are coalesced: while one wake-up is on its way, further calls only ask for one more
    after it, so a burst of commits costs a couple of Redis round trips, and a commit that lands
    while the relay is already draining is still seen by a later drain. A failure is logged and
    otherwise ignored: the relay's periodic sweep finds the rows anyway.
    """

    def __init__(self, redis: Redis, prefix: str, timeout: float = 2.0) -> None:
        self._redis = redis
        self._key = kick_key(prefix)
        self._timeout = timeout
        self._task: asyncio.Task[None] | None = None
        self._again = False

    def __call__(self) -> None:
        """Schedule a wake-up on the running event loop (a no-op outside one)."""
        if self._task is not None and not self._task.done():
            self._again = True
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return
        self._task = loop.create_task(self._run())

    async def _run(self) -> None:
        while True:
            self._again = False
            try:
                async with asyncio.timeout(self._timeout):
                    pipe = self._redis.pipeline(transaction=False)
                    pipe.lpush(self._key, b"1")
                    # At most one pending wake-up: the relay drains everything on each one.
                    pipe.ltrim(self._key, 0, 0)
                    await pipe.execute()
            except Exception as exc:
                log.warning(
                    "outbox wake-up failed (%s); the relay's sweep will find the rows", type(exc).__name__
                )
                return
            if not self._again:
                return

    async def aclose(self) -> None:
        """Wait for a wake-up in flight (at shutdown)."""
        if self._task is not None and not self._task.done():
            await asyncio.wait([self._task], timeout=self._timeout)


async def wait_for_kick(redis: Redis, prefix: str, seconds: float) -> bool:
    """Block until a wake-up arrives (True) or `seconds` pass (False).

    The wait happens in Redis (BLPOP), not in an asyncio timeout: cancelling a BLPOP half-way
    would leave its reply on the connection for the next command to read. Each BLPOP waits
    less than the client's socket timeout (redis-py's default is 5 s, the sweep interval too):
    a BLPOP as long as the socket timeout fails with a timeout on every idle pass.
    """
    limit = redis.connection_pool.connection_kwargs.get("socket_timeout")
    step = seconds if not limit else max(0.1, min(seconds, float(limit) - 1.0))
    loop = asyncio.get_running_loop()
    deadline = loop.time() + seconds
    while True:
        if await redis.blpop([kick_key(prefix)], timeout=step) is not None:
            return True
        remaining = deadline - loop.time()
        if remaining <= 0.01:
            return False
        step = min(step, remaining)


_DUE_OUTBOX = text(
    """
    SELECT outbox_id, kind, done_jobs, attempts
    FROM outbox
    WHERE done_at IS NULL
      AND (enqueued_at IS NULL
           OR enqueued_at < now() - make_interval(
                secs => LEAST(CAST(:stale AS float8) * power(2, GREATEST(attempts - 1, 0)), :max_stale)))
    ORDER BY outbox_id
    LIMIT :n
    FOR UPDATE SKIP LOCKED
    """
)
_MARK_OUTBOX = text(
    "UPDATE outbox SET enqueued_at = now(), attempts = attempts + 1 WHERE outbox_id = ANY(CAST(:ids AS bigint[]))"
)
_CLOSE_OUTBOX = text("UPDATE outbox SET done_at = now() WHERE outbox_id = ANY(CAST(:ids AS bigint[]))")

_DUE_DELIVERIES = """
    SELECT delivery_id
    FROM push_deliveries
    WHERE status IN ('pending', 'sending')
      AND (
        (status = 'pending'
         AND (next_attempt_at IS NULL OR next_attempt_at <= now())
         AND (enqueued_at IS NULL
              OR GREATEST(enqueued_at, COALESCE(next_attempt_at, enqueued_at))
                 < now() - make_interval(secs => CAST(:stale AS float8))))
        OR
        (status = 'sending' AND wire_at IS NULL
         AND claimed_at < now() - make_interval(secs => CAST(:claim AS float8))
         AND (enqueued_at IS NULL OR enqueued_at < now() - make_interval(secs => CAST(:claim AS float8))))
      )
      {extra}
    ORDER BY delivery_id
    LIMIT :n
    FOR UPDATE SKIP LOCKED
"""
_DUE_DELIVERIES_ANY = text(_DUE_DELIVERIES.format(extra=""))
_DUE_DELIVERIES_OF_OUTBOX = text(
    _DUE_DELIVERIES.format(extra="AND outbox_id = ANY(CAST(:outboxes AS bigint[]))")
)
_MARK_DELIVERIES = text(
    "UPDATE push_deliveries SET enqueued_at = now() WHERE delivery_id = ANY(CAST(:ids AS bigint[]))"
)
# Abandoned claims whose request had left: the push service may have the push, so never resend
# (the same rule as `api.domain.push.deliveries.claim`, which this layer cannot import).
_CLOSE_INTERRUPTED = text(
    """
    UPDATE push_deliveries
    SET status = 'failed', finished_at = now(), last_outcome = 'interrupted'
    WHERE status = 'sending' AND wire_at IS NOT NULL
      AND claimed_at < now() - make_interval(secs => CAST(:claim AS float8))
    """
)
# The broker lost its queues: whatever was published and is not finished must be published again.
_FORGET_OUTBOX = text(
    "UPDATE outbox SET enqueued_at = NULL WHERE done_at IS NULL AND enqueued_at IS NOT NULL"
)
_FORGET_DELIVERIES = text(
    "UPDATE push_deliveries SET enqueued_at = NULL WHERE status = 'pending' AND enqueued_at IS NOT NULL"
)


# Urgent pages whose next round is due (docs/alerts.md); a published one that did not run within
# the stale age (its queue message lost) is published again; the task's round guard makes a
# second copy a no-op.
_DUE_PAGES = text(
    """
    SELECT page_id, rounds_sent FROM urgent_pages
    WHERE done_at IS NULL AND next_at <= now()
      AND (enqueued_at IS NULL OR enqueued_at < now() - make_interval(secs => CAST(:stale AS float8)))
    ORDER BY next_at
    LIMIT :n
    FOR UPDATE SKIP LOCKED
    """
)
_MARK_PAGES = text("UPDATE urgent_pages SET enqueued_at = now() WHERE page_id = ANY(CAST(:ids AS bigint[]))")
_NEXT_PAGE = text(
    """
    SELECT EXTRACT(EPOCH FROM (min(next_at) - now())) AS wait FROM urgent_pages
    WHERE done_at IS NULL AND next_at IS NOT NULL AND enqueued_at IS NULL
    """
)
_FORGET_PAGES = text("UPDATE urgent_pages SET enqueued_at = NULL WHERE done_at IS NULL AND enqueued_at IS NOT NULL")


# How long the relay lets commits accumulate after a wake-up before draining.
COALESCE_SECONDS = 0.05


class OutboxRelay:
    """Publishes due outbox rows and push deliveries through `enqueue` (see the module notes)."""

    def __init__(
        self,
        db: Database,
        enqueue: Enqueue,
        *,
        stale_seconds: float,
        claim_timeout: float,
        batch: int = BATCH,
        coalesce_seconds: float = COALESCE_SECONDS,
    ) -> None:
        self.db = db
        self.enqueue = enqueue
        self.stale_seconds = stale_seconds
        self.claim_timeout = claim_timeout
        self.batch = batch
        self.coalesce_seconds = coalesce_seconds

    async def drain(self) -> int:
        """Publish everything due now; returns how many jobs were published."""
        total = 0
        while True:
            rows, published = await self.relay_outbox()
            total += published
            deliveries = await self.relay_deliveries()
            total += deliveries
            pages = await self.relay_pages()
            total += pages
            if rows < self.batch and deliveries < self.batch and pages < self.batch:
                return total

    async def relay_outbox(self) -> tuple[int, int]:
        """One batch of due outbox rows; returns (rows claimed, jobs published)."""
        async with self.db.transaction() as uow:
            rows = (
                await uow.conn.execute(
                    _DUE_OUTBOX,
                    {"stale": self.stale_seconds, "max_stale": MAX_STALE_SECONDS, "n": self.batch},
                )
            ).all()
            if not rows:
                return 0, 0
            missing_by_job: dict[str, list[int]] = {}
            published_ids: list[int] = []
            nothing_left: list[int] = []
            for row in rows:
                done = set(row.done_jobs or ())
                missing = [name for name in jobs.jobs_for(row.kind) if name not in done]
                if not missing:
                    # A kind without side effects (or every job already finished): nothing to
                    # queue, and leaving the row open would sweep it forever.
                    if not jobs.jobs_for(row.kind):
                        log.warning("outbox row of unknown kind %r closed without a job", row.kind)
                    nothing_left.append(int(row.outbox_id))
                    continue
                if row.attempts >= WARN_ATTEMPTS:
                    log.warning(
                        "outbox row %s (%s) queued %s times and still not done",
                        row.outbox_id,
                        row.kind,
                        row.attempts,
                    )
                for name in missing:
                    missing_by_job.setdefault(name, []).append(int(row.outbox_id))
                published_ids.append(int(row.outbox_id))
            to_publish = [job for name, ids in missing_by_job.items() for job in jobs.outbox_jobs(name, ids)]
            if to_publish:
                # Inside the transaction: a failure here rolls the claim back.
                await self.enqueue(to_publish)
                await uow.conn.execute(_MARK_OUTBOX, {"ids": published_ids})
            if nothing_left:
                await uow.conn.execute(_CLOSE_OUTBOX, {"ids": nothing_left})
            return len(rows), len(to_publish)

    async def relay_deliveries(self, outbox_ids: Sequence[int] | None = None) -> int:
        """One batch of due push deliveries (of these outbox rows, if given); returns how many."""
        params: dict[str, Any] = {"stale": self.stale_seconds, "claim": self.claim_timeout, "n": self.batch}
        query = _DUE_DELIVERIES_ANY
        if outbox_ids is not None:
            query = _DUE_DELIVERIES_OF_OUTBOX
            params["outboxes"] = [int(i) for i in outbox_ids]
        async with self.db.transaction() as uow:
            if outbox_ids is None:
                await uow.conn.execute(_CLOSE_INTERRUPTED, {"claim": self.claim_timeout})
            ids = [int(r.delivery_id) for r in (await uow.conn.execute(query, params)).all()]
            if not ids:
                return 0
            await self.enqueue(jobs.push_send_jobs(ids))
            await uow.conn.execute(_MARK_DELIVERIES, {"ids": ids})
            return len(ids)

    async def relay_pages(self) -> int:
        """One batch of urgent pages whose next round is due; returns how many were published."""
        async with self.db.transaction() as uow:
            rows = (
                await uow.conn.execute(_DUE_PAGES, {"stale": self.stale_seconds, "n": self.batch})
            ).all()
            if not rows:
                return 0
            await self.enqueue(jobs.urgent_page_jobs([(int(r.page_id), int(r.rounds_sent)) for r in rows]))
            await uow.conn.execute(_MARK_PAGES, {"ids": [int(r.page_id) for r in rows]})
            return len(rows)

    async def next_page_in(self) -> float | None:
        """Seconds until the next urgent page round is due (None: none is scheduled)."""
        async with self.db.read() as conn:
            wait = (await conn.execute(_NEXT_PAGE)).scalar()
        return None if wait is None else max(0.0, float(wait))

    async def forget_enqueued(self) -> tuple[int, int]:
        """Treat every unfinished outbox row and pending delivery as never published.

        For when the broker lost its queues (Redis restarted empty): the next pass publishes them
        all again at once instead of each waiting out the stale age. A job that was in fact still
        running somewhere then runs twice, which every task tolerates (done_jobs, row locks,
        delivery claims). Returns (outbox rows, deliveries) affected.
        """
        async with self.db.transaction() as uow:
            rows = await uow.conn.execute(_FORGET_OUTBOX)
            deliveries = await uow.conn.execute(_FORGET_DELIVERIES)
            await uow.conn.execute(_FORGET_PAGES)
            return int(rows.rowcount), int(deliveries.rowcount)  # type: ignore[attr-defined]

    async def run(self, redis: Redis, prefix: str, sweep_seconds: float) -> None:
        """Drain, then wait for a wake-up or `sweep_seconds`, forever (cancel the task to stop).

        Errors (PostgreSQL or Redis unreachable) are logged and retried with a growing pause,
        so the relay outlives outages of either.
        """
        pause = 0.25
        while True:
            try:
                published = await self.drain()
                if published:
                    log.debug("outbox relay queued %s jobs", published)
                # Wake up when the next urgent page round is due, if that comes before the sweep
                # (a new page or round kicks the relay, so this is recomputed then).
                wait = sweep_seconds
                page_in = await self.next_page_in()
                if page_in is not None:
                    wait = max(0.01, min(wait, page_in))
                if await wait_for_kick(redis, prefix, wait) and self.coalesce_seconds > 0:
                    # A batching window, not a synchronisation: commits arriving together become
                    # one job per kind instead of one each (200 commits/s otherwise means 400
                    # Celery tasks/s, more than a worker runs, and the index lag grows seconds long).
                    await asyncio.sleep(self.coalesce_seconds)
                pause = 0.25
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("outbox relay pass failed (%s); retrying in %.1fs", type(exc).__name__, pause)
                await asyncio.sleep(pause)
                pause = min(pause * 2, 10.0)
