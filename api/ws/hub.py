"""The per-process hub: one Redis subscriber feeding this process's sockets, and their lifecycle.

It wires the pieces and owns what spans them:
- `Registry` (`api.ws.registry`): which sockets are here, by room and user, and the channels followed;
- `Orderer` (`api.ws.room_stream`): each room's frames in sequence order, gaps filled from PostgreSQL;
- `resume` (`api.ws.resume`): `since` and `sync` without gap or duplicate;
- `PresenceAndTyping` (`api.ws.presence_typing`): presence frames and typing timers;
- `UserStreams` (`api.ws.user_streams`): `/ws`, the room list live on every page.
The reader takes each Redis message, has the `Bus` decode it into a typed envelope, and
routes it; the message writer's committed batches come in through `deliver_local`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Iterable
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from api.domain.auth.access import changed_roles
from api.domain.auth.sessions import invalid_tokens
from api.domain.core.bus import Control, Ephemeral, ForUser, Sequenced
from api.domain.core.rate_limit import RateLimiter
from api.domain.core.services import Services
from api.domain.messages.send import MessageWriter
from api.domain.presence import Presence
from api.ws import resume as resume_mod
from api.ws.announcer import Announcer
from api.ws.connection import Connection, Flusher
from api.ws.db_slots import DbSlots
from api.ws.presence_typing import PresenceAndTyping
from api.ws.registry import Registry
from api.ws.room_stream import Orderer, RoomState
from api.ws.user_streams import UserStreams

log = logging.getLogger(__name__)

TAIL_CHECK_INTERVAL = 1.0
# Graceful drain bounds: in-flight sends, flushing queued frames, sockets finishing their close.
DRAIN_SETTLE_SECONDS = 4.0
DRAIN_FLUSH_SECONDS = 2.0
DRAIN_CLOSE_SECONDS = 2.0


class Hub:
    """Fan-out, ordering and resume for this process's sockets."""

    def __init__(
        self, services: Services, presence: Presence, writer: MessageWriter, process_id: str
    ) -> None:
        self.services = services
        self.settings = services.settings
        self.presence = presence
        self.writer = writer
        self.announcer = Announcer(services, self.deliver_local)
        writer.sink = self.announcer
        self.process_id = process_id
        self.flusher = Flusher()
        self.orderer = Orderer(services)
        self.registry = Registry(services, self.orderer)
        self.registry.count_sockets = lambda: self.connection_count
        self.signals = PresenceAndTyping(
            presence,
            self.settings.typing_timeout,
            list_max=self.settings.presence_list_max,
            large_interval=self.settings.presence_large_interval,
        )
        self.streams = UserStreams(self.registry)
        self.orderer.before_frame = self.signals.clear_on_message
        self.orderer.after_frames = self.streams.on_sequenced
        self.orderer.ephemeral = self._deliver_ephemeral
        self.rate_limiter = RateLimiter(self.settings.rate_limit_per_second, self.settings.rate_limit_burst)
        self.accepting = True
        # Bounds the sockets signing in and opening at once (WS_SETUP_CONCURRENCY): a burst of
        # thousands queues here rather than holding thousands of half-done opens in memory.
        self.setup_slots = asyncio.Semaphore(self.settings.ws_setup_concurrency)
        # Bounds the database work of sockets opening and replaying at once, below the pool's
        # size: after a process dies, thousands of clients resume here together, and their
        # queries queue for these slots instead of timing out in the pool (a 1011 each).
        self.db_slots = DbSlots(self.settings.ws_db_slots, self.settings.db_pool_timeout)
        self.registry.db_read = self.db_read
        self._tasks: list[asyncio.Task[None]] = []

    @contextlib.asynccontextmanager
    async def db_read(self) -> AsyncIterator[AsyncConnection]:
        """A read connection for a socket's opening or replay, taken within `db_slots`.

        In autocommit mode: each of these reads is a statement or two that need no shared
        snapshot, and a transaction would add a BEGIN and a ROLLBACK round trip to each (a sixth
        of a process's CPU while a thousand clients resumed on it).
        """
        async with self.db_slots.held(), self.services.db.autocommit() as conn:
            yield conn

    @property
    def rooms(self) -> dict[str, RoomState]:
        return self.registry.rooms

    # ------------------------------------------------------------------ lifecycle

    async def start(self) -> None:
        pubsub = self.services.bus.channels.subscriber()
        await pubsub.subscribe(self.services.bus.control_channel)
        self.registry.pubsub = pubsub
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
        await self._settle_sends()
        self.streams.flush()
        emptied = self.registry.emptied = asyncio.Event()
        conns = list(self.all_connections())
        await asyncio.gather(
            *(c.close_after_flush(close_code, "server restart", DRAIN_FLUSH_SECONDS) for c in conns),
            return_exceptions=True,
        )
        if self.connection_count:
            with contextlib.suppress(TimeoutError):  # bounded: the process exits regardless
                async with asyncio.timeout(DRAIN_CLOSE_SECONDS):
                    await emptied.wait()
        await self._settle_sends()

    async def stop(self, close_code: int = 1012) -> None:
        """Stop accepting, close every socket (1012: clients reconnect elsewhere), clean up."""
        self.accepting = False
        self.streams.flush()
        conns = list(self.all_connections())
        await asyncio.gather(
            *(c.close_after_flush(close_code, "server restart") for c in conns), return_exceptions=True
        )
        # No batch is abandoned half-way: what was taken commits (or fails) before the pool goes.
        await self._settle_sends()
        try:
            # The unspent rate-limit leases go back to the shared buckets, for the other processes.
            await self.writer.aclose()
        except Exception:
            log.exception("giving the rate-limit leases back failed; Redis forgets them within a second")
        try:
            await self.presence.drop_process(list(self.rooms))
        except Exception:
            # The entries expire by themselves within the presence TTL.
            log.warning("could not drop this process's presence entries; they expire on their own")
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(BaseException):  # cancelled on purpose just above
                await task
        if self.registry.pubsub is not None:
            try:
                await self.registry.pubsub.aclose()
            except Exception:
                log.warning("closing the Redis subscriber failed during shutdown")

    async def _settle_sends(self) -> None:
        """Sends already taken commit (or fail), and their publishes go out; bounded."""
        await self.writer.settle(DRAIN_SETTLE_SECONDS)
        await self.announcer.settle(DRAIN_SETTLE_SECONDS)

    @property
    def connection_count(self) -> int:
        return sum(len(r.conns) for r in self.rooms.values()) + self.streams.count

    def all_connections(self) -> Iterable[Connection]:
        for room in self.rooms.values():
            yield from room.conns
        yield from self.streams.connections()

    def queue_lengths(self) -> list[int]:
        """Every socket's outgoing queue length, for the metrics sampler (every second).

        One comprehension, not `all_connections()`: the sampler walks every socket each second,
        and through generators that walk was 7 % of an idle server's CPU at 10,000 sockets.
        """
        lengths = [len(c.queue) for room in self.rooms.values() for c in room.conns]
        lengths.extend([len(s.conn.queue) for streams in self.streams.by_user.values() for s in streams])
        return lengths

    # ------------------------------------------------------------------ what the room gateway uses

    async def attach(self, conn: Connection) -> int:
        """Register a (syncing) room socket; returns the last sequence number delivered here."""
        return await self.registry.attach(conn)

    def detach(self, conn: Connection) -> None:
        self.registry.detach(conn)

    async def connected_online(self, room_id: str, user_id: str, display_name: str) -> dict[str, Any]:
        """The `online` fields of a new socket's `connected` frame (a sample in a large room)."""
        user = {"user_id": user_id, "display_name": display_name}
        return await self.signals.connected_view(self.rooms.get(room_id), room_id, user)

    def room_is_large(self, room_id: str) -> bool:
        """Whether the room has more members online than `presence` lists (no join/leave frames)."""
        return self.signals.is_large(self.rooms.get(room_id))

    async def resume(
        self,
        conn: Connection,
        since: int | None,
        since_time: datetime | None,
        attached_at: int,
        known: resume_mod.Known | None = None,
    ) -> None:
        await resume_mod.resume(self.db_read, conn, since, since_time, attached_at, known)

    @staticmethod
    def begin_sync(conn: Connection) -> None:
        resume_mod.begin_sync(conn)

    # ------------------------------------------------------------------ Redis reader

    async def _reader(self) -> None:
        backoff = 0.1
        pubsub = self.registry.pubsub
        assert pubsub is not None
        while True:
            try:
                message = await pubsub.get_message(1.0)
                backoff = 0.1
            except asyncio.CancelledError:
                raise
            except Exception:
                log.warning("redis subscriber connection lost; retrying")
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 2.0)
                # After a reconnect nothing tells us what was missed: check every tail.
                try:
                    await self.orderer.check_tails(list(self.rooms.values()))
                except Exception:
                    log.warning("tail check after a Redis reconnect failed; the periodic one retries")
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
            room_id = self.services.bus.room_of(channel)
            room = self.rooms.get(room_id) if room_id is not None else None
            if room is not None:
                room.subscribed.set()
            return
        if kind != "message":
            return
        env = self.services.bus.decode(channel, message["data"])
        if isinstance(env, Sequenced):
            room = self.rooms.get(env.room_id)
            if room is not None:
                self.orderer.on_envelope(room, env)
        elif isinstance(env, Ephemeral):
            room = self.rooms.get(env.room_id)
            if room is not None:
                self.orderer.on_ephemeral(room, env)
        elif isinstance(env, ForUser):
            self._for_user(env)
        elif isinstance(env, Control):
            self._on_control(env)

    def deliver_local(self, room_id: str, first: int, frames: list[bytes], committed_at: float) -> None:
        """A batch this process just committed, straight to its own sockets in the room.

        The same ordering path as a Redis envelope: a frame ahead of a gap (another process
        committed in between) waits for the gap to fill; the Redis copy arriving later is
        below `next_expected` and dropped.
        """
        room = self.rooms.get(room_id)
        if room is not None:
            self.orderer.on_envelope(room, Sequenced(room_id, first, frames, None, committed_at))

    def _for_user(self, env: ForUser) -> None:
        if env.kind == "user":
            for conn in list(self.registry.user_conns.get(env.user_id, ())):
                if conn.room_id:  # a room socket; user streams filter by room themselves
                    conn.push(env.frame)
        self.streams.on_user_envelope(env)

    def _on_control(self, control: Control) -> None:
        revoked = set(control.revoked)
        if revoked:
            for conns in list(self.registry.user_conns.values()):
                for conn in list(conns):
                    if conn.user.token_hash.hex() in revoked:
                        conn.close(4401, "unauthorized")

    def _deliver_ephemeral(self, room: RoomState, env: Ephemeral) -> None:
        """An unsequenced frame whose turn has come (the message it relates to was delivered)."""
        control = env.control
        if "typing" in control:
            self.signals.on_typing(room, control["typing"], bool(control.get("on")), env.frame)
            return
        if env.frame:
            for conn in room.conns:
                if conn.user_id != env.exclude_user:
                    conn.push(env.frame)
            if control.get("streams") and room.watchers:
                # Also for every user stream following the room (urgent acknowledgements),
                # after the activity the tick holds (the room's order).
                self.streams.flush()
                for watch in room.watchers:
                    if watch.stream.ready:
                        watch.stream.conn.push(env.frame)
        if control.get("changed") and room.watchers:
            self.streams.on_changed(room)
        if control.get("presence"):
            self.signals.schedule_presence(room)

    # ------------------------------------------------------------------ periodic work

    async def _heartbeat(self) -> None:
        interval = self.presence.heartbeat_interval
        while True:
            await asyncio.sleep(interval)
            try:
                await self.signals.heartbeat(list(self.rooms.values()))
                await self.registry.reap_idle_rooms()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.warning("presence heartbeat failed; retrying next interval")

    async def _tail_checker(self) -> None:
        while True:
            await asyncio.sleep(TAIL_CHECK_INTERVAL)
            try:
                await self.orderer.check_tails(list(self.rooms.values()))
            except asyncio.CancelledError:
                raise
            except Exception:
                log.warning("tail check failed; retrying next interval", exc_info=True)

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
        held = list({(c.room_id, c.user_id, c.role) for c in conns if c.room_id and not c.user.is_admin})
        async with self.services.db.read() as db:
            invalid = await invalid_tokens(db, list({c.user.token_hash for c in conns}))
            changed = await changed_roles(db, held)
        if not invalid and not changed:
            return
        for conn in conns:
            if conn.user.token_hash in invalid:
                conn.close(4401, "unauthorized")
            elif not conn.room_id or conn.user.is_admin:
                continue  # a user stream's rooms are checked by `streams.validate`
            elif (key := (conn.room_id, conn.user_id)) in changed:
                role = changed[key]
                if role is None:
                    conn.close(4403, "removed from the room")
                else:
                    conn.role = role

