"""Which sockets this process holds, by room and by user, and the Redis channels that feeds them.

A room is followed (one subscription to its channel, one `RoomState`) while any local room
socket or user stream needs it, and for ROOM_IDLE_SECONDS after, so a quick reconnect finds it
warm. A user's channel (mentions, read markers, new memberships) is followed while the user
has any socket here.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Coroutine, Iterable
from typing import Any

from api.domain.core.pubsub import Subscriber
from api.domain.core.services import Services
from api.domain.messages.sequencing import room_positions
from api.ws.connection import Connection
from api.ws.room_stream import Orderer, RoomState

log = logging.getLogger(__name__)

ROOM_IDLE_SECONDS = 30.0
ROOM_READY_SECONDS = 10.0


class Registry:
    """Rooms and users of this process's sockets, and their subscriptions."""

    def __init__(self, services: Services, orderer: Orderer) -> None:
        self.services = services
        self.orderer = orderer
        self.rooms: dict[str, RoomState] = {}
        self.user_conns: dict[str, set[Connection]] = {}
        self.pubsub: Subscriber | None = None
        self._sub_lock = asyncio.Lock()
        # User channels waiting to be subscribed in one command, and when that is done.
        self._user_subs: tuple[list[str], asyncio.Future[None]] | None = None
        self._background: set[asyncio.Task[Any]] = set()
        # Set while draining: signalled when the last socket has gone.
        self.emptied: asyncio.Event | None = None
        # How many sockets are open here, room sockets and user streams alike.
        self.count_sockets: Any = lambda: 0
        # A read connection within the hub's database slots (`Hub.db_read`).
        self.db_read: Any = services.db.read

    @property
    def subscriber(self) -> Subscriber:
        """The hub's subscriber (set when the hub starts)."""
        if self.pubsub is None:
            raise RuntimeError("the hub has not started")
        return self.pubsub

    def spawn(self, coro: Coroutine[Any, Any, Any], what: str) -> None:
        """Run a background step, keeping a reference and logging its failure."""
        task = asyncio.create_task(coro)
        self._background.add(task)

        def done(t: asyncio.Task[Any]) -> None:
            self._background.discard(t)
            if not t.cancelled() and t.exception() is not None:
                log.warning("%s failed: %s", what, type(t.exception()).__name__)

        task.add_done_callback(done)

    # ------------------------------------------------------------------ rooms

    async def attach(self, conn: Connection) -> int:
        """Register a (syncing) room socket; returns the last sequence number delivered here."""
        missing: list[RoomState] = []
        room = self._room_for(conn.room_id, missing)
        if missing:
            self.spawn(self._init_rooms(missing), "room init")
        room.conns.add(conn)
        room.idle_since = None
        await self.add_user_conn(conn)
        try:
            async with asyncio.timeout(ROOM_READY_SECONDS):
                await room.ready.wait()
        except TimeoutError:
            self.detach(conn)
            raise
        if room.init_error is not None:
            self.detach(conn)
            raise room.init_error
        assert room.next_expected is not None
        return room.next_expected - 1

    def detach(self, conn: Connection) -> None:
        room = self.rooms.get(conn.room_id)
        if room is not None:
            room.conns.discard(conn)
            self.room_maybe_idle(room)
        self.remove_user_conn(conn)
        self.maybe_emptied()

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
                async with asyncio.timeout(ROOM_READY_SECONDS):
                    await room.ready.wait()
        return {rid: r for rid, r in rooms.items() if r.init_error is None and r.next_expected is not None}

    async def _init_rooms(self, rooms: list[RoomState]) -> None:
        """Subscribe to the rooms' channels (one command), then read where each stream stands (one query).

        Subscribing first means nothing committed after the read can be missed.
        """
        try:
            async with self._sub_lock:
                await self.subscriber.subscribe(*(self.services.bus.room_channel(r.room_id) for r in rooms))
            async with asyncio.timeout(ROOM_READY_SECONDS):
                for room in rooms:
                    await room.subscribed.wait()
            async with self.db_read() as conn:
                last = await room_positions(conn, [r.room_id for r in rooms])
            for room in rooms:
                self.orderer.start(room, last.get(room.room_id, 0))
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

    def room_maybe_idle(self, room: RoomState) -> None:
        if room.idle:
            room.idle_since = time.monotonic()

    def maybe_emptied(self) -> None:
        if self.emptied is not None and not self.count_sockets():
            self.emptied.set()

    async def reap_idle_rooms(self) -> None:
        """Stop following rooms that nobody here has needed for ROOM_IDLE_SECONDS."""
        now = time.monotonic()
        for room_id, room in list(self.rooms.items()):
            if not room.idle or room.idle_since is None or now - room.idle_since < ROOM_IDLE_SECONDS:
                continue
            async with self._sub_lock:
                if self.rooms.get(room_id) is room and room.idle:
                    del self.rooms[room_id]
                    try:
                        await self.subscriber.unsubscribe(self.services.bus.room_channel(room_id))
                    except Exception:
                        # A stale subscription only costs traffic that is dropped (no RoomState).
                        log.warning("could not unsubscribe from an idle room", exc_info=True)

    # ------------------------------------------------------------------ users

    async def add_user_conn(self, conn: Connection) -> None:
        """Count a socket of its user; the first one subscribes to the user's channel."""
        users = self.user_conns.setdefault(conn.user_id, set())
        first_for_user = not users
        users.add(conn)
        if first_for_user:
            try:
                await self._subscribe_user(self.services.bus.user_channel(conn.user_id))
            except Exception:
                # The subscriber's reconnect subscribes every channel again; until then this user's
                # mention frames are missed here (a user stream's periodic check repairs its counts).
                log.warning("could not subscribe to a user channel", exc_info=True)

    async def _subscribe_user(self, channel: str) -> None:
        """Subscribe to a user's channel, in one command with every other one asked for meanwhile.

        After a process dies, a thousand of its clients open here within a second, nearly all
        the first socket of their user: one SUBSCRIBE each, one after the other under the
        subscription lock, took seconds of event-loop turns during which the openings waited
        (docs/big-rooms.md, "Resume storms"). A batch gathers the channels asked for until the
        lock is free and subscribes them together; each caller returns once its batch is sent.
        """
        batch = self._user_subs
        if batch is None:
            batch = self._user_subs = ([], asyncio.get_running_loop().create_future())
            self.spawn(self._send_user_subs(batch), "user channel subscribe")
        batch[0].append(channel)
        await asyncio.shield(batch[1])

    async def _send_user_subs(self, batch: tuple[list[str], asyncio.Future[None]]) -> None:
        channels, done = batch
        try:
            async with self._sub_lock:
                if self._user_subs is batch:
                    self._user_subs = None  # later callers start the next batch
                await self.subscriber.subscribe(*channels)
        except BaseException as exc:
            if self._user_subs is batch:
                self._user_subs = None
            done.set_exception(exc if isinstance(exc, Exception) else RuntimeError("subscribe cancelled"))
            done.exception()  # each caller re-raises it; none left is no "never retrieved" warning
            raise
        done.set_result(None)

    def remove_user_conn(self, conn: Connection) -> None:
        users = self.user_conns.get(conn.user_id)
        if users is not None:
            users.discard(conn)
            if not users:
                del self.user_conns[conn.user_id]
                self.spawn(self._unsubscribe_user(conn.user_id), "user channel unsubscribe")

    async def _unsubscribe_user(self, user_id: str) -> None:
        async with self._sub_lock:
            if user_id not in self.user_conns:
                await self.subscriber.unsubscribe(self.services.bus.user_channel(user_id))
