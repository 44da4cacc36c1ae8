"""One WebSocket connection: a bounded outgoing queue, drained straight into the socket.

Two ways out, one behaviour:

* Direct (the `andon.direct` scope extension of `api.ws.protocol`, which `andon serve` uses):
  frames are queued framed (a fan-out frame is framed once for all receivers), and those
  queued during one turn of the event loop leave in one transport write when the hub's
  `Flusher` runs at the end of that turn. No task, no ASGI send per
  frame. While the transport is paused (the peer reads slower than we write) frames wait in
  the queue.
* ASGI (any other server): a writer task, alive only while frames are queued, sends them one
  `websocket.send` at a time.

Either way a queue over its bound closes the socket with 1013: the client resumes with
`since` rather than the server growing without limit or skipping frames.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
from collections import deque
from collections.abc import Awaitable, Callable
from typing import Any, Protocol

from api.domain.auth.sessions import AuthUser
from api.ws.protocol import text_frame

log = logging.getLogger(__name__)

_ids = itertools.count(1)
# Close tasks under way (see `Connection.close`).
_closing: set[asyncio.Task[None]] = set()

Send = Callable[[dict[str, Any]], Awaitable[None]]


class WritableGate(Protocol):
    def is_set(self) -> bool: ...

    async def wait(self) -> bool: ...


class Direct:
    """The server's direct frame path for one socket (see `api.ws.protocol`)."""

    __slots__ = ("writable", "write")

    def __init__(self, write: Callable[[bytes], None], writable: WritableGate) -> None:
        self.write = write
        self.writable = writable

    @classmethod
    def from_scope(cls, scope: Any) -> Direct | None:
        ext = (scope.get("extensions") or {}).get("andon.direct")
        if not isinstance(ext, dict) or not callable(ext.get("write")) or ext.get("writable") is None:
            return None
        return cls(ext["write"], ext["writable"])


class Flusher:
    """Writes every direct connection that got frames during this event-loop turn, once.

    A group commit's batch or a burst read from Redis thus leaves as one write per socket.
    """

    __slots__ = ("_dirty", "_scheduled")

    def __init__(self) -> None:
        self._dirty: list[Connection] = []
        self._scheduled = False

    def mark(self, conn: Connection) -> None:
        self._dirty.append(conn)
        if not self._scheduled:
            self._scheduled = True
            asyncio.get_running_loop().call_soon(self.run)

    def run(self) -> None:
        self._scheduled = False
        dirty, self._dirty = self._dirty, []
        for conn in dirty:
            conn.flush_direct()


