"""Sending messages: group commit per room, one way.

One writer task per room per process drains the room's pending sends into a single
autocommitted statement (`api.domain.sequencing`): it reserves k sequence numbers at once
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
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import exc as sa_exc
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from api.domain import metrics, outbox
from api.domain.auth import AuthUser
from api.domain.context import Services
from api.domain.errors import DomainError, Forbidden, Invalid, RateLimited
from api.domain.messages_validate import Draft, find_display_name_mentions
from api.domain.rate_limit import SharedRateLimiter
from api.domain.sequencing import NewMessage, insert_sequenced
from api.domain.timefmt import iso

log = logging.getLogger(__name__)

MAX_BATCH = 256
WRITER_ROLES = ("OWNER", "EDITOR")


@dataclass(slots=True)
class SendRequest:
    """One pending send, resolved by the room's writer."""

    room_id: uuid.UUID
    sender: AuthUser
    draft: Draft
    # Whoever asked, opaque to the domain: the WebSocket layer answers it (an ack) from the outcome.
    origin: object | None = None
    future: asyncio.Future[dict[str, Any]] = field(
        default_factory=lambda: asyncio.get_running_loop().create_future()
    )


@dataclass(slots=True)
class Outcome:
    """What one batch did: requests answered, and the messages it stored (none if all were repeats)."""

    room_id: str
    room_title: str
    # Requests answered by this batch, in submission order, each with its message's ack fields
    # (`client_id`, `message_id`, `sequence_number`, `created_at`).
    answers: list[tuple[SendRequest, dict[str, Any]]]
    # Message objects stored by this batch, in sequence order, starting at `first_seq`.
    messages: list[dict[str, Any]]
    first_seq: int
    committed_at: float


def ack_fields(message: dict[str, Any]) -> dict[str, Any]:
    return {
        "client_id": message["client_id"],
        "message_id": message["message_id"],
        "sequence_number": message["sequence_number"],
        "created_at": message["created_at"],
    }


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


# One round trip before the room lock: each sender's role and display name (kind 's'), and the
# messages already stored under one of the batch's (sender, client_id) pairs (kind 'e').
_CHECK = text(
    """
    SELECT 's' AS kind, s.user_id, u.display_name, m.role,
           NULL AS client_id, NULL::uuid AS message_id, NULL::bigint AS sequence_number,
           NULL::timestamptz AS created_at
    FROM unnest(CAST(:senders AS text[])) AS s(user_id)
    LEFT JOIN tr_users u ON u.user_id = s.user_id
    LEFT JOIN room_members m ON m.room_id = :r AND m.user_id = s.user_id
    UNION ALL
    SELECT 'e', sender_id, NULL, NULL, client_id, message_id, sequence_number, created_at
    FROM messages
    WHERE room_id = :r AND (sender_id, client_id) IN (
        SELECT * FROM unnest(CAST(:cid_senders AS text[]), CAST(:cids AS text[])))
    """
)
_FILES = text("SELECT file_id FROM uploaded_files WHERE room_id = :r AND file_id = ANY(CAST(:ids AS uuid[]))")
_MEMBERS = text(
    "SELECT m.user_id, COALESCE(u.display_name, m.user_id) AS display_name "
    "FROM room_members m LEFT JOIN tr_users u ON u.user_id = m.user_id WHERE m.room_id = :r"
)


@dataclass(slots=True)
class _SameAs:
    """A request repeating, within its batch, the client_id of an earlier one: answered with its message."""

    first: NewMessage


@dataclass(slots=True)
class _Batch:
    """One batch on its way through the steps."""

    room_id: uuid.UUID
    live: list[SendRequest]
    senders: dict[str, Any] = field(default_factory=dict)
    # Per sender, how many sends the shared rate limit granted.
    granted: dict[str, int] = field(default_factory=dict)
    existing: dict[tuple[str, str], Any] = field(default_factory=dict)
    # Requests answered (in submission order) and the new messages, in the order they are stored.
    answers: list[tuple[SendRequest, NewMessage | _SameAs | dict[str, Any]]] = field(default_factory=list)
    new: list[NewMessage] = field(default_factory=list)


