"""Parking (`api.ws.protocol`): an application hands its open socket to the protocol and returns;
each later event reaches its handler through a short task, one at a time, in order.

The protocol is driven here as asyncio drives it (`connection_made`, `data_received`,
`connection_lost`) over a recording transport, with a real upgrade request and masked client
frames; every wait is on a task or future, bounded.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

from uvicorn.config import Config
from uvicorn.server import ServerState
from websockets.frames import Close, Frame, Opcode
from websockets.protocol import Protocol, Side, State

from api.ws.protocol import PARK_EXTENSION, AndonWebSocketProtocol

UPGRADE = (
    b"GET /ws/room HTTP/1.1\r\nHost: test\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
    b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
)
WAIT = 5.0

Handler = Callable[[dict[str, Any]], Awaitable[bool]]


class RecordingTransport:
    """What the protocol writes, and whether it paused reading or closed the connection."""

    def __init__(self) -> None:
        self.written: list[bytes] = []
        self.closed = False
        self.reading_paused = False

    def write(self, data: bytes) -> None:
        self.written.append(bytes(data))

    def close(self) -> None:
        self.closed = True

    def is_closing(self) -> bool:
        return self.closed

    def pause_reading(self) -> None:
        self.reading_paused = True

    def resume_reading(self) -> None:
        self.reading_paused = False

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return default


def text(payload: str) -> bytes:
    return Frame(Opcode.TEXT, payload.encode()).serialize(mask=True, extensions=[])


def close(code: int) -> bytes:
    return Frame(Opcode.CLOSE, Close(code, "").serialize()).serialize(mask=True, extensions=[])


def server_frames(data: bytes) -> list[Frame]:
    client = Protocol(Side.CLIENT, state=State.OPEN, max_size=None)
    client.receive_data(data)
    return [e for e in client.events_received() if isinstance(e, Frame)]


class Harness:
    """One socket on a protocol whose application accepts, then parks `handler` (or returns)."""

    def __init__(self, handler: Handler | None, before_return: asyncio.Future[None] | None = None) -> None:
        self.state = ServerState()
        self.transport = RecordingTransport()
        self.accepted = asyncio.get_running_loop().create_future()
        self.park_send: Any = None

        async def app(scope: Any, receive: Any, send: Any) -> None:
            assert (await receive())["type"] == "websocket.connect"
            await send({"type": "websocket.accept"})
            self.accepted.set_result(None)
            if before_return is not None:
                await before_return
            if handler is not None:
                self.park_send = scope["extensions"][PARK_EXTENSION](handler)

        config = Config(app=app, ws_ping_interval=None, proxy_headers=False)
        config.load()
        self.protocol = AndonWebSocketProtocol(config, self.state, {})
        self.protocol.connection_made(self.transport)  # type: ignore[arg-type]
        self.protocol.data_received(UPGRADE)
        (self.app_task,) = self.state.tasks

    async def app_returned(self) -> None:
        await asyncio.wait_for(self.app_task, WAIT)

    async def tasks_done(self) -> None:
        """Wait (bounded) until the protocol's tasks, pumps included, have all ended."""
        async with asyncio.timeout(WAIT):
            while self.state.tasks:
                await asyncio.wait(list(self.state.tasks))

    def sent_frames(self) -> list[Frame]:
        after_handshake = b"".join(self.transport.written[1:])
        return server_frames(after_handshake)


class Recorder:
    """A parked handler that notes each event; done at the disconnect. `hold` keeps it busy."""

    def __init__(self) -> None:
        self.events: list[dict[str, Any]] = []
        self.busy = 0
        self.most_busy = 0
        self.hold: asyncio.Future[None] | None = None
        self.entered: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    async def __call__(self, event: dict[str, Any]) -> bool:
        self.busy += 1
        self.most_busy = max(self.most_busy, self.busy)
        try:
            self.events.append(event)
            if not self.entered.done():
                self.entered.set_result(None)
            if self.hold is not None:
                await self.hold
            return event["type"] == "websocket.disconnect"
        finally:
            self.busy -= 1


async def test_a_parked_socket_stays_open_and_holds_no_task() -> None:
    handler = Recorder()
    h = Harness(handler)
    await h.app_returned()
    assert not h.transport.closed
    assert not h.state.tasks
    assert h.protocol in h.state.connections
    assert handler.events == []
    # Nothing of the application's per-socket objects is kept through the scope.
    assert h.protocol.scope is None
    assert h.park_send == h.protocol.send


