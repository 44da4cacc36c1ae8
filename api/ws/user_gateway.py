"""`/ws`: the user stream (docs/user-stream.md): the room list, mentions and alerts, live on every page."""

from __future__ import annotations

import logging
import os
import time
from collections import deque
from typing import Any, cast

from litestar import WebSocket, websocket

from api.domain.auth.sessions import access_token
from api.domain.core.errors import Unauthorized
from api.logs import conn_id_var
from api.ws.admission import accept_and_check, client_frame, error_frame, pong_frame
from api.ws.connection import Connection, Direct, Send
from api.ws.hub import Hub
from api.ws.user_stream_state import UserStream

log = logging.getLogger(__name__)

# Frames a client may send in any ten seconds, in multiples of RATE_LIMIT_PER_SECOND; more closes
# with 1008. A client heartbeat sends one every few seconds.
FRAME_BUDGET_FACTOR = 10


@websocket("/ws")
async def user_socket(socket: WebSocket[Any, Any, Any]) -> None:
    hub: Hub = socket.app.state.hub
    token = await accept_and_check(socket, hub)
    if token is None:
        return
    try:
        async with hub.setup_slots, hub.db_read() as db:
            user = await access_token(db, token)
    except Unauthorized:
        await socket.close(4401, "unauthorized")
        return
    except Exception as exc:
        log.warning("user stream refused: %s", type(exc).__name__)
        await socket.close(1011, "try again")
        return
    del token
    conn = Connection(
        cast(Send, socket.send),
        user,
        "",
        "",
        hub.settings.ws_send_queue_max,
        Direct.from_scope(socket.scope),
        hub.flusher,
    )
    socket.scope["headers"] = []
    stream = UserStream(conn, user)
    conn_id_var.set(f"{os.getpid()}-{conn.conn_id}")
    opened_at = time.perf_counter()
    log.info("user stream opened", extra={"user_id": user.user_id})
    peer_code: int | None = None
    try:
        try:
            async with hub.setup_slots:
                await hub.streams.open(stream)
        except Exception as exc:
            log.warning("user stream open failed: %s", type(exc).__name__)
            conn.close(1011, "try again")
        peer_code = await _receive_loop(socket, conn, hub.settings.rate_limit_per_second)
    finally:
        hub.streams.close(stream)
        code = conn.close_code or peer_code or 1006
        log.info(
            "user stream closed %s",
            code,
            extra={
                "user_id": user.user_id,
                "close_code": code,
                "duration_ms": round((time.perf_counter() - opened_at) * 1000, 2),
            },
        )


async def _receive_loop(socket: WebSocket[Any, Any, Any], conn: Connection, per_second: float) -> int | None:
    """Answer pings, refuse anything else; returns the peer's close code."""
    budget = max(1, int(FRAME_BUDGET_FACTOR * per_second))
    recent: deque[float] = deque()
    while not conn.closed or conn.writer_failed:
        event = await socket.receive()
        kind = event["type"]
        if kind == "websocket.disconnect":
            return cast("int | None", event.get("code"))
        if kind != "websocket.receive" or conn.closed:
            continue
        now = time.monotonic()
        recent.append(now)
        while recent and now - recent[0] > 10.0:
            recent.popleft()
        if len(recent) > budget:
            conn.close(1008, "too many frames")
            continue
        frame = client_frame(conn, event)
        if frame is None:
            continue
        if frame.get("type") == "ping":
            conn.push(pong_frame(frame))
        else:
            conn.push(error_frame("invalid", "the user stream takes only ping frames"))
    return None
