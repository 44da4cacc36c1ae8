"""uvicorn's httptools HTTP protocol with the time bounds it lacks (slowloris and idle sockets).

uvicorn closes an idle keep-alive connection after `timeout_keep_alive`, but a connection that
has sent a byte of a request is waited on forever: a client trickling a header line, or
stopping half-way through a body, holds a socket and its buffers as long as it likes, and a
few thousand such clients exhaust the process's file descriptors. This protocol adds:

* a **header timeout** (`HTTP_HEADER_TIMEOUT`): armed when the connection is made and when a
  request begins, disarmed when the request's headers are complete. A connection whose headers
  do not complete in time is closed (`408` first, when nothing else was written);
* a **body timeout** (`HTTP_BODY_TIMEOUT`): while a request body is being read, the client may
  stall at most this long between two pieces of it (an upload is bounded by its pace, not its
  size). Time the application spends not reading (reading paused by flow control) is not
  counted against the client;
* a **bound on the request head** (:data:`MAX_HEAD_BYTES`): a request line and headers larger
  than that get `431` (uvicorn's httptools protocol accepts any size; its h11 one has
  `h11_max_incomplete_event_size`).

The idle keep-alive bound is uvicorn's own `timeout_keep_alive` (`HTTP_KEEP_ALIVE_TIMEOUT`),
set by `andon serve`. WebSocket upgrades are untouched: the header timer is disarmed before
uvicorn hands the socket to the WebSocket protocol, which has its own pings.
"""

from __future__ import annotations

import asyncio
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from api.domain.core.settings import get_settings

# Request line plus headers; browsers send a few KiB, large cookies stay well below this.
MAX_HEAD_BYTES = 64 * 1024


class AndonHttpProtocol(HttpToolsProtocol):
    """`HttpToolsProtocol` with header and body timeouts and a bounded request head."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        settings = get_settings()
        self.header_timeout = settings.http_header_timeout
        self.body_timeout = settings.http_body_timeout
        self._deadline: asyncio.TimerHandle | None = None
        self._head_bytes = 0
        self._in_head = True
        self._reading_body = False

    # --- timers -----------------------------------------------------------------------------

    def _arm(self, seconds: float, why: str) -> None:
        self._disarm()
        self._deadline = self.loop.call_later(seconds, self._expired, why)

    def _disarm(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None

    def _expired(self, why: str) -> None:
        self._deadline = None
        transport = self.transport
        if transport is None or transport.is_closing():
            return
        if why == "body" and self.flow is not None and self.flow.read_paused:
            # The application is not reading: the client is not the slow one.
            self._arm(self.body_timeout, "body")
            return
        if why == "headers" and (self.cycle is None or self.cycle.response_complete):
            # Nothing of a response written yet on this request: say why before closing.
            transport.write(b"HTTP/1.1 408 Request Timeout\r\ncontent-length: 0\r\nconnection: close\r\n\r\n")
        transport.close()

    # --- the connection and parser callbacks ---------------------------------------------

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        # A connection that sends nothing at all is bounded too (uvicorn arms keep-alive only
        # after a first response).
        self._arm(self.header_timeout, "headers")

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        if self._in_head:
            # Counted after parsing: bytes of a head that completed in this read are not held.
            self._head_bytes += len(data)
            if self._head_bytes > MAX_HEAD_BYTES and not self.transport.is_closing():
                self._disarm()
                self.transport.write(
                    b"HTTP/1.1 431 Request Header Fields Too Large\r\n"
                    b"content-length: 0\r\nconnection: close\r\n\r\n"
                )
                self.transport.close()

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._in_head = True
        self._head_bytes = 0
        self._reading_body = False
        self._arm(self.header_timeout, "headers")

    def on_headers_complete(self) -> None:
        self._in_head = False
        self._head_bytes = 0
        self._disarm()
        super().on_headers_complete()
        if self.cycle is not None and not self.cycle.response_complete and not self.transport.is_closing():
            # Disarmed again by on_message_complete, at once when there is no body.
            self._reading_body = True
            self._arm(self.body_timeout, "body")

    def on_body(self, body: bytes) -> None:
        super().on_body(body)
        if self._reading_body:
            self._arm(self.body_timeout, "body")

    def on_message_complete(self) -> None:
        if self._reading_body:
            self._reading_body = False
            self._disarm()
        super().on_message_complete()
