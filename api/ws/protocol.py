"""uvicorn's sans-I/O WebSocket protocol, made lean per idle socket and given a direct frame path.

`andon serve` runs uvicorn with this protocol class. It changes three things and nothing of
the ASGI contract:

* Per-socket memory. uvicorn keeps an `asyncio.Queue` (four deques) and an `asyncio.Event`
  per socket, and the parsed handshake request and response (header dictionaries) for the
  socket's whole life. Here the inbox and the writable gate are small slotted objects, and the
  handshake headers are dropped once the upgrade is answered. With 5,000 idle sockets that
  is most of the difference between ~28 and <20 KiB per connection.
* A direct frame path, offered to the application as the ASGI scope extension
  ``andon.direct`` (``{"write": callable, "writable": gate}``) on sockets without
  permessage-deflate: ``write(data)`` hands already framed text frames (`text_frame`) to the
  transport. A fan-out message is framed once for all its receivers and reaches a hundred
  sockets without a hundred trips through the ASGI send chain, and a batch of messages (one
  group commit) leaves in one write per socket. An application that does not look for the
  extension, or a socket with compression, is served exactly as by uvicorn.
* Parking, offered as the scope extension ``andon.park`` (a callable, ``park(on_event)``). An
  idle socket would otherwise keep its application coroutine suspended in ``receive()``: an
  asyncio Task and a stack of frames (the framework's handler wrappers, the route, the
  receive loop), several KiB per socket. An application that calls ``park(on_event)`` and
  then *returns* hands the open socket over to this protocol: the connection stays open, and
  whenever an event is queued for the application (a text frame, the disconnect) a short
  "pump" task takes the queued events one by one through ``receive()`` and awaits
  ``on_event(event)`` for each, then ends. One pump at a time, events in arrival order, and
  uvicorn's read pausing (reading resumes only once the queue is empty) as before. When
  ``on_event`` returns True the application is done with the socket, exactly as if its
  coroutine had returned then: the transport is closed unless a close handshake is under way.
  Pumps are uvicorn tasks (``server_state.tasks``): a graceful shutdown waits for them, and
  uvicorn's shutdown queues the 1012 disconnect, which starts one. ``park`` returns the socket's
  own ASGI send, and the scope is dropped once the application has returned: with the send
  of its middleware chain also let go, nothing of the framework's per-socket objects (the
  scope, its connection object and wrappers) stays behind. An application that returns
  without parking, or raises, is treated exactly as by uvicorn.
* Keep-alive pings are uvicorn's (a random 4-byte payload, the pong checked against it, close
  1011 when none came within the pong timeout), scheduled on one timer per process
  (`api.ws.ping_wheel`) instead of one per socket. The ping frame is written as prepared bytes
  (a server's control frame is two header bytes and the payload), and the pong deadline sits
  on a wheel too, one slot late at most (never early); the pong, when it arrives alone
  between frames, is read without websockets' generator-based parser. At tens of thousands of
  idle sockets the keep-alive is most of the server's CPU, and these were about half of it.
* Nothing else: close codes, the handshake and flow control are uvicorn's.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable
from typing import Any, NamedTuple

from uvicorn.protocols.utils import ClientDisconnected
from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol
from websockets.http11 import Request
from websockets.protocol import Protocol, State
from websockets.streams import StreamReader

from api.ws.ping_wheel import wheel_for

# A server's ping frame with a 4-byte payload: FIN + opcode 0x9, unmasked, length 4. Its pong
# from a client: FIN + opcode 0xA, masked, length 4 (0x8A 0x84), the mask, the masked payload.
_PING_HEADER = b"\x89\x04"
_AT_EOF = StreamReader.at_eof.__code__


class _Pong(NamedTuple):
    """What uvicorn's `handle_pong` reads of a pong frame."""

    data: bytes

DIRECT_EXTENSION = "andon.direct"
PARK_EXTENSION = "andon.park"

# What a parked application is called with for each event; True: done with the socket.
OnEvent = Callable[[dict[str, Any]], Awaitable[bool]]
Park = Callable[[OnEvent], Callable[[Any], Awaitable[None]]]