async def test_frames_reach_the_parked_handler_in_order_and_one_at_a_time() -> None:
    handler = Recorder()
    handler.hold = asyncio.get_running_loop().create_future()
    h = Harness(handler)
    await h.app_returned()
    h.protocol.data_received(text("one"))
    await asyncio.wait_for(asyncio.shield(handler.entered), WAIT)
    # While the first is being handled, two more arrive: no second pump, reading paused.
    h.protocol.data_received(text("two"))
    h.protocol.data_received(text("three"))
    assert len(h.state.tasks) == 1
    assert h.transport.reading_paused
    handler.hold.set_result(None)
    await h.tasks_done()
    assert [e.get("text") for e in handler.events] == ["one", "two", "three"]
    assert handler.most_busy == 1
    assert not h.transport.reading_paused and not h.transport.closed
    # Idle again: no task until the next frame, which starts a new pump.
    assert not h.state.tasks
    h.protocol.data_received(text("four"))
    await h.tasks_done()
    assert [e.get("text") for e in handler.events][-1] == "four"


async def test_a_dropped_connection_reaches_the_parked_handler_once_as_1006() -> None:
    handler = Recorder()
    h = Harness(handler)
    await h.app_returned()
    h.protocol.connection_lost(None)
    await h.tasks_done()
    assert handler.events == [{"type": "websocket.disconnect", "code": 1006}]
    assert h.protocol not in h.state.connections


async def test_the_peers_close_code_reaches_the_handler_and_nothing_after_it() -> None:
    handler = Recorder()
    h = Harness(handler)
    await h.app_returned()
    h.protocol.data_received(close(4001))
    h.protocol.connection_lost(None)  # the TCP connection ends after the close handshake
    await h.tasks_done()
    assert [(e["type"], e.get("code")) for e in handler.events] == [("websocket.disconnect", 4001)]
    assert h.transport.closed


async def test_events_queued_before_the_application_returns_are_handled_once_it_parks() -> None:
    handler = Recorder()
    release = asyncio.get_running_loop().create_future()
    h = Harness(handler, before_return=release)
    await asyncio.wait_for(asyncio.shield(h.accepted), WAIT)
    h.protocol.data_received(text("early"))
    release.set_result(None)
    await h.app_returned()
    await h.tasks_done()
    assert [e.get("text") for e in handler.events] == ["early"]
    assert not h.transport.reading_paused


async def test_server_shutdown_closes_a_parked_socket_with_1012_and_waits_for_its_handler() -> None:
    handler = Recorder()
    handler.hold = asyncio.get_running_loop().create_future()
    h = Harness(handler)
    await h.app_returned()
    h.protocol.shutdown()  # what uvicorn's Server.shutdown calls on every connection
    (close_frame,) = h.sent_frames()
    assert close_frame.opcode is Opcode.CLOSE and Close.parse(close_frame.data).code == 1012
    assert h.transport.closed
    await asyncio.wait_for(asyncio.shield(handler.entered), WAIT)
    # The handler's bookkeeping runs in a task uvicorn tracks: its shutdown waits for it.
    assert len(h.state.tasks) == 1
    handler.hold.set_result(None)
    await h.tasks_done()
    assert handler.events == [{"type": "websocket.disconnect", "code": 1012}]


async def test_the_handler_closing_the_socket_ends_it_like_a_returning_application() -> None:
    h: Harness

    async def closes_on_first_frame(event: dict[str, Any]) -> bool:
        if event["type"] == "websocket.receive":
            await h.protocol.send({"type": "websocket.close", "code": 1008, "reason": "slow down"})
            return False
        return True

    h = Harness(closes_on_first_frame)
    await h.app_returned()
    h.protocol.data_received(text("too much"))
    await h.tasks_done()
    (close_frame,) = h.sent_frames()
    assert Close.parse(close_frame.data).code == 1008
    # Closed from this side: the transport waits for the peer's close reply (uvicorn's timer).
    assert not h.transport.closed and h.protocol.close_timer is not None
    h.protocol.close_timer.cancel()


async def test_an_application_that_returns_without_parking_is_closed_as_by_uvicorn() -> None:
    h = Harness(None)
    await h.app_returned()
    assert h.transport.closed
    assert not h.state.tasks
