"""Per-room ordering: every room this process serves is delivered strictly in sequence order.

Each room has a `RoomState` that tracks `next_expected`. Sequenced envelopes (from Redis, or
this process's own commits) are delivered in order; a frame ahead of `next_expected` waits in
a small buffer and, if the gap is not filled within GAP_WAIT (a publisher died after commit,
or pub/sub dropped it), the missing rows are read from PostgreSQL. Because a room's
transactions commit in sequence order (the row lock), every number below a delivered one is
already committed and readable. A periodic tail check does the same for the last message of
a burst, whose loss no later frame would reveal. Unsequenced frames (edits, reactions,
typing) wait until the number they relate to has been delivered.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from api.domain.core import metrics
from api.domain.core.bus import Ephemeral, Sequenced
from api.domain.core.services import Services
from api.domain.events import Message, message_frame_bytes
from api.domain.messages.read import messages_in_range
from api.domain.messages.sequencing import room_positions
from api.ws.connection import Connection
from api.ws.protocol import text_frame

log = logging.getLogger(__name__)

GAP_WAIT = 0.03
REPLAY_PAGE = 500


@dataclass(eq=False)
class RoomState:
    """What this process knows of one room's stream."""

    room_id: str
    conns: set[Connection] = field(default_factory=set)
    # User streams (`/ws`) of this process that follow this room (`api.ws.user_streams.Watch`).
    watchers: set[Any] = field(default_factory=set)
    next_expected: int | None = None
    ready: asyncio.Event = field(default_factory=asyncio.Event)
    subscribed: asyncio.Event = field(default_factory=asyncio.Event)
    pre_init: list[tuple[int, bytes, dict[str, Any] | None]] = field(default_factory=list)
    pending: dict[int, tuple[bytes, dict[str, Any] | None]] = field(default_factory=dict)
    eph_wait: list[Ephemeral] = field(default_factory=list)
    gap_task: asyncio.Task[None] | None = None
    # Typists: their auto-clear timer, and when their `typing` was last forwarded to sockets.
    typing: dict[str, tuple[asyncio.TimerHandle, float]] = field(default_factory=dict)
    last_online: list[dict[str, str]] | None = None
    # The room's presence version (`Presence.versions`) when `last_online` was read.
    presence_version: str | None = None
    # The online count at the last read of the set, and when (monotonic): a large room's
    # `connected` frames reuse that read for `presence_large_interval` (docs/big-rooms.md).
    online_count: int = 0
    online_read_at: float = 0.0
    recent_online: list[dict[str, str]] = field(default_factory=list)
    # Large rooms: who spoke last (most recent last), the first people shown in `online`.
    speakers: dict[str, None] = field(default_factory=dict)
    # Set while the room counts as large: each message's sender is noted in `speakers`.
    speakers_tracked: bool = False
    presence_task: asyncio.Task[None] | None = None
    # A presence change arrived while `presence_task` was already reading: read again after it.
    presence_again: bool = False
    idle_since: float | None = None
    init_error: BaseException | None = None
    # Commit times of envelopes not delivered on arrival (a gap), by their last sequence number.
    stamps: dict[int, float] = field(default_factory=dict)
    # Futures waiting for the stream to reach a sequence number (`Orderer.wait_for`).
    position_waiters: list[tuple[int, asyncio.Future[None]]] = field(default_factory=list)

    @property
    def uuid(self) -> uuid.UUID:
        return uuid.UUID(self.room_id)

    @property
    def idle(self) -> bool:
        return not self.conns and not self.watchers


def control_of(message: Message) -> dict[str, Any] | None:
    """Socket-level effects of a stored system event (also when it was read back from the database)."""
    content = message.content
    if message.message_type != "system" or not isinstance(content, dict):
        return None
    event = content.get("event")
    if event == "member_removed":
        return {"kick": content.get("user_id")}
    if event == "member_role_changed":
        return {"role": [content.get("user_id"), content.get("role")]}
    return None


def _observe(stamp: float) -> None:
    metrics.FANOUT_LATENCY.observe(max(0.0, time.time() - stamp))


