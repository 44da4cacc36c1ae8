"""The per-process hub: one Redis subscriber, per-room ordering, resume, presence and typing.

Ordering: every room this process serves has a `RoomState` that tracks `next_expected`.
Sequenced envelopes from Redis are delivered strictly in order; a frame ahead of
`next_expected` waits in a small buffer and, if the gap is not filled within GAP_WAIT (a
publisher died after commit, or pub/sub dropped it), the missing rows are read from
PostgreSQL. Because a room's transactions commit in sequence order (the row lock), every
number below a delivered one is already committed and readable. A periodic tail check does
the same for the last message of a burst, whose loss no later frame would reveal.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import msgspec
from sqlalchemy import text

from api.domain import metrics
from api.domain.context import Services
from api.domain.events import encode, message_frame
from api.domain.messages_read import changed_since, messages_in_range
from api.domain.messages_send import MessageWriter
from api.domain.presence import Presence
from api.domain.rate_limit import RateLimiter
from api.domain.timefmt import iso, utcnow
from api.ws.connection import Connection, Flusher
from api.ws.protocol import text_frame
from api.ws.user_streams import UserStreams, Watch

log = logging.getLogger(__name__)

GAP_WAIT = 0.03
TAIL_CHECK_INTERVAL = 1.0
REPLAY_PAGE = 500
ROOM_IDLE_SECONDS = 30.0
PRESENCE_DEBOUNCE = 0.02
# Graceful drain bounds: in-flight sends, flushing queued frames, sockets finishing their close.
DRAIN_SETTLE_SECONDS = 4.0
DRAIN_FLUSH_SECONDS = 2.0
DRAIN_CLOSE_SECONDS = 2.0

_dec = msgspec.json.Decoder()


@dataclass(eq=False)
class RoomState:
    """What this process knows of one room's stream."""

    room_id: str
    conns: set[Connection] = field(default_factory=set)
    # User streams (`/ws`) of this process that follow this room's stream.
    watchers: set[Watch] = field(default_factory=set)
    next_expected: int | None = None
    ready: asyncio.Event = field(default_factory=asyncio.Event)
    subscribed: asyncio.Event = field(default_factory=asyncio.Event)
    pre_init: list[tuple[int, bytes, dict[str, Any] | None]] = field(default_factory=list)
    pending: dict[int, tuple[bytes, dict[str, Any] | None]] = field(default_factory=dict)
    eph_wait: list[tuple[int, bytes, dict[str, Any]]] = field(default_factory=list)
    gap_task: asyncio.Task[None] | None = None
    typing: dict[str, asyncio.TimerHandle] = field(default_factory=dict)
    last_online: list[dict[str, str]] | None = None
    presence_task: asyncio.Task[None] | None = None
    # A presence change arrived while `presence_task` was already reading: read again after it.
    presence_again: bool = False
    idle_since: float | None = None
    init_error: BaseException | None = None
    # Commit times of envelopes not delivered on arrival (a gap), by their last sequence number.
    stamps: dict[int, float] = field(default_factory=dict)

    @property
    def uuid(self) -> uuid.UUID:
        return uuid.UUID(self.room_id)


def control_of(message: dict[str, Any]) -> dict[str, Any] | None:
    """Socket-level effects of a stored system event (also when it was read back from the database)."""
    if message.get("message_type") != "system" or not isinstance(message.get("content"), dict):
        return None
    event = message["content"].get("event")
    if event == "member_removed":
        return {"kick": message["content"].get("user_id")}
    if event == "member_role_changed":
        return {"role": [message["content"].get("user_id"), message["content"].get("role")]}
    return None