class Connection:
    """A signed-in socket in one room."""

    __slots__ = (
        "_drained",
        "_marked",
        "_writer",
        "close_code",
        "closed",
        "conn_id",
        "direct",
        "early",
        "flusher",
        "focused",
        "last_seq_sent",
        "max_queue",
        "opened",
        "queue",
        "refusals",
        "role",
        "room_id",
        "send",
        "sync_buffer",
        "syncing",
        "user",
        "writer_failed",
    )

    def __init__(
        self,
        send: Send,
        user: AuthUser,
        room_id: str,
        role: str,
        max_queue: int,
        direct: Direct | None = None,
        flusher: Flusher | None = None,
    ) -> None:
        self.conn_id = next(_ids)
        self.send = send
        self.user = user
        self.room_id = room_id
        self.role = role
        self.max_queue = max_queue
        # Direct writes need the hub's flusher; without one the ASGI path is used.
        self.direct = direct if flusher is not None else None
        self.flusher = flusher
        self._marked = False
        self.queue: list[bytes | str] = []
        self._writer: asyncio.Task[None] | None = None
        self._drained: asyncio.Event | None = None
        self.closed = False
        self.close_code: int | None = None
        # The peer went away under a send: the receive loop still reads its disconnect (and code).
        self.writer_failed = False
        # While syncing, sequenced frames from the room wait here (resume without gap or duplicate).
        self.syncing = True
        self.sync_buffer: list[tuple[int, bytes | str, bytes | None]] = []
        self.last_seq_sent = 0
        self.focused = False
        # Times of refused (rate-limited) sends, made on the first refusal.
        self.refusals: deque[float] | None = None
        # Until the `connected` frame is queued, other frames wait (it must come first).
        self.opened = False
        self.early: list[bytes | str] = []

    @property
    def user_id(self) -> str:
        return self.user.user_id

    def open(self, connected_frame: bytes) -> None:
        """Queue the `connected` frame, then whatever arrived for this socket before it."""
        self.opened = True
        self.push(connected_frame)
        early, self.early = self.early, []
        for frame in early:
            self.push(frame)

    def push(self, frame: bytes | str, wire: bytes | None = None) -> None:
        """Queue a frame (JSON text; `wire`: the same already framed, if the caller has it).

        Closes with 1013 if the client cannot keep up.
        """
        if self.closed:
            return
        if not self.opened:
            self.early.append(frame)
            if len(self.early) > self.max_queue:
                self.close(1013, "cannot keep up; resume with since")
            return
        if len(self.queue) >= self.max_queue:
            self.close(1013, "cannot keep up; resume with since")
            return
        if self.direct is not None:
            if wire is None:
                wire = text_frame(frame if isinstance(frame, bytes) else frame.encode())
            self.queue.append(wire)
            if not self._marked:
                self._marked = True
                assert self.flusher is not None
                self.flusher.mark(self)
        else:
            self.queue.append(frame)
            if self._writer is None:
                self._writer = asyncio.create_task(self._write())

    def push_sequenced(self, seq: int, frame: bytes | str, wire: bytes | None = None) -> None:
        """Deliver a sequenced frame: buffered while syncing, skipped if already sent."""
        if self.syncing:
            self.sync_buffer.append((seq, frame, wire))
            if len(self.sync_buffer) > self.max_queue * 4:
                self.close(1013, "cannot keep up; resume with since")
            return
        if seq <= self.last_seq_sent:
            return
        self.last_seq_sent = seq
        self.push(frame, wire)

    def push_run(self, first: int, frames: list[bytes], wires: list[bytes]) -> None:
        """Deliver consecutive sequenced frames `first`, `first + 1`, ... in one call."""
        last = first + len(frames) - 1
        if self.syncing or self.direct is None or not self.opened or self.closed:
            for i, frame in enumerate(frames):
                self.push_sequenced(first + i, frame, wires[i])
            return
        if last <= self.last_seq_sent:
            return
        skip = max(0, self.last_seq_sent + 1 - first)
        self.last_seq_sent = last
        queue = self.queue
        if len(queue) + len(wires) - skip > self.max_queue:
            self.close(1013, "cannot keep up; resume with since")
            return
        queue.extend(wires[skip:] if skip else wires)
        if not self._marked:
            self._marked = True
            assert self.flusher is not None
            self.flusher.mark(self)

    # ------------------------------------------------------------------ direct path

    def flush_direct(self) -> None:
        """Write everything queued in one go (called by the flusher, or when writes resume)."""
        self._marked = False
        direct = self.direct
        if direct is None or self.closed or not self.queue:
            return
        if not direct.writable.is_set():
            # The peer is behind: keep the frames (bounded) until the transport drains.
            if self._writer is None:
                self._writer = asyncio.create_task(self._resume_direct(direct))
            return
        wires, self.queue = self.queue, []
        try:
            direct.write(b"".join(wires))  # type: ignore[arg-type]
        except Exception:
            # The peer went away; the receive loop sees the disconnect and cleans up.
            self.closed = True
            self.writer_failed = True
        if self._drained is not None:
            self._drained.set()

    async def _resume_direct(self, direct: Direct) -> None:
        try:
            await direct.writable.wait()
        finally:
            self._writer = None
        self.flush_direct()

    # ------------------------------------------------------------------ ASGI path

    async def _write(self) -> None:
        try:
            while self.queue and not self.closed:
                frame = self.queue.pop(0)
                text = frame if isinstance(frame, str) else frame.decode("utf-8")
                await self.send({"type": "websocket.send", "text": text})
                if self._drained is not None and len(self.queue) <= self.max_queue // 2:
                    self._drained.set()
        except Exception:
            # The peer went away; the receive loop sees the disconnect and cleans up.
            self.closed = True
            self.writer_failed = True
            self.queue.clear()
        finally:
            self._writer = None
            if self._drained is not None:
                self._drained.set()

    # ------------------------------------------------------------------ back-pressure, close

    def _pending(self) -> bool:
        return bool(self.queue) or self._writer is not None or self._marked

    async def wait_room(self, timeout: float = 30.0) -> None:  # noqa: ASYNC109
        """Back-pressure for replay: wait until the queue is at most half full."""
        while len(self.queue) > self.max_queue // 2 and not self.closed:
            self._drained = asyncio.Event()
            try:
                async with asyncio.timeout(timeout):
                    await self._drained.wait()
            finally:
                self._drained = None

    async def flush(self, timeout: float = 5.0) -> None:  # noqa: ASYNC109
        """Wait until every queued frame has been handed to the socket."""
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(timeout):
                while self._pending() and not self.closed:
                    self._drained = asyncio.Event()
                    if self.direct is not None:
                        if not self._marked and self._writer is None:
                            self.flush_direct()
                            continue
                    elif self._writer is None and self.queue:
                        self._writer = asyncio.create_task(self._write())
                    await self._drained.wait()

    def close(self, code: int, reason: str = "") -> None:
        """Close now, dropping anything queued (the client receives nothing more)."""
        if self.closed:
            return
        self.closed = True
        self.close_code = code
        self.queue.clear()
        self.sync_buffer.clear()
        # Kept until done: the event loop holds only weak references to tasks.
        _closing.add(task := asyncio.create_task(self._close(code, reason)))
        task.add_done_callback(_closing.discard)

    async def _close(self, code: int, reason: str) -> None:
        writer = self._writer
        if writer is not None:
            writer.cancel()
            with contextlib.suppress(BaseException):  # cancelled on purpose just above
                await writer
        with contextlib.suppress(Exception):  # the peer is already gone: nothing left to tell it
            await self.send({"type": "websocket.close", "code": code, "reason": reason})

    async def close_after_flush(self, code: int, reason: str = "", timeout: float = 2.0) -> None:  # noqa: ASYNC109
        """Send what is queued, then close (graceful drain)."""
        await self.flush(timeout)
        self.close(code, reason)