class MessageWriter:
    """Per-process group commit: one writer task per room with pending sends."""

    def __init__(self, services: Services) -> None:
        self.services = services
        settings = services.settings
        self.limiter = SharedRateLimiter(
            services.redis, services.bus.prefix, settings.rate_limit_per_second, settings.rate_limit_burst
        )
        self._rooms: dict[uuid.UUID, _RoomQueue] = {}
        self.batches = 0
        self.messages = 0
        # Takes each batch's outcome, synchronously, before the senders' futures resolve.
        self.sink: Callable[[Outcome], None] | None = None

    def submit(self, request: SendRequest) -> asyncio.Future[dict[str, Any]]:
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

    async def send(self, request: SendRequest) -> dict[str, Any]:
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
        batch = _Batch(room_id, live)
        # Autocommit: the checks are single reads, and the write is one statement that reserves
        # the numbers and inserts the messages and their outbox row atomically. Two round trips
        # per batch, and the room lock is held for no round trip at all.
        async with self.services.db.autocommit() as conn:
            # The rate limit's Redis round trip overlaps the first database read.
            await asyncio.gather(self._read_senders_and_repeats(conn, batch), self._take_tokens(batch))
            self._authorise(batch)
            self._deduplicate(batch)
            await self._limit(batch)
            await self._check_files(conn, batch)
            if not batch.live:
                self._announce(batch, None, [], started)
                return
            await self._resolve_mentions(conn, batch)
            title, first_seq, stored = await self._store(conn, batch)
        self._announce(batch, title, stored, started, first_seq)

    # ------------------------------------------------------------------ the steps

    @staticmethod
    async def _read_senders_and_repeats(conn: AsyncConnection, batch: _Batch) -> None:
        with_cid = [r for r in batch.live if r.draft.client_id]
        params = {
            "r": batch.room_id,
            "senders": sorted({r.sender.user_id for r in batch.live}),
            "cid_senders": [r.sender.user_id for r in with_cid],
            "cids": [r.draft.client_id for r in with_cid],
        }
        for row in (await conn.execute(_CHECK, params)).all():
            if row.kind == "s":
                batch.senders[row.user_id] = row
            else:
                batch.existing[(row.user_id, row.client_id)] = row

    async def _take_tokens(self, batch: _Batch) -> None:
        wanted: dict[str, int] = {}
        for req in batch.live:
            wanted[req.sender.user_id] = wanted.get(req.sender.user_id, 0) + 1
        batch.granted = await self.limiter.take(str(batch.room_id), wanted)

    async def _limit(self, batch: _Batch) -> None:
        """Sends past what the shared rate limit granted their sender are refused, the latest first.

        Tokens taken for sends that needed none (refused, or repeating a stored client_id, so a
        client resending after a reconnect is not refused) are given back.
        """
        left = dict(batch.granted)
        kept: list[SendRequest] = []
        for req in batch.live:
            user_id = req.sender.user_id
            if left.get(user_id, 1) > 0:
                left[user_id] = left.get(user_id, 1) - 1
                kept.append(req)
            else:
                req.future.set_exception(RateLimited("too many messages; slow down"))
        batch.live = kept
        unused = {user_id: -n for user_id, n in left.items() if n > 0}
        if unused:
            await self.limiter.take(str(batch.room_id), unused)

    @staticmethod
    def _authorise(batch: _Batch) -> None:
        """The one role check of a send, against the database at the time of the batch."""
        allowed: list[SendRequest] = []
        for req in batch.live:
            row = batch.senders.get(req.sender.user_id)
            role = "OWNER" if req.sender.is_admin else (row.role if row else None)
            if role in WRITER_ROLES:
                allowed.append(req)
            else:
                req.future.set_exception(Forbidden("only OWNER and EDITOR members may send messages"))
        batch.live = allowed

    @staticmethod
    def _deduplicate(batch: _Batch) -> None:
        """A client_id already stored is answered with its message (a repeat within the batch: see mentions)."""
        fresh: list[SendRequest] = []
        for req in batch.live:
            cid = req.draft.client_id
            row = batch.existing.get((req.sender.user_id, cid)) if cid else None
            if row is not None:
                batch.answers.append(
                    (
                        req,
                        {
                            "client_id": row.client_id,
                            "message_id": str(row.message_id),
                            "sequence_number": int(row.sequence_number),
                            "created_at": iso(row.created_at),
                            "duplicate": True,
                        },
                    )
                )
            else:
                fresh.append(req)
        batch.live = fresh

    @staticmethod
    async def _check_files(conn: AsyncConnection, batch: _Batch) -> None:
        ids = [r.draft.file_id for r in batch.live if r.draft.file_id is not None]
        if not ids:
            return
        found = {row.file_id for row in (await conn.execute(_FILES, {"r": batch.room_id, "ids": ids})).all()}
        kept: list[SendRequest] = []
        for req in batch.live:
            if req.draft.file_id is not None and req.draft.file_id not in found:
                req.future.set_exception(Invalid("file_id is not a file uploaded to this room"))
            else:
                kept.append(req)
        batch.live = kept

    @staticmethod
    async def _resolve_mentions(conn: AsyncConnection, batch: _Batch) -> None:
        """The new messages, with mentions kept only for members (listed or written as @Display Name).

        A client_id repeated within the batch makes no second message.
        """
        members: dict[str, str] | None = None
        if any(r.draft.mentions or (r.draft.content and "@" in r.draft.content) for r in batch.live):
            rows = (await conn.execute(_MEMBERS, {"r": batch.room_id})).all()
            members = {row.user_id: row.display_name for row in rows}
        first_of: dict[tuple[str, str], NewMessage] = {}
        for req in batch.live:
            d = req.draft
            key = (req.sender.user_id, d.client_id) if d.client_id else None
            if key and key in first_of:
                batch.answers.append((req, _SameAs(first_of[key])))
                continue
            mentions: list[str] = []
            if members is not None:
                mentions = [u for u in d.mentions if u in members]
                if d.content:
                    mentions += [u for u in find_display_name_mentions(d.content, members) if u not in mentions]
            new = NewMessage(
                sender_id=req.sender.user_id,
                message_type=d.message_type,
                content=d.content,
                data=d.data,
                mentions=mentions,
                file_id=d.file_id,
                file_url=f"/api/files/{d.file_id}" if d.file_id else None,
                client_id=d.client_id,
            )
            if key:
                first_of[key] = new
            batch.new.append(new)
            batch.answers.append((req, new))

    async def _store(self, conn: AsyncConnection, batch: _Batch) -> tuple[str, int, list[dict[str, Any]]]:
        """Reserve the numbers and insert the messages and their outbox row: one statement."""
        reserved, stored = await insert_sequenced(
            conn,
            batch.room_id,
            batch.new,
            outbox_row=(
                outbox.MESSAGES_CREATED,
                {"room_id": str(batch.room_id), "message_ids": [str(n.message_id) for n in batch.new]},
            ),
        )
        messages = [self._message_object(batch, nm, seq, created) for nm, seq, created in stored]
        return reserved.title, reserved.first_seq, messages

    @staticmethod
    def _message_object(batch: _Batch, nm: NewMessage, seq: int, created: Any) -> dict[str, Any]:
        sender = batch.senders.get(nm.sender_id)
        return {
            "message_id": str(nm.message_id),
            "room_id": str(batch.room_id),
            "sender_id": nm.sender_id,
            "sender_display_name": sender.display_name if sender and sender.display_name else nm.sender_id,
            "content": nm.data if nm.message_type == "incident_data" else nm.content,
            "message_type": nm.message_type,
            "mentions": nm.mentions,
            "file_id": str(nm.file_id) if nm.file_id else None,
            "file_url": nm.file_url,
            "client_id": nm.client_id,
            "created_at": iso(created),
            "edited_at": None,
            "deleted_at": None,
            "sequence_number": seq,
            "reactions": {},
        }

    def _announce(
        self,
        batch: _Batch,
        title: str | None,
        stored: list[dict[str, Any]],
        started: float,
        first_seq: int = 0,
    ) -> None:
        """Committed (or nothing to commit): hand the outcome to the sink, then resolve the futures."""
        if stored:
            self.services.outbox_kick()
            metrics.BATCH_SECONDS.observe(time.perf_counter() - started)
            self.batches += 1
            self.messages += len(stored)
            metrics.MESSAGE_BATCHES.inc()
            metrics.MESSAGES_PERSISTED.inc(len(stored))
        by_new = {id(nm): obj for nm, obj in zip(batch.new, stored, strict=True)}
        answers: list[tuple[SendRequest, dict[str, Any]]] = []
        results: list[tuple[SendRequest, dict[str, Any]]] = []
        for req, what in batch.answers:
            if isinstance(what, NewMessage | _SameAs):
                obj = by_new[id(what if isinstance(what, NewMessage) else what.first)]
                answers.append((req, ack_fields(obj)))
            else:
                obj = what
                answers.append((req, {k: v for k, v in what.items() if k != "duplicate"}))
            results.append((req, obj))
        if self.sink is not None and answers:
            outcome = Outcome(str(batch.room_id), title or "", answers, stored, first_seq, time.time())
            try:
                self.sink(outcome)
            except Exception:
                log.exception("announcing a batch failed; receivers fill the gap from the database")
        for req, obj in results:
            if not req.future.done():
                req.future.set_result(obj)