class _Waiters:
    """Futures of coroutines parked until something happens; none allocated while nobody waits."""

    __slots__ = ("_waiters",)

    def __init__(self) -> None:
        self._waiters: list[asyncio.Future[None]] | None = None

    def _park(self) -> asyncio.Future[None]:
        fut = asyncio.get_running_loop().create_future()
        if self._waiters is None:
            self._waiters = []
        self._waiters.append(fut)
        return fut

    def _wake(self) -> None:
        waiters = self._waiters
        if waiters:
            self._waiters = None
            for fut in waiters:
                if not fut.done():
                    fut.set_result(None)


class _Inbox(_Waiters):
    """The ASGI receive queue: a list and the futures of waiting readers (an `asyncio.Queue` costs ~4 KiB).

    `on_put`, set while the socket is parked, is told of every item queued.
    """

    __slots__ = ("_items", "on_put")

    def __init__(self) -> None:
        super().__init__()
        self._items: list[Any] = []
        self.on_put: Callable[[], None] | None = None

    def put_nowait(self, item: Any) -> None:
        self._items.append(item)
        self._wake()
        if self.on_put is not None:
            self.on_put()

    def empty(self) -> bool:
        return not self._items

    async def get(self) -> Any:
        while not self._items:
            await self._park()
        return self._items.pop(0)


class Gate(_Waiters):
    """An `asyncio.Event` without its deque: open while the transport accepts writes."""

    __slots__ = ("_open",)

    def __init__(self) -> None:
        super().__init__()
        self._open = True

    def is_set(self) -> bool:
        return self._open

    def set(self) -> None:
        self._open = True
        self._wake()

    def clear(self) -> None:
        self._open = False

    async def wait(self) -> bool:
        if self._open:
            return True
        fut = self._park()
        try:
            await fut
        finally:
            if self._waiters is not None and fut in self._waiters:
                self._waiters.remove(fut)
        return True


def _text_header(length: int) -> bytes:
    """The header of an unmasked, final text frame (RFC 6455 §5.2) carrying `length` bytes."""
    if length < 126:
        return bytes((0x81, length))
    if length < 65536:
        return bytes((0x81, 126)) + length.to_bytes(2, "big")
    return bytes((0x81, 127)) + length.to_bytes(8, "big")


def text_frame(payload: bytes) -> bytes:
    """A server-to-client text frame carrying this UTF-8 payload."""
    return _text_header(len(payload)) + payload


