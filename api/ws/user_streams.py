"""User streams (`/ws`): one socket per signed-in user that keeps the room list live.

How it scales (see docs/user-stream.md): nothing is published per member. Each server process
follows every room that one of its sockets needs, room sockets and user streams alike,
through one shared Redis subscription and the same ordered room stream (`Hub`); a committed
message is published once, and each process turns it into one `room_activity` frame per
local member stream. The room's messages of one activity tick (`USER_STREAM_TICK_MS`,
api/ws/user_stream_tick.py) become one frame per stream, with the latest state.

Counts are exact: a stream's count for a room is read from PostgreSQL up to the position the
ordered room stream had reached when the read began, and every message the room stream
delivers after that position is added to it (`Watch.counting`). Membership follows the same
stream, so after `member_removed` nothing more about the room reaches the removed user; a
periodic check against PostgreSQL repairs anything a lost pub/sub message left behind.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Iterable, Iterator
from typing import Any

import msgspec

from api.domain.core.bus import ForUser
from api.domain.events import (
    encode,
    role_changed_frame,
    room_added_frame,
    room_removed_frame,
    room_status_changed_frame,
    user_connected_frame,
)
from api.domain.rooms.summaries import (
    member_counts,
    membership_digest,
    membership_digests,
    memberships,
    memberships_of,
    room_entries,
)
from api.ws.connection import Connection
from api.ws.registry import Registry
from api.ws.room_stream import RoomState
from api.ws.user_stream_state import RoomRun, UserStream, Watch
from api.ws.user_stream_tick import ActivityTick, SharedActivity

log = logging.getLogger(__name__)

_dec = msgspec.json.Decoder()

# How long a join waits for this process's room stream to reach its `member_added` event.
REACH_SECONDS = 5.0


def _differs(streams: set[UserStream], digest: str | None) -> bool:
    """Whether any ready stream of a user follows other rooms or roles than the digest says."""
    for stream in streams:
        if not stream.ready:
            continue
        if stream.user.is_admin:
            return True  # an admin's shown role is OWNER everywhere: compare in full
        if membership_digest({r: w.role for r, w in stream.watches.items()}) != digest:
            return True
    return False


class UserStreams:
    """This process's user streams, fed by the hub's ordered room streams and user channels."""

    def __init__(self, registry: Registry) -> None:
        self.registry = registry
        self.by_user: dict[str, set[UserStream]] = {}
        # What the room streams delivered, applied once per tick (api/ws/user_stream_tick.py).
        self.tick = ActivityTick(registry.services.settings.user_stream_tick_ms, self._apply_logged)

    @property
    def count(self) -> int:
        return sum(len(s) for s in self.by_user.values())

    def connections(self) -> Iterator[Connection]:
        for streams in self.by_user.values():
            for stream in streams:
                yield stream.conn

    # ------------------------------------------------------------------ open / close

    async def open(self, stream: UserStream) -> None:
        """Follow the user's rooms and queue the `connected` snapshot."""
        user = stream.user
        self.by_user.setdefault(user.user_id, set()).add(stream)
        await self.registry.add_user_conn(stream.conn)
        async with self.registry.services.db.read() as conn:
            roles = await memberships(conn, user.user_id)
        watches = await self._attach(stream, roles)
        stream.conn.open(user_connected_frame(user.user_id, [w.entry() for w in watches]))
        stream.ready = True

    def close(self, stream: UserStream) -> None:
        streams = self.by_user.get(stream.user.user_id)
        if streams is not None:
            streams.discard(stream)
            if not streams:
                del self.by_user[stream.user.user_id]
        for watch in list(stream.watches.values()):
            self._drop(watch, notify=False)
        self.registry.remove_user_conn(stream.conn)
        self.registry.maybe_emptied()

    async def _attach(self, stream: UserStream, room_ids: Iterable[str]) -> list[Watch]:
        """Follow rooms and read their entries; returns the new watches, most recently active first."""
        rooms = await self.registry.ensure_rooms(room_ids)
        # Frames the tick holds are below the bound read next: applied now, not counted twice.
        self.flush()
        upto: dict[str, int] = {}
        fresh: list[Watch] = []
        for room_id, room in rooms.items():
            if room_id in stream.watches or stream.conn.closed or room.next_expected is None:
                continue
            watch = Watch(stream, room_id, room.next_expected - 1)
            watch.gen = 1
            stream.watches[room_id] = watch
            room.watchers.add(watch)
            room.idle_since = None
            upto[room_id] = watch.seq
            fresh.append(watch)
        if not upto:
            return []
        try:
            async with self.registry.services.db.read() as conn:
                entries = await room_entries(conn, stream.user.user_id, upto, admin=stream.user.is_admin)
        except BaseException:
            for watch in fresh:
                self._drop(watch, notify=False)
            raise
        out: list[Watch] = []
        for entry in entries:
            found = stream.watches.get(entry["room_id"])
            if found is None or found.gen != 1:
                continue
            watch = found
            watch.role, watch.title, watch.status = entry["role"], entry["title"], entry["status"]
            watch.description, watch.created_at = entry["description"], entry["created_at"]
            self._merge(watch, entry["unread_count"], entry["unread_mentions"], entry["preview"], upto[watch.room_id])
            if watch.last_at is None:
                watch.last_at = entry["last_message_at"]
            out.append(watch)
        listed = {e["room_id"] for e in entries}
        for watch in fresh:
            if watch.room_id not in listed:
                self._drop(watch, notify=False)  # no longer a member
        return out

    @staticmethod
    def _merge(watch: Watch, unread: int, mentions: int, preview: Any, bound: int) -> None:
        watch.unread += unread
        watch.mentions += mentions
        if watch.preview_seq <= bound:
            watch.preview = msgspec.Raw(encode(preview)) if preview is not None else None
            watch.preview_seq = bound
        watch.counting = False
        watch.stale = False

    def _drop(self, watch: Watch, *, notify: bool) -> None:
        stream = watch.stream
        if stream.watches.get(watch.room_id) is watch:
            del stream.watches[watch.room_id]
        room = self.registry.rooms.get(watch.room_id)
        if room is not None:
            room.watchers.discard(watch)
            self.registry.room_maybe_idle(room)
        if notify:
            stream.send(room_removed_frame(watch.room_id))

    # ------------------------------------------------------------------ the ordered room streams

    async def _reach(self, room_ids: list[str], seq: int) -> None:
        """Wait (bounded) until this process has delivered `seq` in each room; the gap fill and the
        tail check make sure it comes within about a second."""
        rooms = await self.registry.ensure_rooms(room_ids)
        await asyncio.gather(
            *(self.registry.orderer.wait_for(room, seq, REACH_SECONDS) for room in rooms.values())
        )

    def on_sequenced(self, room: RoomState, frames: list[bytes]) -> None:
        """Frames the hub just delivered in order; turned into activity at the next tick."""
        self.tick.add(room, frames)

    def flush(self) -> None:
        """Send what the tick holds now: a frame about to reach user streams directly comes after it."""
        self.tick.flush()

    def _apply_logged(self, room: RoomState, frames: list[bytes]) -> None:
        try:
            self._apply(room, frames)
        except Exception:
            log.exception("user-stream activity failed; the periodic check repairs the counts")
            for watch in room.watchers:
                watch.stale = True

    def _apply(self, room: RoomState, frames: list[bytes]) -> None:
        touched: set[Watch] = set()
        run = RoomRun()
        for raw in frames:
            frame = _dec.decode(raw)
            run.add(frame)
            event = frame.get("event") if frame.get("type") == "system" else None
            if event in ("member_removed", "member_role_changed", "room_status_changed"):
                # Counts up to and including this event, then its effect on the watches.
                self._settle(room, run, touched)
                run = RoomRun()
                self._on_event(room, event, frame)
        self._settle(room, run, touched)
        shared = SharedActivity(room.room_id, run) if run.count else None
        for watch in touched:
            if watch.stream.ready and not watch.counting and watch in room.watchers:
                watch.stream.conn.push(shared.of(watch) if shared is not None else watch.activity())

    @staticmethod
    def _settle(room: RoomState, run: RoomRun, touched: set[Watch]) -> None:
        if not run.count:
            return
        for watch in room.watchers:
            run.apply(watch)
            touched.add(watch)

    def _on_event(self, room: RoomState, event: str, frame: dict[str, Any]) -> None:
        user_id = frame.get("user_id")
        if event == "member_removed":
            for watch in [w for w in room.watchers if w.stream.user.user_id == user_id]:
                self._drop(watch, notify=True)
        elif event == "member_role_changed":
            for watch in room.watchers:
                if watch.stream.user.user_id == user_id and not watch.stream.user.is_admin:
                    watch.role = str(frame.get("role"))
                    watch.stream.send(role_changed_frame(room.room_id, watch.role))
        else:
            status = str(frame.get("new_status"))
            for watch in room.watchers:
                watch.status = status
                watch.stream.send(room_status_changed_frame(room.room_id, status))

    def on_changed(self, room: RoomState) -> None:
        """A message of the room was edited or deleted: re-read counts and preview of its watchers."""
        self._recount(room.room_id, list(room.watchers))

    # ------------------------------------------------------------------ user channels

    def on_user_envelope(self, env: ForUser) -> None:
        streams = self.by_user.get(env.user_id)
        if not streams:
            return
        room_id = env.room_id
        if env.kind == "user":
            self.flush()  # the activity of the message it is about goes first
            # A mention (or another per-user frame): only about rooms the stream follows.
            for stream in streams:
                if stream.ready and (room_id is None or room_id in stream.watches):
                    stream.conn.push(env.frame)
        elif env.kind == "read" and room_id is not None:
            watches = [s.watches[room_id] for s in streams if room_id in s.watches]
            if watches:
                self._recount(room_id, watches)
        elif env.kind == "rooms" and room_id is not None:
            for stream in streams:
                if room_id not in stream.watches:
                    self.registry.spawn(self._added(stream, [room_id], env.seq), "room_added")

    async def _added(self, stream: UserStream, room_ids: list[str], joined_at: int = 0) -> None:
        """Follow rooms the user joined and announce them. With `joined_at` (the `member_added`
        event's number) the room is followed only once this process's ordered stream of it has
        passed that event, so nothing from before the membership reaches the stream."""
        if joined_at:
            await self._reach(room_ids, joined_at)
        for watch in await self._attach(stream, room_ids):
            stream.send(room_added_frame(watch.entry()))
            if watch.unread:
                stream.conn.push(watch.activity())

    def _recount(self, room_id: str, watches: list[Watch]) -> None:
        room = self.registry.rooms.get(room_id)
        if room is None or room.next_expected is None or not watches:
            return
        self.flush()  # what the tick holds is within the bound: applied before the counts reset
        bound = room.next_expected - 1
        gens = [(w, w.begin_count(bound)) for w in watches]
        self.registry.spawn(self._read_counts(room_id, bound, gens), "user-stream recount")

    async def _read_counts(self, room_id: str, bound: int, gens: list[tuple[Watch, int]]) -> None:
        users = sorted({w.stream.user.user_id for w, _ in gens})
        try:
            async with self.registry.services.db.read() as conn:
                counts, preview = await member_counts(conn, room_id, users, bound)
        except Exception:
            for watch, gen in gens:
                if watch.gen == gen:
                    # Counts lost their base: the periodic check reads them again.
                    watch.counting = False
                    watch.stale = True
            raise
        for watch, gen in gens:
            if watch.gen != gen or watch.stream.watches.get(room_id) is not watch:
                continue
            found = counts.get(watch.stream.user.user_id)
            if found is None and not watch.stream.user.is_admin:
                self._drop(watch, notify=True)
                continue
            unread, mentions = found or (0, 0)
            self._merge(watch, unread, mentions, preview, bound)
            if watch.stream.ready:
                watch.stream.conn.push(watch.activity())

    # ------------------------------------------------------------------ backstop

    async def validate(self) -> None:
        """Compare every stream's rooms with PostgreSQL (a lost pub/sub message must not stick),
        and read again the counts a failed re-read left without a base."""
        if not self.by_user:
            return
        started = time.monotonic()
        # One digest per user first; the memberships themselves only for users whose digest
        # differs from what their streams follow (a check of thousands of streams stays cheap).
        async with self.registry.services.db.read() as conn:
            digests = await membership_digests(conn, list(self.by_user))
            suspects = [u for u, streams in self.by_user.items() if _differs(streams, digests.get(u))]
            rooms_of = await memberships_of(conn, suspects) if suspects else {}
        for user_id in suspects:
            streams = self.by_user.get(user_id, set())
            want = rooms_of.get(user_id, {})
            for stream in list(streams):
                if not stream.ready or stream.conn.closed:
                    continue
                for room_id, watch in list(stream.watches.items()):
                    if watch.attached_at >= started:
                        continue
                    role = want.get(room_id)
                    if role is None:
                        self._drop(watch, notify=True)
                    elif role != watch.role and not stream.user.is_admin:
                        watch.role = role
                        stream.send(role_changed_frame(room_id, role))
                missing = [r for r in want if r not in stream.watches]
                if missing:
                    self.registry.spawn(self._added(stream, missing), "room_added")
        stale: dict[str, list[Watch]] = {}
        for streams in self.by_user.values():
            for stream in streams:
                for watch in stream.watches.values():
                    if watch.stale and not watch.counting:
                        stale.setdefault(watch.room_id, []).append(watch)
        for room_id, watches in stale.items():
            self._recount(room_id, watches)
