"""One WebSocket connection: a bounded outgoing queue drained by a writer task.

The writer task exists only while frames are queued, so an idle connection costs no task.
A queue over its bound closes the socket with 1013: the client resumes with `since`
rather than the server growing without limit or skipping frames.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
from collections import deque
from collections.abc import Awaitable, Callable
from typing import Any

from api.domain.auth import AuthUser

log = logging.getLogger(__name__)

_ids = itertools.count(1)

Send = Callable[[dict[str, Any]], Awaitable[None]]


class Connection:
    """A signed-in socket in one room."""

    __slots__ = (
        "_drained",
        "_writer",
        "close_code",
        "closed",
        "conn_id",
        "early",
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

    def __init__(self, send: Send, user: AuthUser, room_id: str, role: str, max_queue: int) -> None:
        self.conn_id = next(_ids)
        self.send = send
        self.user = user
        self.room_id = room_id
        self.role = role
        self.max_queue = max_queue
        self.queue: deque[bytes | str] = deque()
        self._writer: asyncio.Task[None] | None = None
        self._drained: asyncio.Event | None = None
        self.closed = False
        self.close_code: int | None = None
        # The peer went away under a send: the receive loop still reads its disconnect (and code).
        self.writer_failed = False
        # While syncing, sequenced frames from the room wait here (resume without gap or duplicate).
        self.syncing = True
        self.sync_buffer: list[tuple[int, bytes | str]] = []
        self.last_seq_sent = 0
        self.focused = False
        self.refusals: deque[float] = deque()
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

    def push(self, frame: bytes | str) -> None:
        """Queue a frame; close with 1013 if the client cannot keep up."""
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
        self.queue.append(frame)
        if self._writer is None:
            self._writer = asyncio.create_task(self._write())

    def push_sequenced(self, seq: int, frame: bytes | str) -> None:
        """Deliver a sequenced frame: buffered while syncing, skipped if already sent."""
        if self.syncing:
            self.sync_buffer.append((seq, frame))
            if len(self.sync_buffer) > self.max_queue * 4:
                self.close(1013, "cannot keep up; resume with since")
            return
        if seq <= self.last_seq_sent:
            return
        self.last_seq_sent = seq
        self.push(frame)

    async def _write(self) -> None:
        try:
            while self.queue and not self.closed:
                frame = self.queue.popleft()
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
                while (self.queue or self._writer is not None) and not self.closed:
                    self._drained = asyncio.Event()
                    if self._writer is None and self.queue:
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
        task = asyncio.create_task(self._close(code, reason))
        task.add_done_callback(lambda _t: None)

    async def _close(self, code: int, reason: str) -> None:
        writer = self._writer
        if writer is not None:
            writer.cancel()
            with contextlib.suppress(BaseException):
                await writer
        with contextlib.suppress(Exception):
            await self.send({"type": "websocket.close", "code": code, "reason": reason})

    async def close_after_flush(self, code: int, reason: str = "", timeout: float = 2.0) -> None:  # noqa: ASYNC109
        """Send what is queued, then close (graceful drain)."""
        await self.flush(timeout)
        self.close(code, reason)
