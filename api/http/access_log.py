"""The access log and request ids.

Every HTTP request gets a request id: the incoming `X-Request-ID` when it looks like one (the
proxy's, so both logs join up), a fresh one otherwise. It is echoed in the response header and
carried by every log line written while the request runs. One line per request names the
method, the path without its query string (a WebSocket URL may carry `?token=`), the status
and the duration; never headers or bodies.

WebSockets get a request id too (echoed on the handshake response). The gateway logs each
session's open and close with its connection id; a socket refused before its session opened
(bad token, not a member, server draining) is logged here, with its close code.
"""

from __future__ import annotations

import logging
import re
import time
import uuid
from typing import Any

from litestar.types import ASGIApp, Receive, Scope, Send

from api.logs import conn_id_var, request_id_var

log = logging.getLogger("andon.access")

_SANE_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:-]{0,127}")


def request_id_from(headers: Any) -> str:
    """The caller's X-Request-ID if it is a plain token of at most 128 characters, else a new one."""
    for name, value in headers:
        if name == b"x-request-id":
            try:
                candidate = value.decode("ascii")
            except UnicodeDecodeError:
                break
            if _SANE_ID.fullmatch(candidate):
                return candidate
            break
    return uuid.uuid4().hex



HOOK_PREFIX = "/api/hooks/"


def loggable_path(path: str) -> str:
    """The path as logged: an incoming webhook's URL carries its secret, which is left out."""
    if path.startswith(HOOK_PREFIX):
        webhook_id = path[len(HOOK_PREFIX) :].split("/", 1)[0]
        return f"{HOOK_PREFIX}{webhook_id}/<secret>"
    return path

class _Exchange:
    """One request's or socket's notes, with the wrapped send/receive as bound methods.

    A slotted object rather than closures: a WebSocket keeps these alive for its whole life.
    """

    __slots__ = ("_receive", "_send", "close_code", "header", "status")

    def __init__(self, receive: Receive, send: Send, header: tuple[bytes, bytes]) -> None:
        self._receive = receive
        self._send = send
        self.header: tuple[bytes, bytes] | None = header
        self.status: int | None = None
        self.close_code: int | None = None

    async def send(self, message: Any) -> None:
        mtype = message["type"]
        if mtype == "websocket.send" or mtype == "http.response.body":
            # The per-frame path: nothing to note.
            await self._send(message)
            return
        if mtype == "http.response.start" or mtype == "websocket.accept":
            if mtype == "http.response.start":
                self.status = message["status"]
            message = {**message, "headers": [*message.get("headers", ()), self.header]}
            if mtype == "websocket.accept":
                self.header = None  # sent; a socket keeps this object for its whole life
        elif mtype == "websocket.close" and self.close_code is None:
            self.close_code = int(message.get("code", 1000))
        await self._send(message)

    async def receive(self) -> Any:
        message: Any = await self._receive()
        if message["type"] == "websocket.disconnect" and self.close_code is None:
            self.close_code = int(message.get("code", 1005))
        return message


class AccessLogMiddleware:
    """ASGI middleware: request id in, request id out, one access line per request."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind != "http" and kind != "websocket":
            await self.app(scope, receive, send)
            return
        request_id = request_id_from(scope.get("headers", ()))
        reset = request_id_var.set(request_id)
        reset_conn = conn_id_var.set(None)
        started = time.perf_counter()
        ex = _Exchange(receive, send, (b"x-request-id", request_id.encode("ascii")))
        del request_id
        try:
            await self.app(scope, ex.receive if kind == "websocket" else receive, ex.send)
        finally:
            duration_ms = round((time.perf_counter() - started) * 1000, 2)
            path = loggable_path(scope.get("path", ""))
            if kind == "http":
                status = ex.status if ex.status is not None else 500
                method = scope.get("method", "")
                log.info(
                    "%s %s %s",
                    method,
                    path,
                    status,
                    extra={"method": method, "path": path, "status": status, "duration_ms": duration_ms},
                )
            elif conn_id_var.get() is None:
                code = ex.close_code
                log.info(
                    "websocket %s refused %s",
                    path,
                    code,
                    extra={
                        "method": "WEBSOCKET",
                        "path": path,
                        "close_code": code,
                        "duration_ms": duration_ms,
                    },
                )
            conn_id_var.reset(reset_conn)
            request_id_var.reset(reset)