class AndonWebSocketProtocol(WebSocketsSansIOProtocol):
    """See the module docstring."""

    # Every attribute uvicorn's protocol sets (and parking's two), as slots: with ~40 of them
    # its instance dict is too large for CPython's key-sharing and costs ~2.5 KiB per socket.
    # An attribute a later uvicorn adds still works (it lands in the instance dict).
    __slots__ = (
        "_on_event",
        "_pumping",
        "app",
        "app_state",
        "asgi_version",
        "client",
        "close_sent",
        "close_timeout",
        "close_timer",
        "config",
        "conn",
        "connections",
        "curr_msg_data_type",
        "default_headers",
        "disconnected",
        "frames",
        "handshake_complete",
        "handshake_initiated",
        "initial_response",
        "last_ping_rtt",
        "logger",
        "loop",
        "pending_ping_payload",
        "ping_interval",
        "ping_sent_at",
        "ping_timeout",
        "ping_timer",
        "pong_timer",
        "queue",
        "read_paused",
        "request",
        "response",
        "root_path",
        "scheme",
        "scope",
        "server",
        "tasks",
        "transport",
        "writable",
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.queue = _Inbox()  # type: ignore[assignment]
        self.writable = Gate()  # type: ignore[assignment]
        # Parking (module docstring): the application's event handler once it asked to park,
        # and whether a pump task is running.
        self._on_event: OnEvent | None = None
        self._pumping = False

    def schedule_ping(self) -> None:
        """uvicorn's next keep-alive ping, on the process's ping wheel (`api.ws.ping_wheel`)
        instead of a timer of its own: idle sockets then wake the loop once per slot, not
        once per socket."""
        assert self.ping_interval is not None
        delay = max(0.0, self.ping_interval - self.last_ping_rtt)
        wheel = wheel_for(self.loop, self.ping_interval)
        self.ping_timer = wheel.call_later(delay, self.send_keepalive_ping)  # type: ignore[assignment]

    def send_keepalive_ping(self) -> None:
        """uvicorn's keep-alive ping (see the module docstring), without websockets' framing
        and with its pong deadline on the wheel. `handle_pong` (uvicorn's) checks the payload,
        cancels the deadline and schedules the next ping; the deadline is uvicorn's
        `keepalive_timeout`, which fails the connection with 1011."""
        self.ping_timer = None
        if self.close_sent or self.transport.is_closing():
            return
        if self.conn.state is not State.OPEN and self.conn.state is not State.CLOSING:
            return  # websockets would refuse the ping (`InvalidState`): the socket is going away
        payload = random.getrandbits(32).to_bytes(4, "big")
        self.pending_ping_payload = payload
        self.ping_sent_at = self.loop.time()
        self.transport.write(_PING_HEADER + payload)
        if self.ping_timeout is not None:
            assert self.ping_interval is not None
            wheel = wheel_for(self.loop, self.ping_interval)
            # A wheel runs a callback at the start of its slot, up to one tick early: one tick
            # more, so no pong is ever given less than `ping_timeout`.
            self.pong_timer = wheel.call_later(self.ping_timeout + wheel.tick, self.keepalive_timeout)  # type: ignore[assignment]
        else:
            self.schedule_ping()

    def data_received(self, data: bytes) -> None:
        """uvicorn's, with a short path for what an idle socket mostly receives: the pong to our
        keep-alive ping, one masked 10-byte frame. Taken only when websockets' parser waits at
        a frame boundary with nothing buffered, where it would parse exactly this frame and, for
        a pong, do nothing but hand it on; everything else goes through websockets as before."""
        if len(data) == 10 and data[0] == 0x8A and data[1] == 0x84 and self._at_frame_boundary():
            payload = (int.from_bytes(data[6:10], "big") ^ int.from_bytes(data[2:6], "big")).to_bytes(4, "big")
            self.handle_pong(_Pong(payload))  # type: ignore[arg-type]
            return
        WebSocketsSansIOProtocol.data_received(self, data)

    def _at_frame_boundary(self) -> bool:
        conn = self.conn
        if conn.state is not State.OPEN or conn.reader.buffer:
            return False
        # Between frames, websockets' `parse()` is suspended in `reader.at_eof()` (the server's
        # handshake parser, if still in place, delegates to it: follow the chain inwards).
        gen: Any = conn.parser
        while (inner := getattr(gen, "gi_yieldfrom", None)) is not None:
            gen = inner
        return getattr(gen, "gi_code", None) is _AT_EOF

    def connection_lost(self, exc: Exception | None) -> None:
        """The TCP connection ended. uvicorn reports 1005 here when no close frame came; that is an
        abnormal closure, 1006 (RFC 6455 §7.1.5). A peer's close frame, if one came, was already
        reported with its own code by the close handshake."""
        super().connection_lost(exc)
        items = getattr(self.queue, "_items", None)
        if items and items[-1].get("type") == "websocket.disconnect" and items[-1].get("code") == 1005:
            items[-1]["code"] = 1006  # the event uvicorn has just queued

    def handle_connect(self, event: Request) -> None:
        super().handle_connect(event)
        scope = getattr(self, "scope", None)
        # Offered only without permessage-deflate (negotiated by now): the frames are written
        # as they were framed, once for every receiver.
        if scope is not None and not self.conn.extensions:
            scope["extensions"][DIRECT_EXTENSION] = {"write": self.write_wire, "writable": self.writable}
        if scope is not None:
            scope["extensions"][PARK_EXTENSION] = self.park

    async def send(self, message: Any) -> None:
        await super().send(message)
        if message["type"] == "websocket.accept" and self.handshake_complete:
            self._shed_handshake()

    def _shed_handshake(self) -> None:
        """Drop the upgrade's headers: nothing reads them once the 101 is written.

        The parsed request is also referenced from the websockets parser's suspended frame,
        so its headers are emptied in place rather than only unreferenced here.
        """
        for name in ("request", "response"):
            headers = getattr(getattr(self, name, None), "headers", None)
            if headers is not None:
                headers.clear()
            setattr(self, name, None)
        # websockets' server parser stays suspended inside its handshake step (holding the
        # request) for the socket's life. With nothing buffered, nothing is half-read: start
        # a plain frame parser instead, as websockets itself does when it switches parsers.
        conn = self.conn
        if conn.state is State.OPEN and not conn.reader.buffer and conn.parser_exc is None:
            conn.parser = Protocol.parse(conn)
            next(conn.parser)

    def write_wire(self, data: bytes) -> None:
        """Write already framed server frames (see `text_frame`), in one transport write.

        Raises ConnectionError when the socket can take no more data frames (closing, closed
        or not yet accepted); the caller then treats the peer as gone.
        """
        if (
            self.disconnected
            or self.close_sent
            or not self.handshake_complete
            or self.initial_response is not None
            or self.transport.is_closing()
            or self.conn.state is not State.OPEN
        ):
            raise ConnectionError("websocket is not open")
        self.transport.write(data)

    # ------------------------------------------------------------------ parking

    def park(self, on_event: OnEvent) -> Callable[[Any], Awaitable[None]]:
        """Hand the open socket to this protocol once the application returns (module docstring).

        Called by the application just before it returns; events queued from now on (and any
        already queued) reach `on_event` through pump tasks, one at a time, in order. Returns
        this socket's ASGI send without the application's middleware: keeping it instead of
        the send it was given lets the application drop its framework's per-socket objects.
        """
        self._on_event = on_event
        return self.send

    async def run_asgi(self) -> None:
        """uvicorn's `run_asgi`, except that an application which parked its socket and then
        returned normally leaves the connection open (uvicorn would close the transport)."""
        try:
            result = await self.app(self.scope, self.receive, self.send)
        except ClientDisconnected:
            self._on_event = None
        except BaseException:
            self._on_event = None
            self.logger.exception("Exception in ASGI application\n")
            self.send_500_response()
        else:
            if not self.handshake_complete:
                self._on_event = None
                self.logger.error("ASGI callable returned without completing handshake.")
                self.send_500_response()
            elif result is not None:
                self.logger.error("ASGI callable should return None, but returned '%s'.", result)
        if self._on_event is not None:
            # Only the handshake read the scope: a parked socket need not keep it (nor what the
            # application's framework hung on it).
            self.scope = None  # type: ignore[assignment]
            self.queue.on_put = self._start_pump  # type: ignore[attr-defined]
            if not self.queue.empty():
                self._start_pump()
            return
        if self.close_timer is None:
            self.transport.close()

    def _start_pump(self) -> None:
        if self._pumping or self._on_event is None:
            return
        self._pumping = True
        task = self.loop.create_task(self._pump())
        # A uvicorn task like the application's: shutdown waits for it (bounded by its timeout).
        self.tasks.add(task)
        task.add_done_callback(self.on_task_complete)

    async def _pump(self) -> None:
        done = False
        try:
            while not self.queue.empty():
                on_event = self._on_event
                if on_event is None:
                    break
                event = await self.receive()
                if await on_event(event):  # type: ignore[arg-type]
                    done = True
                    break
        except Exception:
            done = True
            self.logger.exception("Exception in ASGI application\n")
        except BaseException:  # cancelled (shutdown timeout): as uvicorn leaves a cancelled app
            done = True
            raise
        finally:
            self._pumping = False
            if done:
                self._unpark()

    def _unpark(self) -> None:
        """The application is done with the socket: what uvicorn does when its coroutine returns."""
        self._on_event = None
        self.queue.on_put = None  # type: ignore[attr-defined]
        if self.close_timer is None:
            self.transport.close()
