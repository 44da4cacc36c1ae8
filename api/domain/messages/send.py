"""Sending messages: group commit per room, one way.

One writer task per room per process drains the room's pending sends into a single
autocommitted statement (`api.domain.messages.sequencing`): it reserves k sequence numbers at once
under the room row lock and inserts k rows and their outbox row, so a hot room does far more
than one commit per message allows.

The writer knows nothing of sockets. Each batch goes through named steps (read the senders
and earlier client ids, authorise, deduplicate, check files, resolve mentions, store), and
once stored it hands one `Outcome` to its sink, synchronously, before resolving the senders'
futures: the WebSocket layer (`api.ws.announcer`) turns it into acks, this process's fan-out
and the Redis publish, in that order, so a sender sees its ack before its own message.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import exc as sa_exc

from api.domain.core import metrics
from api.domain.core.errors import DomainError, Invalid
from api.domain.core.rate_lease import LeasedRateLimiter
from api.domain.core.services import Services
from api.domain.events import Ack, Message
from api.domain.messages.batch import Batch, BatchSteps, SendRequest

log = logging.getLogger(__name__)

MAX_BATCH = 256


@dataclass(slots=True)
class Outcome:
    """What one batch did: requests answered, and the messages it stored (none if all were repeats)."""

    room_id: str
    room_title: str
    # Requests answered by this batch, in submission order, each with what its ack is made of:
    # the message stored, or (a repeated client id) the ack of the message stored earlier.
    answers: list[tuple[SendRequest, Message | Ack]]
    # Message objects stored by this batch, in sequence order, starting at `first_seq`.
    messages: list[Message]
    first_seq: int
    committed_at: float


class _RoomQueue:
    __slots__ = ("done", "pending", "submitted", "task", "waiters")

    def __init__(self) -> None:
        self.pending: deque[SendRequest] = deque()
        self.task: asyncio.Task[None] | None = None
        # Sends queued / resolved so far, and `settle()` callers waiting for a count.
        self.submitted = 0
        self.done = 0
        self.waiters: list[tuple[int, asyncio.Future[None]]] = []

    def wake(self, everyone: bool = False) -> None:
        still: list[tuple[int, asyncio.Future[None]]] = []
        for target, waiter in self.waiters:
            if everyone or self.done >= target:
                if not waiter.done():
                    waiter.set_result(None)
            else:
                still.append((target, waiter))
        self.waiters = still


class MessageWriter:
    """Per-process group commit: one writer task per room with pending sends."""

    def __init__(self, services: Services) -> None:
        self.services = services
        settings = services.settings
        # Leased: a steady sender's batch takes its tokens with no Redis round trip.
        self.limiter = LeasedRateLimiter(
            services.redis, services.bus.prefix, settings.rate_limit_per_second, settings.rate_limit_burst
        )
        self.steps = BatchSteps(self.limiter)
        self._rooms: dict[uuid.UUID, _RoomQueue] = {}
        # Takes each batch's outcome, synchronously, before the senders' futures resolve.
        self.sink: Callable[[Outcome], None] | None = None

    def submit(self, request: SendRequest) -> asyncio.Future[Message | Ack]:
        """Queue a send now; the future resolves to the message object (or the first one, for a
        repeated client_id) once its batch has committed, or fails with the batch."""
        queue = self._rooms.get(request.room_id)
        if queue is None:
            queue = self._rooms[request.room_id] = _RoomQueue()
        queue.pending.append(request)
        queue.submitted += 1
        if queue.task is None or queue.task.done():
            queue.task = asyncio.create_task(self._drain(request.room_id, queue))
        return request.future

    async def send(self, request: SendRequest) -> Message | Ack:
        """Queue a send and wait for its outcome (see :meth:`submit`)."""
        return await self.submit(request)

    async def settle(self, timeout: float) -> bool:  # noqa: ASYNC109
        """Wait until every send submitted so far has committed or failed; False on timeout.

        Graceful drain: a sender whose message was taken gets its ack (or its error) before
        the socket closes, and no batch is left half-way when the process exits.
        """
        loop = asyncio.get_running_loop()
        waits: list[asyncio.Future[Any]] = []
        for queue in self._rooms.values():
            if queue.done < queue.submitted:
                waiter: asyncio.Future[None] = loop.create_future()
                queue.waiters.append((queue.submitted, waiter))
                waits.append(waiter)
        if not waits:
            return True
        _done, pending = await asyncio.wait(waits, timeout=timeout)
        return not pending

    async def aclose(self) -> None:
        """Give this process's rate-limit leases back to Redis (after `settle`, on shutdown)."""
        await self.limiter.close()

    async def _drain(self, room_id: uuid.UUID, queue: _RoomQueue) -> None:
        try:
            while queue.pending:
                batch: list[SendRequest] = []
                while queue.pending and len(batch) < MAX_BATCH:
                    batch.append(queue.pending.popleft())
                try:
                    await self._commit_batch(room_id, batch)
                finally:
                    queue.done += len(batch)
                    if queue.waiters:
                        queue.wake()
        finally:
            if queue.waiters:
                queue.wake(everyone=True)
            if self._rooms.get(room_id) is queue and not queue.pending:
                del self._rooms[room_id]

    async def _commit_batch(self, room_id: uuid.UUID, requests: list[SendRequest]) -> None:
        for attempt in range(3):
            try:
                await self._try_batch(room_id, requests)
                return
            except sa_exc.IntegrityError:
                # A concurrent process stored one of these client_ids after our check: the
                # retry's duplicate check under fresh data finds it.
                if attempt == 2:
                    self._fail(requests, DomainError("could not store the message, try again", code="unavailable"))
                    return
            except DomainError as err:
                self._fail(requests, err)
                return
            except sa_exc.DBAPIError as exc:
                live = [r for r in requests if not r.future.done()]
                if len(live) > 1 and not exc.connection_invalidated:
                    # The database refused something in one of these messages that validation let
                    # through: store them one by one, so only that message fails.
                    log.warning("message batch refused (%s); retrying its messages one by one", type(exc.orig).__name__)
                    for request in live:
                        await self._commit_batch(room_id, [request])
                    return
                if isinstance(exc, sa_exc.DataError):
                    # Bad input, not a server fault: resending it would fail again.
                    self._fail(live, Invalid("the message's content cannot be stored"))
                    return
                log.exception("message batch failed")
                self._fail(requests, exc)
                return
            except Exception as exc:
                log.exception("message batch failed")
                self._fail(requests, exc)
                return

    @staticmethod
    def _fail(requests: list[SendRequest], err: BaseException) -> None:
        for req in requests:
            if not req.future.done():
                req.future.set_exception(err)

    async def _try_batch(self, room_id: uuid.UUID, requests: list[SendRequest]) -> None:
        live = [r for r in requests if not r.future.done()]
        if not live:
            return
        started = time.perf_counter()
        batch = Batch(room_id, live)
        steps = self.steps
        # Autocommit: the checks are single reads, and the write is one statement that reserves
        # the numbers and inserts the messages and their outbox row atomically. Two round trips
        # per batch, and the room lock is held for no round trip at all.
        async with self.services.db.autocommit() as conn:
            # The rate limit's Redis round trip overlaps the first database read.
            await asyncio.gather(steps.read_senders_and_repeats(conn, batch), steps.take_tokens(batch))
            steps.authorise(batch)
            steps.deduplicate(batch)
            await steps.limit(batch)
            await steps.check_files(conn, batch)
            if not batch.live:
                self._announce(batch, None, [], started)
                return
            await steps.resolve_mentions(conn, batch)
            title, first_seq, stored = await steps.store(conn, batch)
            if stored and self.services.replica is not None:
                # Before the acks: a sender's next history read must find these on the replica.
                await self.services.replica.note_write((m.sender_id for m in stored), conn)
        self._announce(batch, title, stored, started, first_seq)

    # ------------------------------------------------------------------ the steps

    def _announce(
        self,
        batch: Batch,
        title: str | None,
        stored: list[Message],
        started: float,
        first_seq: int = 0,
    ) -> None:
        """Committed (or nothing to commit): hand the outcome to the sink, then resolve the futures."""
        if stored:
            self.services.outbox_kick()
            metrics.BATCH_SECONDS.observe(time.perf_counter() - started)
            metrics.MESSAGE_BATCHES.inc()
            metrics.MESSAGES_PERSISTED.inc(len(stored))
        answers, results = self.steps.answers(batch, stored)
        if self.sink is not None and answers:
            outcome = Outcome(str(batch.room_id), title or "", answers, stored, first_seq, time.time())
            try:
                self.sink(outcome)
            except Exception:
                log.exception("announcing a batch failed; receivers fill the gap from the database")
        for req, obj in results:
            if not req.future.done():
                req.future.set_result(obj)
