"""The activity tick stretches while the event loop is behind and shrinks back when it keeps up."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest

from api.ws.user_stream_tick import STRETCH_MAX, ActivityTick, next_delay

BASE = 0.010


def test_an_on_time_tick_stays_at_the_configured_length() -> None:
    assert next_delay(BASE, BASE, 0.0) == BASE
    assert next_delay(BASE, BASE, BASE * 0.9) == BASE


def test_a_late_tick_grows_the_next_one_up_to_the_cap() -> None:
    delay = BASE
    lengths = []
    for _ in range(10):
        delay = next_delay(BASE, delay, BASE * 3)
        lengths.append(delay)
    assert lengths[0] == pytest.approx(BASE * 1.5)
    assert lengths == sorted(lengths)
    assert lengths[-1] == pytest.approx(BASE * STRETCH_MAX)


def test_on_time_ticks_shrink_it_back_to_the_configured_length() -> None:
    delay = BASE * STRETCH_MAX
    for _ in range(20):
        delay = next_delay(BASE, delay, 0.0)
    assert delay == BASE


class _Room:
    def __init__(self, room_id: str) -> None:
        self.room_id = room_id


async def test_a_tick_fired_late_by_a_busy_loop_stretches_and_still_applies_everything() -> None:
    applied: list[tuple[str, list[bytes]]] = []
    done = asyncio.Event()

    def apply(room: Any, frames: list[bytes]) -> None:
        applied.append((room.room_id, frames))
        done.set()

    tick = ActivityTick(10, apply)
    room = _Room("r1")
    tick.add(room, [b"a"])  # type: ignore[arg-type]
    tick.add(room, [b"b"])  # type: ignore[arg-type]
    # Hold the loop for three ticks: the timer can only fire once this returns, late by >= 20 ms.
    time.sleep(0.030)
    await asyncio.wait_for(done.wait(), timeout=5)
    assert applied == [("r1", [b"a", b"b"])]
    assert tick.delay == pytest.approx(0.015)


async def test_tick_zero_never_stretches() -> None:
    done = asyncio.Event()
    tick = ActivityTick(0, lambda room, frames: done.set())
    tick.add(_Room("r1"), [b"a"])  # type: ignore[arg-type]
    time.sleep(0.020)
    await asyncio.wait_for(done.wait(), timeout=5)
    assert tick.delay == 0.0
