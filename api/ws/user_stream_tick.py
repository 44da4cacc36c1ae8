"""The user streams' activity tick: a room's messages gathered, then one frame per stream.

The ordered room streams hand every delivered run of frames to `ActivityTick.add`. Nothing is
built per message: the frames wait, by room, until the tick (`USER_STREAM_TICK_MS` after the
first one) and are then applied together, so each member stream gets one `room_activity` per
room and tick carrying the latest state (CONTRACT's extension allows coalescing: the latest
state wins). Under load the tick gathers more per room, and each stream's frames of one tick
leave in one socket write (the hub's `Flusher`); with the tick at 0 the frames are applied at
the end of the event-loop turn that delivered them.

The tick stretches under load. When the timer fires later than a whole tick past its time, the
event loop is behind, and every extra socket write makes it more so: the next tick is half as
long again, up to `STRETCH_MAX` times the configured one. On-time ticks shrink it back by a
fifth each. A loop that keeps up therefore runs at the configured tick, and an overloaded one
gathers more frames into each write instead of falling further behind (docs/benchmarks.md,
*Quiet-machine runs of the tick*).

Order with the other frames of a stream: a frame pushed straight to user streams (a mention,
an urgent acknowledgement) first calls `flush`, so what the tick holds goes out before it.

`SharedActivity` is the frame of one room and tick, encoded once for all its member streams.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

from api.domain.events import SharedRoomActivity
from api.ws.room_stream import RoomState
from api.ws.user_stream_state import RoomRun, Watch

STRETCH_MAX = 4.0
STRETCH_GROW = 1.5
STRETCH_SHRINK = 0.8


def next_delay(base: float, delay: float, late: float) -> float:
    """The tick after one that fired `late` seconds after its time (see the module's text)."""
    if late > base:
        return min(base * STRETCH_MAX, delay * STRETCH_GROW)
    return max(base, delay * STRETCH_SHRINK)


class ActivityTick:
    """Frames delivered by the room streams since the last tick, by room, in delivery order."""

    __slots__ = ("_apply", "_due", "_handle", "_pending", "_scheduled", "base", "delay")

    def __init__(self, tick_ms: int, apply: Callable[[RoomState, list[bytes]], None]) -> None:
        self.base = tick_ms / 1000.0
        self.delay = self.base
        self._apply = apply
        self._pending: dict[str, tuple[RoomState, list[bytes]]] = {}
        self._handle: asyncio.Handle | None = None
        self._scheduled = False
        self._due = 0.0

    def __len__(self) -> int:
        """Rooms with frames waiting for the tick."""
        return len(self._pending)

    def add(self, room: RoomState, frames: list[bytes]) -> None:
        """Frames the room's ordered stream just delivered; applied at the next tick."""
        pending = self._pending.get(room.room_id)
        if pending is None or pending[0] is not room:
            if pending is not None:
                # The room was followed again meanwhile: what the old state delivered goes first.
                self._apply(*pending)
            self._pending[room.room_id] = (room, list(frames))
        else:
            pending[1].extend(frames)
        if not self._scheduled:
            self._scheduled = True
            loop = asyncio.get_running_loop()
            if self.delay > 0:
                self._due = time.monotonic() + self.delay
                self._handle = loop.call_later(self.delay, self._on_tick)
            else:
                self._handle = loop.call_soon(self.flush)

    def _on_tick(self) -> None:
        self._handle = None
        self.delay = next_delay(self.base, self.delay, time.monotonic() - self._due)
        self.flush()

    def flush(self) -> None:
        """Apply everything waiting now (the tick, or a frame about to bypass it)."""
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None
        self._scheduled = False
        if not self._pending:
            return
        pending, self._pending = self._pending, {}
        for room, frames in pending.values():
            self._apply(room, frames)


class SharedActivity:
    """`room_activity` for every member stream of one tick, encoded once but for the counts.

    Thousands of streams receive the same room, number, time and preview; only `unread_count`,
    `unread_mentions` and `last_message_at` differ, so they are spliced into bytes made once
    (`api.domain.events.SharedRoomActivity`). A stream whose view differs otherwise (a re-read
    under way gave it another preview) is encoded in full.
    """

    __slots__ = ("frames", "preview", "seq")

    def __init__(self, room_id: str, run: RoomRun) -> None:
        self.seq = run.last_seq
        self.preview = run.last
        self.frames = None if run.last is None else SharedRoomActivity(room_id, run.last_seq, run.last)

    def of(self, watch: Watch) -> bytes:
        if self.frames is None or watch.preview is not self.preview or watch.seq != self.seq:
            return watch.activity()
        return self.frames.frame(
            unread_count=watch.unread, unread_mentions=watch.mentions, last_message_at=watch.last_at
        )
