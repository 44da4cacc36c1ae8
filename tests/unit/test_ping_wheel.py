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


def test_the_keepalive_ping_is_framed_as_websockets_frames_it_and_no_pong_gets_less_than_the_timeout() -> None:
    from types import SimpleNamespace

    from websockets.frames import Frame, Opcode
    from websockets.protocol import State

    from api.ws.protocol import AndonWebSocketProtocol

    clock = _Clock()
    clock.now = 1000.3  # mid-slot: a wheel runs its slot's callbacks at the slot's start
    written: list[bytes] = []
    deadlines: list[float] = []
    proto = SimpleNamespace(
        ping_timer=object(),
        close_sent=False,
        transport=SimpleNamespace(is_closing=lambda: False, write=written.append),
        conn=SimpleNamespace(state=State.OPEN),
        loop=clock,
        ping_interval=30.0,
        ping_timeout=10.0,
        pending_ping_payload=None,
        ping_sent_at=0.0,
        pong_timer=None,
        keepalive_timeout=lambda: deadlines.append(clock.now),
    )
    AndonWebSocketProtocol.send_keepalive_ping(proto)  # type: ignore[arg-type]
    payload = proto.pending_ping_payload
    assert isinstance(payload, bytes) and len(payload) == 4
    assert written == [Frame(Opcode.PING, payload).serialize(mask=False, extensions=[])]
    assert proto.ping_timer is None and proto.ping_sent_at == 1000.3
    clock.run_due()
    assert len(deadlines) == 1 and 1010.3 <= deadlines[0] <= 1010.3 + 2 * 1.0  # late by a tick at most, never early
    # The pong came in time: uvicorn's handle_pong cancels the deadline, which then never runs.
    AndonWebSocketProtocol.send_keepalive_ping(proto)  # type: ignore[arg-type]
    proto.pong_timer.cancel()
    clock.run_due()
    assert len(deadlines) == 1
    # A socket that is closing sends no ping.
    proto.conn.state = State.CLOSED
    AndonWebSocketProtocol.send_keepalive_ping(proto)  # type: ignore[arg-type]
    assert len(written) == 2


def _open_server_conn(shed: bool) -> Any:
    """websockets' server protocol after a real handshake, as uvicorn holds it (with `shed`, its
    parser replaced by a plain frame parser, as `AndonWebSocketProtocol._shed_handshake` does)."""
    from websockets.protocol import Protocol
    from websockets.server import ServerProtocol

    conn = ServerProtocol()
    conn.receive_data(
        b"GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
    )
    (request,) = conn.events_received()
    conn.send_response(conn.accept(request))
    conn.data_to_send()
    if shed:
        conn.parser = Protocol.parse(conn)
        next(conn.parser)
    return conn


def _masked(opcode: int, payload: bytes, mask: bytes = b"\x11\x22\x33\x44") -> bytes:
    body = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
    return bytes((0x80 | opcode, 0x80 | len(payload))) + mask + body


@pytest.mark.parametrize("shed", [True, False])
def test_a_pong_between_frames_is_read_without_websockets_parser_and_anything_else_with_it(shed: bool) -> None:
    from types import SimpleNamespace

    from api.ws.protocol import AndonWebSocketProtocol

    conn = _open_server_conn(shed)
    pongs: list[bytes] = []
    slow: list[str] = []
    proto = SimpleNamespace(
        conn=conn,
        handle_pong=lambda event: pongs.append(bytes(event.data)),
        handle_events=lambda: slow.append("websockets"),
        handshake_initiated=True,
    )
    proto._at_frame_boundary = lambda: AndonWebSocketProtocol._at_frame_boundary(proto)  # type: ignore[arg-type]
    receive = AndonWebSocketProtocol.data_received

    receive(proto, _masked(0xA, b"\x01\x02\x03\x04"))  # type: ignore[arg-type]
    assert pongs == [b"\x01\x02\x03\x04"] and slow == []  # the short path, unmasked right

    # Mid-frame (a text frame's first two bytes arrived alone): its rest looks exactly like a
    # pong (10 bytes from 0x8A 0x84: the mask chosen so), and websockets must read it.
    text = _masked(0x1, b"hello!", mask=b"\x8a\x84\x00\x00")
    receive(proto, text[:2])  # type: ignore[arg-type]
    assert slow == ["websockets"]
    assert len(text[2:]) == 10 and text[2:4] == b"\x8a\x84"
    receive(proto, text[2:])  # type: ignore[arg-type]
    (frame,) = conn.events_received()
    assert frame.data == b"hello!" and pongs == [b"\x01\x02\x03\x04"]

    # Back at a boundary, a pong takes the short path again; a pong glued to another frame,
    # or one of another length, goes through websockets.
    receive(proto, _masked(0xA, b"\x05\x06\x07\x08"))  # type: ignore[arg-type]
    receive(proto, _masked(0xA, b"\x05\x06\x07\x08") + _masked(0x1, b"x"))  # type: ignore[arg-type]
    receive(proto, _masked(0xA, b"\x09"))  # type: ignore[arg-type]
    assert pongs == [b"\x01\x02\x03\x04", b"\x05\x06\x07\x08"]
    assert [(f.opcode.name, f.data) for f in conn.events_received()] == [
        ("PONG", b"\x05\x06\x07\x08"),
        ("TEXT", b"x"),
        ("PONG", b"\x09"),
    ]
