"""Sending a message: validation, then group commit per room.

One writer task per room per process drains the room's pending sends into a single
autocommitted statement (`api.domain.sequencing`): it reserves k sequence numbers at once
under the room row lock and inserts k rows and their outbox row, so a hot room does far more
than one commit per message allows. Once it has committed, the writer queues each sender's
`ack`, hands the frames to this process's sockets and then publishes them to Redis, so a
sender sees its ack before its own message comes back.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import time
import uuid
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import msgspec
from sqlalchemy import exc as sa_exc
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from api.domain import metrics, outbox
from api.domain.auth import AuthUser
from api.domain.context import Services
from api.domain.errors import DomainError, Forbidden, Invalid, TooLarge
from api.domain.events import encode
from api.domain.sequencing import NewMessage, insert_sequenced
from api.domain.timefmt import iso

log = logging.getLogger(__name__)

MAX_TEXT = 10_000
MAX_DATA_BYTES = 16 * 1024
MAX_DATA_DEPTH = 5
MAX_MENTIONS = 100
MAX_CLIENT_ID = 64
MAX_BATCH = 256
CLIENT_TYPES = ("text", "image_ref", "file_ref", "incident_data")

_enc = msgspec.json.Encoder()


def json_depth(value: Any, limit: int) -> int:
    """Nesting depth of containers (the outer object is 1); stops counting past `limit`."""
    if not isinstance(value, dict | list):
        return 0
    best = 1
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        node, depth = stack.pop()
        if depth > best:
            best = depth
            if best > limit:
                return best
        children = node.values() if isinstance(node, dict) else node
        for child in children:
            if isinstance(child, dict | list):
                stack.append((child, depth + 1))
    return best


@dataclass(slots=True)
class Draft:
    """A client's `message` frame, validated and normalised."""

    message_type: str
    content: str | None
    data: Any
    mentions: list[str]
    file_id: uuid.UUID | None
    client_id: str | None


def check_draft(frame: dict[str, Any]) -> Draft:
    """Validate a `message` frame per CONTRACT §3 (Invalid / TooLarge)."""
    mtype = frame.get("message_type", "text")
    if mtype is None:
        mtype = "text"
    if not isinstance(mtype, str) or mtype not in CLIENT_TYPES:
        if mtype == "system":
            raise Invalid("clients may not send system messages")
        raise Invalid("message_type must be one of text, image_ref, file_ref, incident_data")
    client_id = frame.get("client_id")
    if client_id is not None and (
        not isinstance(client_id, str) or not client_id or len(client_id) > MAX_CLIENT_ID
    ):
        raise Invalid(f"client_id must be a non-empty string of at most {MAX_CLIENT_ID} characters")
    raw_mentions = frame.get("mentions", [])
    if raw_mentions is None:
        raw_mentions = []
    if not isinstance(raw_mentions, list) or not all(isinstance(x, str) for x in raw_mentions):
        raise Invalid("mentions must be a list of user ids")
    if len(raw_mentions) > MAX_MENTIONS:
        raise Invalid(f"at most {MAX_MENTIONS} mentions")
    mentions = list(dict.fromkeys(x.strip().lower() for x in raw_mentions if x.strip()))
    content = frame.get("content")
    data: Any = None
    text_content: str | None
    if mtype == "incident_data":
        if not isinstance(content, dict):
            raise Invalid("incident_data content must be a JSON object")
        if json_depth(content, MAX_DATA_DEPTH) > MAX_DATA_DEPTH:
            raise Invalid(f"incident_data may be nested at most {MAX_DATA_DEPTH} levels")
        if len(_enc.encode(content)) > MAX_DATA_BYTES:
            raise TooLarge("incident_data is over 16 KiB")
        data, text_content = content, None
    else:
        if content is None and mtype != "text":
            content = ""
        if not isinstance(content, str):
            raise Invalid("content must be a string")
        if len(content) > MAX_TEXT:
            raise TooLarge(f"content is over {MAX_TEXT} characters")
        if mtype == "text" and not content.strip():
            raise Invalid("content must not be empty")
        text_content = content
    file_id: uuid.UUID | None = None
    if mtype in ("image_ref", "file_ref"):
        raw = frame.get("file_id")
        if not isinstance(raw, str):
            raise Invalid("file_id is required for image_ref and file_ref")
        try:
            file_id = uuid.UUID(raw)
        except ValueError as exc:
            raise Invalid("file_id is not a valid UUID") from exc
    return Draft(mtype, text_content, data, mentions, file_id, client_id)