class Orderer:
    """Delivers each room's sequenced frames in order, filling gaps from PostgreSQL.

    What happens around a delivery belongs to others, set by the hub: `before_frame` (typing
    cleared by a message), `after_frames` (user streams), `ephemeral` (an unsequenced frame
    whose turn has come).
    """

    def __init__(self, services: Services) -> None:
        self.services = services
        self.before_frame: Callable[[RoomState, bytes], None] = lambda _room, _frame: None
        self.after_frames: Callable[[RoomState, list[bytes]], None] = lambda _room, _frames: None
        self.ephemeral: Callable[[RoomState, Ephemeral], None] = lambda _room, _env: None

    # ------------------------------------------------------------------ arrivals

    def on_envelope(self, room: RoomState, env: Sequenced) -> None:
        """A sequenced envelope from Redis (or this process's own commit)."""
        if room.next_expected is not None and room.next_expected > env.last:
            return  # delivered already (this process's own batch, or a gap fill)
        if not self._deliver_run(room, env.first, env.frames, env.control):
            last_index = len(env.frames) - 1
            for i, frame in enumerate(env.frames):
                self.on_sequenced(room, env.first + i, frame, env.control if i == last_index else None)
        if env.committed_at is not None:
            if room.next_expected is not None and room.next_expected > env.last:
                _observe(env.committed_at)
            else:
                room.stamps[env.last] = env.committed_at

    def on_sequenced(self, room: RoomState, seq: int, frame: bytes, control: dict[str, Any] | None) -> None:
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
        self._deliver_waiting(room)
        self.release_ephemeral(room)

    async def wait_for(self, room: RoomState, seq: int, timeout: float) -> bool:  # noqa: ASYNC109
        """Wait until this process has delivered `seq` in the room; False after `timeout`."""
        if room.next_expected is not None and room.next_expected > seq:
            return True
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        room.position_waiters.append((seq, waiter))
        try:
            async with asyncio.timeout(timeout):
                await waiter
            return True
        except TimeoutError:
            return False
        finally:
            room.position_waiters = [w for w in room.position_waiters if w[1] is not waiter]

    @staticmethod
    def _wake_waiters(room: RoomState) -> None:
        position = (room.next_expected or 1) - 1
        for seq, waiter in room.position_waiters:
            if seq <= position and not waiter.done():
                waiter.set_result(None)

    def start(self, room: RoomState, last_seq: int) -> None:
        """The room's position is known: deliver what arrived while it was being read."""
        room.next_expected = last_seq + 1
        if room.position_waiters:
            self._wake_waiters(room)
        early, room.pre_init = room.pre_init, []
        for seq, frame, control in sorted(early, key=lambda x: x[0]):
            self.on_sequenced(room, seq, frame, control)

    def on_ephemeral(self, room: RoomState, env: Ephemeral) -> None:
        if room.next_expected is None or env.after >= room.next_expected:
            room.eph_wait.append(env)
            return
        self.ephemeral(room, env)

    def release_ephemeral(self, room: RoomState) -> None:
        if not room.eph_wait or room.next_expected is None:
            return
        limit = room.next_expected
        ready = [e for e in room.eph_wait if e.after < limit]
        room.eph_wait = [e for e in room.eph_wait if e.after >= limit]
        for env in ready:
            self.ephemeral(room, env)

    # ------------------------------------------------------------------ delivery

    def _deliver_waiting(self, room: RoomState) -> None:
        while room.next_expected in room.pending:
            nxt = room.next_expected
            frame, control = room.pending.pop(nxt)
            self._deliver(room, nxt, frame, control)

    def _deliver_run(
        self, room: RoomState, first: int, frames: list[bytes], control: dict[str, Any] | None
    ) -> bool:
        """A whole batch that is next in order, handed to each socket in one call.

        The common case of a group commit arriving in order: no frame waits, no system event
        acts on sockets, nobody in the room is typing. Anything else returns False and goes
        frame by frame through `on_sequenced`.
        """
        if room.next_expected != first or room.pending or control or room.typing or len(frames) < 2:
            return False
        room.next_expected = first + len(frames)
        if room.stamps:
            for seq in range(first, first + len(frames)):
                stamp = room.stamps.pop(seq, None)
                if stamp is not None:
                    _observe(stamp)
        wires = [text_frame(f) for f in frames]
        for conn in room.conns:
            conn.push_run(first, frames, wires)
        if room.watchers:
            self.after_frames(room, frames)
        if room.position_waiters:
            self._wake_waiters(room)
        self.release_ephemeral(room)
        return True

    def _deliver(self, room: RoomState, seq: int, frame: bytes, control: dict[str, Any] | None) -> None:
        room.next_expected = seq + 1
        if room.stamps:
            stamp = room.stamps.pop(seq, None)
            if stamp is not None:
                _observe(stamp)
        if control:
            _apply_control(room, control)
        if room.typing or room.speakers_tracked:
            self.before_frame(room, frame)
        wire = text_frame(frame)
        for conn in room.conns:
            conn.push_sequenced(seq, frame, wire)
        if room.watchers:
            self.after_frames(room, [frame])
        if room.position_waiters:
            self._wake_waiters(room)

    # ------------------------------------------------------------------ gaps

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
                async with self.services.db.read() as conn:
                    rows = await messages_in_range(
                        conn, room.uuid, room.next_expected - 1, target, limit=REPLAY_PAGE
                    )
                if not rows:
                    break
                for msg in rows:
                    seq = msg.sequence_number
                    if room.next_expected is not None and seq == room.next_expected:
                        room.pending.pop(seq, None)
                        self._deliver(room, seq, message_frame_bytes(msg), control_of(msg))
                self._deliver_waiting(room)
                self.release_ephemeral(room)
                if up_to is not None and room.next_expected > up_to:
                    break
        except Exception:
            log.exception("gap fill failed; the tail check retries")
        finally:
            room.gap_task = None
            if room.pending:
                self._schedule_gap_fill(room)

    async def check_tails(self, rooms: list[RoomState]) -> None:
        """Fill up to each room's committed tail (a lost last publish, or after a Redis reconnect)."""
        rooms = [r for r in rooms if r.next_expected is not None]
        if not rooms:
            return
        async with self.services.db.read() as conn:
            positions = await room_positions(conn, [r.room_id for r in rooms])
        for room in rooms:
            last = positions.get(room.room_id)
            if last is None or room.next_expected is None or last < room.next_expected:
                continue
            if room.gap_task is None or room.gap_task.done():
                room.gap_task = asyncio.create_task(self._fill_gap(room, wait=0, up_to=last))


def _apply_control(room: RoomState, control: dict[str, Any]) -> None:
    """Socket effects of a stored system event, applied exactly at its place in the stream."""
    for conn in list(room.conns):
        apply_control(conn, control)


def apply_control(conn: Connection, control: dict[str, Any]) -> None:
    """One socket's part of a system event's effects: removed → closed 4403, a new role kept.

    Admins keep their sockets whatever their membership (they may read every room).
    """
    if conn.user.is_admin:
        return
    if control.get("kick") == conn.user_id:
        conn.close(4403, "removed from the room")
    role = control.get("role")
    if role and role[0] == conn.user_id:
        conn.role = role[1]
