"""One timer for every socket's keep-alive ping in a process, instead of one timer each.

uvicorn pings each WebSocket `WS_PING_INTERVAL` after its last pong with a timer of its own,
so N idle sockets wake the event loop N / interval times a second, each wake-up for one ping
and, a moment later, one more for its pong. On this 2-core machine a wake-up costs more than
the ping (py-spy on an idle server with 10,000 sockets: 55 % of its CPU in `epoll_pwait` and
the loop around it), which made idle CPU grow by ~5 µs per socket per second.

The wheel keeps the sockets due in each slot of `tick` seconds and wakes once per slot that
has any: the pings of one slot leave together and their pongs come back together, read in a
few wake-ups. A ping leaves at the start of its slot, so never later than the interval and at
most one tick earlier. `tick` is a tenth of the interval, at most one second: the contract's
30 s pings go out in 1 s slots; a test's 50 ms interval still pings every ~50 ms.

The entry a socket gets back stands in for uvicorn's `TimerHandle` (`ping_timer`): uvicorn
only ever calls `cancel()` on it.
"""

from __future__ import annotations

import asyncio
import logging
import math
import weakref
from collections.abc import Callable

log = logging.getLogger(__name__)

MAX_TICK = 1.0


class WheelEntry:
    """One scheduled ping; `cancel()` keeps it from running (uvicorn's `TimerHandle.cancel`)."""

    __slots__ = ("callback", "cancelled")

    def __init__(self, callback: Callable[[], None]) -> None:
        self.callback = callback
        self.cancelled = False

    def cancel(self) -> None:
        self.cancelled = True
        self.callback = _nothing  # drop the protocol: a closed socket is not kept alive here


def _nothing() -> None:
    return None


class PingWheel:
    """Runs callbacks at the start of the `tick`-second slot they fall in, one timer for all."""

    def __init__(self, loop: asyncio.AbstractEventLoop, tick: float) -> None:
        self.loop = loop
        self.tick = tick
        self._slots: dict[int, list[WheelEntry]] = {}
        self._timer: asyncio.TimerHandle | None = None
        self._timer_slot: int | None = None

    def __len__(self) -> int:
        return sum(len(entries) for entries in self._slots.values())

    def call_later(self, delay: float, callback: Callable[[], None]) -> WheelEntry:
        """Run `callback` at the start of the slot `delay` seconds from now falls in."""
        entry = WheelEntry(callback)
        slot = math.floor((self.loop.time() + max(0.0, delay)) / self.tick)
        entries = self._slots.get(slot)
        if entries is None:
            self._slots[slot] = [entry]
            if self._timer_slot is None or slot < self._timer_slot:
                self._arm(slot)
        else:
            entries.append(entry)
        return entry

    def _arm(self, slot: int) -> None:
        if self._timer is not None:
            self._timer.cancel()
        self._timer_slot = slot
        self._timer = self.loop.call_at(slot * self.tick, self._fire)

    def _fire(self) -> None:
        self._timer = self._timer_slot = None
        # A timer may fire a hair before its time (the loop's clock resolution).
        now = self.loop.time() + 0.001
        due = sorted(s for s in self._slots if s * self.tick <= now)
        for slot in due:
            for entry in self._slots.pop(slot):
                if entry.cancelled:
                    continue
                try:
                    entry.callback()
                except Exception:
                    # One socket's failure must not stop the others' pings.
                    log.exception("keep-alive ping failed")
        if self._slots:
            self._arm(min(self._slots))


_wheels: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[float, PingWheel]] = (
    weakref.WeakKeyDictionary()
)


# The last wheel handed out, with its loop and interval: every pong asks for the same one, and
# a weak-keyed lookup per pong was a visible share of an idle server's keep-alive CPU.
# (Weakly: a test suite's many loops must still be collectable.)
_last: tuple[weakref.ref[asyncio.AbstractEventLoop], float, PingWheel] | None = None


def wheel_for(loop: asyncio.AbstractEventLoop, interval: float) -> PingWheel:
    """The process's wheel on `loop` for pings every `interval` seconds."""
    global _last
    last = _last
    if last is not None and last[0]() is loop and last[1] == interval:
        return last[2]
    tick = min(MAX_TICK, interval / 10) if interval > 0 else MAX_TICK
    per_loop = _wheels.setdefault(loop, {})
    wheel = per_loop.get(tick)
    if wheel is None:
        wheel = per_loop[tick] = PingWheel(loop, tick)
    _last = (weakref.ref(loop), interval, wheel)
    return wheel