def find_display_name_mentions(content: str, members: dict[str, str]) -> list[str]:
    """User ids whose `@display_name` appears in `content` (longest names win, case-insensitive)."""
    if "@" not in content:
        return []
    lowered = content.lower()
    found: list[str] = []
    taken: list[tuple[int, int]] = []
    for user_id, name in sorted(members.items(), key=lambda kv: -len(kv[1])):
        needle = "@" + name.lower()
        start = 0
        while True:
            i = lowered.find(needle, start)
            if i < 0:
                break
            end = i + len(needle)
            after_ok = end == len(lowered) or not (lowered[end].isalnum() or lowered[end] == "_")
            overlaps = any(a <= i < b for a, b in taken)
            if after_ok and not overlaps:
                taken.append((i, end))
                if user_id not in found:
                    found.append(user_id)
                break
            start = i + 1
    # Also accept a literal @user@example.com form.
    for m in re.finditer(r"@([A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,})", content):
        uid = m.group(1).lower()
        if uid in members and uid not in found:
            found.append(uid)
    return found


@dataclass(slots=True)
class SendRequest:
    """One pending send, resolved by the room's writer."""

    room_id: uuid.UUID
    sender: AuthUser
    draft: Draft
    on_ack: Callable[[bytes], None] | None
    future: asyncio.Future[dict[str, Any]] = field(
        default_factory=lambda: asyncio.get_running_loop().create_future()
    )


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


def _ack(client_id: str | None, message_id: str, seq: int, created_at: str | None) -> bytes:
    return encode(
        {
            "type": "ack",
            "client_id": client_id,
            "message_id": message_id,
            "sequence_number": seq,
            "created_at": created_at,
        }
    )


def _preview(content: Any) -> str:
    textual = content if isinstance(content, str) else _enc.encode(content).decode()
    return textual if len(textual) <= 140 else textual[:139] + "…"