class Hub:
    """Fan-out, ordering and resume for this process's sockets."""

    def __init__(
        self, services: Services, presence: Presence, writer: MessageWriter, process_id: str
    ) -> None:
        self.services = services
        self.presence = presence
        self.writer = writer
        writer.local_deliver = self.deliver_local
        self.process_id = process_id
        self.settings = services.settings
        self.rooms: dict[str, RoomState] = {}
        self.flusher = Flusher()
        self.user_conns: dict[str, set[Connection]] = {}
        self._pubsub: Any = None
        self._tasks: list[asyncio.Task[None]] = []
        self._background: set[asyncio.Task[Any]] = set()
        self._sub_lock = asyncio.Lock()
        self._prefix = services.bus.prefix
        self.accepting = True
        self._emptied: asyncio.Event | None = None
        self.delivered = 0
        self.rate_limiter = RateLimiter(self.settings.rate_limit_per_second, self.settings.rate_limit_burst)
        self.streams = UserStreams(self)

    # ------------------------------------------------------------------ lifecycle

    async def start(self) -> None:
        self._pubsub = self.services.redis.pubsub()
        await self._pubsub.subscribe(self.services.bus.control_channel)
        self._tasks = [
            asyncio.create_task(self._reader(), name="hub-reader"),
            asyncio.create_task(self._heartbeat(), name="hub-heartbeat"),
            asyncio.create_task(self._tail_checker(), name="hub-tail"),
            asyncio.create_task(self._validator(), name="hub-validator"),
        ]

    async def drain(self, close_code: int = 1012) -> None:
        """Graceful drain (SIGTERM), before the server stops listening.

        New sockets are refused with 1012 from now on. Sends already taken commit (or fail)
        and their acks are queued; each socket's queue is flushed and the socket closed with
        1012, so its client resumes with `since` on another process; sends that arrived
        meanwhile settle too. Every step is bounded.
        """
        self.accepting = False
        await self.writer.settle(DRAIN_SETTLE_SECONDS)
        self._emptied = asyncio.Event()
        conns = list(self.all_connections())
        await asyncio.gather(
            *(c.close_after_flush(close_code, "server restart", DRAIN_FLUSH_SECONDS) for c in conns),
            return_exceptions=True,
        )
        if self.connection_count:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(DRAIN_CLOSE_SECONDS):
                    await self._emptied.wait()
        await self.writer.settle(DRAIN_SETTLE_SECONDS)

    async def stop(self, close_code: int = 1012) -> None:
        """Stop accepting, close every socket (1012: clients reconnect elsewhere), clean up."""
        self.accepting = False
        conns = list(self.all_connections())
        await asyncio.gather(
            *(c.close_after_flush(close_code, "server restart") for c in conns), return_exceptions=True
        )
        # No batch is abandoned half-way: what was taken commits (or fails) before the pool goes.
        await self.writer.settle(DRAIN_SETTLE_SECONDS)
        with contextlib.suppress(Exception):
            await self.presence.drop_process(list(self.rooms))
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(BaseException):
                await task
        if self._pubsub is not None:
            with contextlib.suppress(Exception):
                await self._pubsub.aclose()

    @property
    def connection_count(self) -> int:
        return sum(len(r.conns) for r in self.rooms.values()) + self.streams.count

    # ------------------------------------------------------------------ rooms

    async def attach(self, conn: Connection) -> int:
        """Register a (syncing) connection; returns the last sequence number delivered here."""
        missing: list[RoomState] = []
        room = self._room_for(conn.room_id, missing)
        if missing:
            self.spawn(self._init_rooms(missing), "room init")
        room.conns.add(conn)
        room.idle_since = None
        await self.add_user_conn(conn)
        try:
            async with asyncio.timeout(10):
                await room.ready.wait()
        except TimeoutError:
            self.detach(conn)
            raise
        if room.init_error is not None:
            self.detach(conn)
            raise room.init_error
        assert room.next_expected is not None
        return room.next_expected - 1

    def _room_for(self, room_id: str, missing: list[RoomState]) -> RoomState:
        room = self.rooms.get(room_id)
        if room is None:
            room = self.rooms[room_id] = RoomState(room_id)
            missing.append(room)
        return room

    async def ensure_rooms(self, room_ids: Iterable[str]) -> dict[str, RoomState]:
        """The ordered stream state of each room, subscribing (in one command) to those not yet followed.

        Rooms that could not be set up are left out of the answer.
        """
        missing: list[RoomState] = []
        rooms = {room_id: self._room_for(room_id, missing) for room_id in room_ids}
        if missing:
            await self._init_rooms(missing)
        for room in rooms.values():
            if not room.ready.is_set():
                async with asyncio.timeout(10):
                    await room.ready.wait()
        return {rid: r for rid, r in rooms.items() if r.init_error is None and r.next_expected is not None}

    async def add_user_conn(self, conn: Connection) -> None:
        """Count a socket of its user; the first one subscribes to the user's channel (mentions, reads)."""
        users = self.user_conns.setdefault(conn.user_id, set())
        first_for_user = not users
        users.add(conn)
        if first_for_user:
            try:
                async with self._sub_lock:
                    await self._pubsub.subscribe(self.services.bus.user_channel(conn.user_id))
            except Exception:
                # The reader's reconnect re-subscribes every channel; until then this
                # user's mention frames are missed, which the user stream's backstop repairs.
                log.warning("could not subscribe to a user channel", exc_info=True)

    def remove_user_conn(self, conn: Connection) -> None:
        users = self.user_conns.get(conn.user_id)
        if users is not None:
            users.discard(conn)
            if not users:
                del self.user_conns[conn.user_id]
                self.spawn(self._unsubscribe_user(conn.user_id), "user channel unsubscribe")

    def spawn(self, coro: Any, what: str) -> None:
        """Run a background step, keeping a reference and logging its failure."""
        task = asyncio.create_task(coro)
        self._background.add(task)

        def done(t: asyncio.Task[Any]) -> None:
            self._background.discard(t)
            if not t.cancelled() and t.exception() is not None:
                log.warning("%s failed: %s", what, type(t.exception()).__name__)

        task.add_done_callback(done)

    def detach(self, conn: Connection) -> None:
        room = self.rooms.get(conn.room_id)
        if room is not None:
            room.conns.discard(conn)
            self.room_maybe_idle(room)
        self.remove_user_conn(conn)
        self.maybe_emptied()

    def room_maybe_idle(self, room: RoomState) -> None:
        if not room.conns and not room.watchers:
            room.idle_since = time.monotonic()

    def maybe_emptied(self) -> None:
        if self._emptied is not None and not self.connection_count:
            self._emptied.set()

    async def _unsubscribe_user(self, user_id: str) -> None:
        async with self._sub_lock:
            if user_id not in self.user_conns:
                with contextlib.suppress(Exception):
                    await self._pubsub.unsubscribe(self.services.bus.user_channel(user_id))

    async def _init_rooms(self, rooms: list[RoomState]) -> None:
        """Subscribe to the rooms' channels (one command), then read where each stream stands (one query).

        Subscribing first means nothing committed after the read can be missed.
        """
        try:
            async with self._sub_lock:
                await self._pubsub.subscribe(*(self.services.bus.room_channel(r.room_id) for r in rooms))
            async with asyncio.timeout(10):
                for room in rooms:
                    await room.subscribed.wait()
            async with self.services.db.read() as conn:
                rows = (
                    await conn.execute(
                        text(
                            "SELECT room_id, last_seq FROM incident_rooms "
                            "WHERE room_id = ANY(CAST(:ids AS uuid[]))"
                        ),
                        {"ids": [r.uuid for r in rooms]},
                    )
                ).all()
            last = {str(row.room_id): int(row.last_seq) for row in rows}
            for room in rooms:
                room.next_expected = last.get(room.room_id, 0) + 1
                early, room.pre_init = room.pre_init, []
                for seq, frame, control in sorted(early, key=lambda x: x[0]):
                    self._on_sequenced(room, seq, frame, control)
        except BaseException as exc:
            error = exc if isinstance(exc, Exception) else RuntimeError("room init cancelled")
            for room in rooms:
                room.init_error = error
                if self.rooms.get(room.room_id) is room:
                    del self.rooms[room.room_id]
            log.warning("could not subscribe to %d room(s): %s", len(rooms), type(exc).__name__)
        finally:
            for room in rooms:
                room.ready.set()

    # ------------------------------------------------------------------ Redis reader

    async def _reader(self) -> None:
        backoff = 0.1
        while True:
            try:
                message = await self._pubsub.get_message(ignore_subscribe_messages=False, timeout=1.0)
                backoff = 0.1
            except asyncio.CancelledError:
                raise
            except Exception:
                log.warning("redis subscriber connection lost; retrying")
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 2.0)
                # After a reconnect nothing tells us what was missed: check every tail.
                with contextlib.suppress(Exception):
                    await self._check_tails()
                continue
            if message is None:
                continue
            try:
                self._dispatch(message)
            except Exception:
                log.exception("failed to dispatch a fan-out message")

    def _dispatch(self, message: dict[str, Any]) -> None:
        kind = message.get("type")
        channel = message["channel"]
        if isinstance(channel, bytes):
            channel = channel.decode()
        if kind == "subscribe":
            if channel.startswith(self._prefix + ":room:"):
                room = self.rooms.get(channel[len(self._prefix) + 6 :])
                if room is not None:
                    room.subscribed.set()
            return
        if kind != "message":
            return
        data: bytes = message["data"]
        if channel == self.services.bus.control_channel:
            self._on_control(_dec.decode(data))
            return
        head, _, body = data.partition(b"\n")
        header = _dec.decode(head)
        if channel.startswith(self._prefix + ":room:"):
            room = self.rooms.get(channel[len(self._prefix) + 6 :])
            if room is None:
                return
            if header.get("t") == "seq":
                first = int(header["s"])
                control = header.get("c")
                frames = body.split(b"\n")
                last = first + len(frames) - 1
                if room.next_expected is not None and room.next_expected > last:
                    return  # delivered already (this process's own batch, or a gap fill)
                if not self._deliver_run(room, first, frames, control):
                    for i, frame in enumerate(frames):
                        self._on_sequenced(room, first + i, frame, control if i == len(frames) - 1 else None)
                stamp = header.get("ts")
                if stamp is not None:
                    if room.next_expected is not None and room.next_expected > last:
                        metrics.FANOUT_LATENCY.observe(max(0.0, time.time() - stamp))
                    else:
                        room.stamps[last] = stamp
            else:
                self._on_ephemeral(room, int(header.get("a", 0)), body, header)
        elif channel.startswith(self._prefix + ":user:"):
            user_id = channel[len(self._prefix) + 6 :]
            if header.get("t") == "user":
                for conn in list(self.user_conns.get(user_id, ())):
                    if conn.room_id:  # a room socket; user streams filter by room below
                        conn.push(body)
            self.streams.on_user_envelope(user_id, header, body)

    def deliver_local(self, room_id: str, first: int, frames: list[bytes], committed_at: float) -> None:
        """A batch this process just committed, straight to its own sockets in the room.

        The same ordering path as a Redis envelope: a frame ahead of a gap (another process
        committed in between) waits for the gap to fill; the Redis copy arriving later is
        below `next_expected` and dropped.
        """
        room = self.rooms.get(room_id)
        if room is None:
            return
        if not self._deliver_run(room, first, frames, None):
            for i, frame in enumerate(frames):
                self._on_sequenced(room, first + i, frame, None)
        last = first + len(frames) - 1
        if room.next_expected is not None and room.next_expected > last:
            metrics.FANOUT_LATENCY.observe(max(0.0, time.time() - committed_at))
        else:
            room.stamps[last] = committed_at

    def _on_control(self, control: dict[str, Any]) -> None:
        revoked = set(control.get("revoked") or [])
        if revoked:
            for conns in list(self.user_conns.values()):
                for conn in list(conns):
                    if conn.user.token_hash.hex() in revoked:
                        conn.close(4401, "unauthorized")

    # ------------------------------------------------------------------ ordering

    def _on_sequenced(self, room: RoomState, seq: int, frame: bytes, control: dict[str, Any] | None) -> None:
        if room.next_expected is None:
            room.pre_init.append((seq, frame, control))
            return
        if seq < room.next_expected or seq in room.pending:
            return
        if seq > room.next_expected:
            room.pending[seq] = (frame, control)
            self._schedule_gap_fill(room)
            return
        self._deliver(room, seq, frame, control)
        while room.next_expected in room.pending:
            nxt = room.next_expected
            f, c = room.pending.pop(nxt)
            self._deliver(room, nxt, f, c)
        self._release_ephemeral(room)

    def _deliver_run(
        self, room: RoomState, first: int, frames: list[bytes], control: dict[str, Any] | None
    ) -> bool:
        """A whole batch that is next in order, handed to each socket in one call.

        The common case of a group commit arriving in order: no frame waits, no system event
        acts on sockets, nobody in the room is typing. Anything else returns False and goes
        frame by frame through `_on_sequenced`.
        """
        if room.next_expected != first or room.pending or control or room.typing or len(frames) < 2:
            return False
        room.next_expected = first + len(frames)
        self.delivered += len(frames)
        if room.stamps:
            for seq in range(first, first + len(frames)):
                stamp = room.stamps.pop(seq, None)
                if stamp is not None:
                    metrics.FANOUT_LATENCY.observe(max(0.0, time.time() - stamp))
        wires = [text_frame(f) for f in frames]
        for conn in room.conns:
            conn.push_run(first, frames, wires)
        if room.watchers:
            self.streams.on_sequenced(room, frames)
        self._release_ephemeral(room)
        return True

    def _deliver(self, room: RoomState, seq: int, frame: bytes, control: dict[str, Any] | None) -> None:
        room.next_expected = seq + 1
        self.delivered += 1
        if room.stamps:
            stamp = room.stamps.pop(seq, None)
            if stamp is not None:
                metrics.FANOUT_LATENCY.observe(max(0.0, time.time() - stamp))
        if control:
            kicked = control.get("kick")
            if kicked:
                for conn in [c for c in room.conns if c.user_id == kicked and not c.user.is_admin]:
                    conn.close(4403, "removed from the room")
            role = control.get("role")
            if role:
                for conn in room.conns:
                    if conn.user_id == role[0] and not conn.user.is_admin:
                        conn.role = role[1]
        if room.typing:
            self._clear_typing_on_message(room, frame)
        wire = text_frame(frame)
        for conn in room.conns:
            conn.push_sequenced(seq, frame, wire)
        if room.watchers:
            self.streams.on_sequenced(room, [frame])

    def _schedule_gap_fill(self, room: RoomState) -> None:
        if room.gap_task is None or room.gap_task.done():
            room.gap_task = asyncio.create_task(self._fill_gap(room))

    async def _fill_gap(self, room: RoomState, wait: float = GAP_WAIT, up_to: int | None = None) -> None:
        try:
            if wait:
                # Give in-flight publishes a moment; most gaps close by themselves.
                await asyncio.sleep(wait)
            while room.next_expected is not None and (room.pending or up_to is not None):
                target = max(room.pending) if room.pending else up_to
                if target is None or target < room.next_expected:
                    break
                start = room.next_expected - 1
                async with self.services.db.read() as conn:
                    rows = await messages_in_range(conn, room.uuid, start, target, limit=REPLAY_PAGE)
                if not rows:
                    break
                for msg in rows:
                    seq = msg["sequence_number"]
                    if room.next_expected is not None and seq == room.next_expected:
                        room.pending.pop(seq, None)
                        self._deliver(room, seq, encode(message_frame(msg)), control_of(msg))
                while room.next_expected in room.pending:
                    nxt = room.next_expected
                    f, c = room.pending.pop(nxt)
                    self._deliver(room, nxt, f, c)
                self._release_ephemeral(room)
                if up_to is not None and room.next_expected > up_to:
                    break
        except Exception:
            log.exception("gap fill failed")
        finally:
            room.gap_task = None
            if room.pending:
                self._schedule_gap_fill(room)

    async def _tail_checker(self) -> None:
        while True:
            await asyncio.sleep(TAIL_CHECK_INTERVAL)
            with contextlib.suppress(Exception):
                await self._check_tails()

    async def _check_tails(self) -> None:
        rooms = [r for r in self.rooms.values() if r.next_expected is not None]
        if not rooms:
            return
        async with self.services.db.read() as conn:
            rows = (
                await conn.execute(
                    text(
                        "SELECT room_id, last_seq FROM incident_rooms WHERE room_id = ANY(CAST(:ids AS uuid[]))"
                    ),
                    {"ids": [r.uuid for r in rooms]},
                )
            ).all()
        for row in rows:
            room = self.rooms.get(str(row.room_id))
            if room is None or room.next_expected is None:
                continue
            if int(row.last_seq) >= room.next_expected and (room.gap_task is None or room.gap_task.done()):
                room.gap_task = asyncio.create_task(self._fill_gap(room, wait=0, up_to=int(row.last_seq)))

    # ------------------------------------------------------------------ ephemeral frames

    def _on_ephemeral(self, room: RoomState, after: int, frame: bytes, header: dict[str, Any]) -> None:
        if room.next_expected is None or after >= room.next_expected:
            room.eph_wait.append((after, frame, header))
            return
        self._deliver_ephemeral(room, frame, header)

    def _release_ephemeral(self, room: RoomState) -> None:
        if not room.eph_wait or room.next_expected is None:
            return
        ready = [e for e in room.eph_wait if e[0] < room.next_expected]
        room.eph_wait = [e for e in room.eph_wait if e[0] >= room.next_expected]
        for _after, frame, header in ready:
            self._deliver_ephemeral(room, frame, header)

    def _deliver_ephemeral(self, room: RoomState, frame: bytes, header: dict[str, Any]) -> None:
        control = header.get("c") or {}
        exclude = header.get("x")
        if "typing" in control:
            self._on_typing(room, control["typing"], bool(control.get("on")), frame)
            return
        if frame:
            for conn in room.conns:
                if conn.user_id != exclude:
                    conn.push(frame)
        if control.get("changed") and room.watchers:
            self.streams.on_changed(room)
        if control.get("presence"):
            self.schedule_presence(room)

    # ------------------------------------------------------------------ presence

    def schedule_presence(self, room: RoomState) -> None:
        if room.presence_task is None or room.presence_task.done():
            room.presence_task = asyncio.create_task(self._send_presence(room))
        else:
            # The running task may already have read the old set: it must read once more.
            room.presence_again = True

    async def _send_presence(self, room: RoomState) -> None:
        while True:
            room.presence_again = False
            await asyncio.sleep(PRESENCE_DEBOUNCE)
            try:
                online = await self.presence.online(room.room_id)
            except Exception:
                return
            if online != room.last_online:
                room.last_online = online
                frame = encode({"type": "presence", "online": online})
                for conn in room.conns:
                    conn.push(frame)
            if not room.presence_again:
                return

    def note_online(self, room_id: str, online: list[dict[str, str]]) -> None:
        room = self.rooms.get(room_id)
        if room is not None and room.last_online is None:
            room.last_online = online

    async def _heartbeat(self) -> None:
        interval = max(0.2, self.presence.ttl / 3)
        while True:
            await asyncio.sleep(interval)
            try:
                active = [r for r in self.rooms.values() if r.conns]
                await self.presence.heartbeat(r.room_id for r in active)
                for room in active:
                    self.schedule_presence(room)
                await self._reap_idle_rooms()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.warning("presence heartbeat failed")

    async def _reap_idle_rooms(self) -> None:
        now = time.monotonic()
        for room_id, room in list(self.rooms.items()):
            if (
                room.conns
                or room.watchers
                or room.idle_since is None
                or now - room.idle_since < ROOM_IDLE_SECONDS
            ):
                continue
            async with self._sub_lock:
                if self.rooms.get(room_id) is room and not room.conns and not room.watchers:
                    del self.rooms[room_id]
                    with contextlib.suppress(Exception):
                        await self._pubsub.unsubscribe(self.services.bus.room_channel(room_id))

    # ------------------------------------------------------------------ typing

    def _on_typing(self, room: RoomState, user_id: str, on: bool, frame: bytes) -> None:
        timer = room.typing.pop(user_id, None)
        if timer is not None:
            timer.cancel()
        if on:
            loop = asyncio.get_running_loop()
            room.typing[user_id] = loop.call_later(
                self.settings.typing_timeout, self._typing_expired, room, user_id, frame
            )
        for conn in room.conns:
            if conn.user_id != user_id:
                conn.push(frame)

    def _typing_expired(self, room: RoomState, user_id: str, frame: bytes) -> None:
        room.typing.pop(user_id, None)
        payload = _dec.decode(frame)
        payload["is_typing"] = False
        off = encode(payload)
        for conn in room.conns:
            if conn.user_id != user_id:
                conn.push(off)

    def _clear_typing_on_message(self, room: RoomState, frame: bytes) -> None:
        try:
            payload = _dec.decode(frame)
        except msgspec.DecodeError:
            return
        sender = payload.get("sender_id") if payload.get("type") == "message" else None
        if sender and sender in room.typing:
            room.typing.pop(sender).cancel()
            off = encode(
                {
                    "type": "typing",
                    "user_id": sender,
                    "display_name": payload.get("sender_display_name", sender),
                    "is_typing": False,
                }
            )
            for conn in room.conns:
                if conn.user_id != sender:
                    conn.push(off)

    # ------------------------------------------------------------------ resume

    async def resume(
        self, conn: Connection, since: int | None, since_time: datetime | None, attached_at: int
    ) -> None:
        """Replay after `since` (or start live at `attached_at`), then flush what arrived meanwhile."""
        if since is None:
            self._go_live(conn, attached_at)
            return
        room_uuid = uuid.UUID(conn.room_id)
        async with self.services.db.read() as db:
            row = (
                await db.execute(
                    text("SELECT last_seq FROM incident_rooms WHERE room_id = :r"), {"r": room_uuid}
                )
            ).first()
        cursor = max(0, min(since, int(row.last_seq) if row else 0))
        since_point = cursor
        while not conn.closed:
            async with self.services.db.read() as db:
                rows = await messages_in_range(db, room_uuid, cursor, None, limit=REPLAY_PAGE)
            for msg in rows:
                conn.push(encode(message_frame(msg)))
                cursor = msg["sequence_number"]
            if len(rows) < REPLAY_PAGE:
                break
            await conn.wait_room()
        if since_time is not None and not conn.closed:
            await self._replay_changes(conn, room_uuid, since_time, since_point)
        conn.push(
            encode({"type": "sync_complete", "last_sequence_number": cursor, "server_time": iso(utcnow())})
        )
        self._go_live(conn, cursor)

    async def _replay_changes(
        self, conn: Connection, room_uuid: uuid.UUID, since_time: datetime, up_to: int
    ) -> None:
        async with self.services.db.read() as db:
            changed = await changed_since(db, room_uuid, since_time, up_to)
            reaction_rows: dict[str, Any] = {}
            ids = [msg["message_id"] for msg, _row in changed]
            if ids:
                rows = (
                    await db.execute(
                        text(
                            "SELECT DISTINCT ON (message_id) message_id, user_id, emoji FROM message_reactions "
                            "WHERE message_id = ANY(CAST(:ids AS uuid[])) ORDER BY message_id, created_at DESC"
                        ),
                        {"ids": ids},
                    )
                ).all()
                reaction_rows = {str(r.message_id): r for r in rows}
        for msg, row in changed:
            if row["deleted_at"] is not None:
                if row["deleted_at"] > since_time:
                    conn.push(
                        encode(
                            {
                                "type": "message_deleted",
                                "message_id": msg["message_id"],
                                "room_id": msg["room_id"],
                                "sequence_number": msg["sequence_number"],
                                "deleted_at": msg["deleted_at"],
                                "deleted_by": row["deleted_by"],
                            }
                        )
                    )
                continue
            if row["edited_at"] is not None and row["edited_at"] > since_time:
                conn.push(encode({"type": "message_edited", **msg}))
            if row["reactions_at"] is not None and row["reactions_at"] > since_time:
                latest = reaction_rows.get(msg["message_id"])
                # The aggregated counts are the state; emoji/user name the latest remaining reaction.
                conn.push(
                    encode(
                        {
                            "type": "reaction_added" if msg["reactions"] else "reaction_removed",
                            "message_id": msg["message_id"],
                            "emoji": latest.emoji if latest else None,
                            "user_id": latest.user_id if latest else None,
                            "reactions": msg["reactions"],
                        }
                    )
                )

    def _go_live(self, conn: Connection, last_sent: int) -> None:
        buffered = sorted(conn.sync_buffer, key=lambda x: x[0])
        conn.sync_buffer = []
        conn.last_seq_sent = last_sent
        conn.syncing = False
        for seq, frame, wire in buffered:
            conn.push_sequenced(seq, frame, wire)

    def begin_sync(self, conn: Connection) -> None:
        """A `sync` frame on an open socket: buffer live frames until the replay is done."""
        conn.syncing = True
        conn.sync_buffer = []

    # ------------------------------------------------------------------ periodic validation

    async def _validator(self) -> None:
        """Backstop for lost control messages: revoked/expired tokens and removed members."""
        while True:
            await asyncio.sleep(self.settings.ws_ping_interval)
            try:
                await self.validate_now()
            except asyncio.CancelledError:
                raise
            except Exception:
                # A security path: say so, and try again at the next interval.
                log.warning("socket validation failed; retrying next interval", exc_info=True)

    async def validate_now(self) -> None:
        await self._validate_room_sockets()
        await self.streams.validate()

    async def _validate_room_sockets(self) -> None:
        conns = [c for c in self.all_connections() if not c.closed]
        if not conns:
            return
        digests = list({c.user.token_hash for c in conns})
        pairs = list({(uuid.UUID(c.room_id), c.user_id) for c in conns if c.room_id and not c.user.is_admin})
        async with self.services.db.read() as db:
            valid = {
                bytes(r.token_hash)
                for r in (
                    await db.execute(
                        text(
                            "SELECT token_hash FROM auth_tokens WHERE token_hash = ANY(:hs) "
                            "AND revoked_at IS NULL AND expires_at > now()"
                        ),
                        {"hs": digests},
                    )
                ).all()
            }
            members: dict[tuple[str, str], str] = {}
            if pairs:
                rows = (
                    await db.execute(
                        text(
                            "SELECT m.room_id, m.user_id, m.role FROM room_members m JOIN unnest(CAST(:rooms AS uuid[]), "
                            "CAST(:users AS text[])) AS p(room_id, user_id) ON p.room_id = m.room_id AND p.user_id = m.user_id"
                        ),
                        {"rooms": [p[0] for p in pairs], "users": [p[1] for p in pairs]},
                    )
                ).all()
                members = {(str(r.room_id), r.user_id): r.role for r in rows}
        for conn in conns:
            if conn.user.token_hash not in valid:
                conn.close(4401, "unauthorized")
            elif not conn.room_id:
                continue  # a user stream: its rooms are checked by `streams.validate`
            elif not conn.user.is_admin:
                role = members.get((conn.room_id, conn.user_id))
                if role is None:
                    conn.close(4403, "removed from the room")
                else:
                    conn.role = role

    def all_connections(self) -> Iterable[Connection]:
        for room in self.rooms.values():
            yield from room.conns
        yield from self.streams.connections()
