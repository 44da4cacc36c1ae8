"""The ping wheel: one timer per slot for every socket's keep-alive ping (api/ws/ping_wheel.py).

Driven by a hand-wound clock: the wheel only asks its loop for the time and for `call_at`.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

import pytest

from api.ws.ping_wheel import PingWheel, wheel_for


class _Timer:
    def __init__(self, when: float, callback: Callable[[], None]) -> None:
        self.when, self.callback, self.cancelled = when, callback, False

    def cancel(self) -> None:
        self.cancelled = True


class _Clock:
    """The two loop methods the wheel uses, with time that moves only when told."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.timers: list[_Timer] = []

    def time(self) -> float:
        return self.now

    def call_at(self, when: float, callback: Callable[[], None]) -> _Timer:
        timer = _Timer(when, callback)
        self.timers.append(timer)
        return timer

    def armed(self) -> list[_Timer]:
        return [t for t in self.timers if not t.cancelled]

    def run_due(self) -> None:
        """Advance to the earliest armed timer and run it."""
        timer = min(self.armed(), key=lambda t: t.when)
        self.timers.remove(timer)
        self.now = max(self.now, timer.when)
        timer.callback()


def _wheel(clock: _Clock, tick: float = 1.0) -> PingWheel:
    return PingWheel(clock, tick)  # type: ignore[arg-type]


def test_sockets_due_in_one_slot_share_one_timer_and_none_pings_late() -> None:
    clock = _Clock()
    wheel = _wheel(clock)
    ran: list[tuple[int, float]] = []
    for i in range(100):
        clock.now = 1000.0 + i / 200  # sockets opened over half a second
        wheel.call_later(30.0, lambda i=i: ran.append((i, clock.now)))
    assert len(clock.armed()) == 1  # one timer, not one per socket
    clock.run_due()
    assert [i for i, _ in ran] == list(range(100))
    assert all(at <= 1000.0 + i / 200 + 30.0 for i, at in ran)  # never later than the interval
    assert all(at > 1000.0 + i / 200 + 30.0 - 1.0 for i, at in ran)  # at most one tick early
    assert not clock.armed() and len(wheel) == 0


def test_a_cancelled_ping_does_not_run_and_later_slots_arm_the_timer_again() -> None:
    clock = _Clock()
    wheel = _wheel(clock)
    ran: list[str] = []
    first = wheel.call_later(30.0, lambda: ran.append("closed socket"))
    wheel.call_later(30.0, lambda: ran.append("open socket"))
    wheel.call_later(45.0, lambda: ran.append("later socket"))
    first.cancel()
    clock.run_due()
    assert ran == ["open socket"]
    assert [t.when for t in clock.armed()] == [1045.0]
    clock.run_due()
    assert ran == ["open socket", "later socket"]
    assert not clock.armed()


def test_an_earlier_slot_moves_the_timer_forward() -> None:
    clock = _Clock()
    wheel = _wheel(clock, tick=0.005)
    ran: list[str] = []
    wheel.call_later(30.0, lambda: ran.append("late"))
    wheel.call_later(0.05, lambda: ran.append("early"))
    assert [t.when for t in clock.armed()] == [pytest.approx(1000.05)]
    clock.run_due()
    clock.run_due()
    assert ran == ["early", "late"]


def test_a_failing_ping_is_logged_and_the_slot_goes_on(caplog: pytest.LogCaptureFixture) -> None:
    clock = _Clock()
    wheel = _wheel(clock)
    ran: list[str] = []

    def broken() -> None:
        raise RuntimeError("transport gone")

    wheel.call_later(30.0, broken)
    wheel.call_later(30.0, lambda: ran.append("next socket"))
    with caplog.at_level(logging.ERROR, logger="api.ws.ping_wheel"):
        clock.run_due()
    assert ran == ["next socket"]
    assert "keep-alive ping failed" in caplog.text


async def test_the_tick_is_a_tenth_of_the_interval_at_most_a_second() -> None:
    loop: Any = asyncio.get_running_loop()
    assert wheel_for(loop, 30.0).tick == 1.0
    assert wheel_for(loop, 0.05).tick == pytest.approx(0.005)
    assert wheel_for(loop, 30.0) is wheel_for(loop, 30.0)  # one wheel per loop and interval