class MessageWriter:
    """Per-process group commit: one writer task per room with pending sends."""

    def __init__(self, services: Services) -> None:
        self.services = services
        self._rooms: dict[uuid.UUID, _RoomQueue] = {}
        self.batches = 0
        self.messages = 0
        # This process's own fan-out, called synchronously with each committed batch
        # (room_id, first sequence number, frames, commit time): local sockets need not wait for the
        # round trip through Redis. The Redis copy that follows is dropped as already seen.
        self.local_deliver: Callable[[str, int, list[bytes], float], None] | None = None
        # Per room, the task publishing the latest batch: publishes stay in commit order
        # without the next batch waiting for them.
        self._publishing: dict[uuid.UUID, asyncio.Task[None]] = {}

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
        waits: list[asyncio.Future[Any]] = [t for t in self._publishing.values() if not t.done()]
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

    async def _commit_batch(self, room_id: uuid.UUID, batch: list[SendRequest]) -> None:
        for attempt in range(3):
            try:
                await self._try_batch(room_id, batch)
                return
            except sa_exc.IntegrityError:
                # A concurrent process stored one of these client_ids after our check: the
                # retry's duplicate check under fresh data finds it.
                if attempt == 2:
                    self._fail(
                        batch, DomainError("could not store the message, try again", code="unavailable")
                    )
                    return
            except DomainError as err:
                self._fail(batch, err)
                return
            except Exception as exc:
                log.exception("message batch failed")
                self._fail(batch, exc)
                return

    @staticmethod
    def _fail(batch: list[SendRequest], err: BaseException) -> None:
        for req in batch:
            if not req.future.done():
                req.future.set_exception(err)

    async def _try_batch(self, room_id: uuid.UUID, batch: list[SendRequest]) -> None:
        services = self.services
        live = [r for r in batch if not r.future.done()]
        if not live:
            return
        started = time.perf_counter()
        # Autocommit: the checks are single reads, and the write is one statement that reserves
        # the numbers and inserts the messages and their outbox row atomically. Two round trips
        # per batch, and the room lock is held for no round trip at all.
        async with services.db.autocommit() as conn:
            with_cid = [r for r in live if r.draft.client_id]
            check = {
                "r": room_id,
                "senders": sorted({r.sender.user_id for r in live}),
                "cid_senders": [r.sender.user_id for r in with_cid],
                "cids": [r.draft.client_id for r in with_cid],
            }
            info: dict[str, Any] = {}
            existing: dict[tuple[str, str], Any] = {}
            for found in (await conn.execute(_CHECK, check)).all():
                if found.kind == "s":
                    info[found.user_id] = found
                else:
                    existing[(found.user_id, found.client_id)] = found
            accepted: list[SendRequest] = []
            for req in live:
                row = info.get(req.sender.user_id)
                role = "OWNER" if req.sender.is_admin else (row.role if row else None)
                if role not in ("OWNER", "EDITOR"):
                    req.future.set_exception(Forbidden("only OWNER and EDITOR members may send messages"))
                else:
                    accepted.append(req)
            if existing:
                accepted = self._answer_duplicates(accepted, existing)
            accepted = await self._check_files(conn, room_id, accepted)
            if not accepted:
                return
            members: dict[str, str] | None = None
            if any(r.draft.mentions or (r.draft.content and "@" in r.draft.content) for r in accepted):
                members = {
                    row.user_id: row.display_name
                    for row in (await conn.execute(_MEMBERS, {"r": room_id})).all()
                }
            new: list[NewMessage] = []
            seen_cids: dict[tuple[str, str], NewMessage] = {}
            dup_of: dict[int, NewMessage] = {}
            for req in accepted:
                d = req.draft
                key = (req.sender.user_id, d.client_id) if d.client_id else None
                if key and key in seen_cids:
                    dup_of[id(req)] = seen_cids[key]
                    continue
                mentions: list[str] = []
                if members is not None:
                    mentions = [u for u in d.mentions if u in members]
                    if d.content:
                        for uid in find_display_name_mentions(d.content, members):
                            if uid not in mentions:
                                mentions.append(uid)
                nm = NewMessage(
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
                    seen_cids[key] = nm
                new.append(nm)
            reserved, stored = await insert_sequenced(
                conn,
                room_id,
                new,
                outbox_row=(
                    outbox.MESSAGES_CREATED,
                    {"room_id": str(room_id), "message_ids": [str(n.message_id) for n in new]},
                ),
            )
            objects: dict[uuid.UUID, dict[str, Any]] = {}
            for nm, seq, created in stored:
                sender_row = info.get(nm.sender_id)
                objects[nm.message_id] = {
                    "message_id": str(nm.message_id),
                    "room_id": str(room_id),
                    "sender_id": nm.sender_id,
                    "sender_display_name": (
                        sender_row.display_name if sender_row and sender_row.display_name else nm.sender_id
                    ),
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

        # Committed: acks first (in the senders' queues), then the broadcast.
        committed_at = time.time()
        services.outbox_kick()
        metrics.BATCH_SECONDS.observe(time.perf_counter() - started)
        self.batches += 1
        self.messages += len(new)
        metrics.MESSAGE_BATCHES.inc()
        metrics.MESSAGES_PERSISTED.inc(len(new))
        frames: list[bytes] = []
        by_new: dict[int, dict[str, Any]] = {}
        for nm, _seq, _created in stored:
            obj = objects[nm.message_id]
            by_new[id(nm)] = obj
            frames.append(encode({"type": "message", **obj}))
        # `new` holds the accepted requests' messages in order, minus in-batch duplicates.
        index = 0
        for req in accepted:
            if id(req) in dup_of:
                obj = by_new[id(dup_of[id(req)])]
            else:
                obj = by_new[id(new[index])]
                index += 1
            if req.on_ack is not None:
                with contextlib.suppress(Exception):
                    req.on_ack(
                        _ack(obj["client_id"], obj["message_id"], obj["sequence_number"], obj["created_at"])
                    )
            if not req.future.done():
                req.future.set_result(obj)
        if self.local_deliver is not None:
            try:
                self.local_deliver(str(room_id), reserved.first_seq, frames, committed_at)
            except Exception:
                log.exception("local fan-out failed; the Redis copy delivers instead")
        previous = self._publishing.get(room_id)
        task = asyncio.create_task(
            self._publish(
                previous,
                room_id,
                reserved.first_seq,
                frames,
                committed_at,
                reserved.title,
                [by_new[id(nm)] for nm in new],
            )
        )
        self._publishing[room_id] = task
        task.add_done_callback(lambda t: self._publish_done(room_id, t))

    def _publish_done(self, room_id: uuid.UUID, task: asyncio.Task[None]) -> None:
        if self._publishing.get(room_id) is task:
            del self._publishing[room_id]

    async def _publish(
        self,
        previous: asyncio.Task[None] | None,
        room_id: uuid.UUID,
        first_seq: int,
        frames: list[bytes],
        committed_at: float,
        room_title: str,
        messages: list[dict[str, Any]],
    ) -> None:
        """Publish a committed batch to the other processes, after the room's previous batch."""
        if previous is not None and not previous.done():
            await asyncio.wait([previous])
        try:
            await self.services.bus.publish_sequenced(
                str(room_id), first_seq, frames, committed_at=committed_at
            )
        except Exception:
            log.warning("publish failed after commit; receivers fill the gap from the database")
        await self._notify_mentions(room_title, messages)

    @staticmethod
    def _answer_duplicates(
        reqs: list[SendRequest], existing: dict[tuple[str, str], Any]
    ) -> list[SendRequest]:
        """Ack the requests whose client_id is already stored with that message; return the rest."""
        out: list[SendRequest] = []
        for req in reqs:
            row = existing.get((req.sender.user_id, req.draft.client_id)) if req.draft.client_id else None
            if row is None:
                out.append(req)
                continue
            obj = {
                "message_id": str(row.message_id),
                "sequence_number": int(row.sequence_number),
                "created_at": iso(row.created_at),
                "client_id": row.client_id,
                "duplicate": True,
            }
            if req.on_ack is not None:
                with contextlib.suppress(Exception):
                    req.on_ack(
                        _ack(row.client_id, obj["message_id"], obj["sequence_number"], obj["created_at"])
                    )
            req.future.set_result(obj)
        return out

    async def _check_files(
        self, conn: AsyncConnection, room_id: uuid.UUID, reqs: list[SendRequest]
    ) -> list[SendRequest]:
        ids = [r.draft.file_id for r in reqs if r.draft.file_id is not None]
        if not ids:
            return reqs
        found = {row.file_id for row in (await conn.execute(_FILES, {"r": room_id, "ids": ids})).all()}
        out: list[SendRequest] = []
        for req in reqs:
            if req.draft.file_id is not None and req.draft.file_id not in found:
                req.future.set_exception(Invalid("file_id is not a file uploaded to this room"))
            else:
                out.append(req)
        return out

    async def _notify_mentions(self, room_title: str, messages: list[dict[str, Any]]) -> None:
        for msg in messages:
            for user_id in msg["mentions"]:
                if user_id == msg["sender_id"]:
                    continue
                frame = encode(
                    {
                        "type": "mention",
                        "room_id": msg["room_id"],
                        "room_title": room_title,
                        "message_id": msg["message_id"],
                        "sequence_number": msg["sequence_number"],
                        "sender_display_name": msg["sender_display_name"],
                        "preview": _preview(msg["content"]),
                    }
                )
                try:
                    await self.services.bus.publish_user(user_id, frame, room_id=msg["room_id"])
                except Exception:
                    log.warning("mention frame publish failed")
