"""`/ws/{room_id}`: admitting a room socket (sign-in, room access, `since`), then its session
(`api.ws.room_session`) until it closes."""

from __future__ import annotations

import logging
import os
import time
from typing import Any, cast

from litestar import WebSocket, websocket

from api.domain.auth.access import access_room
from api.domain.auth.sessions import AuthUser, access_token
from api.domain.core.errors import Forbidden, Invalid, NotFound, Unauthorized
from api.logs import conn_id_var
from api.ws.admission import accept_and_check
from api.ws.connection import Connection, Direct, Send
from api.ws.hub import Hub
from api.ws.room_session import RoomSession

log = logging.getLogger(__name__)

def _int_or_none(value: str | None) -> int | None:
    if value is None or value == "":
        return None
    number = int(value)
    if number < 0:
        raise ValueError("negative")
    return number


async def _admit(
    socket: WebSocket[Any, Any, Any], hub: Hub, room_id: str
) -> tuple[AuthUser, str, str, int | None] | None:
    """Accept, then sign in and check the room; closes and returns None when refused.

    A function of its own so that its locals (the database connection, the room row) are
    not kept alive by the socket's long-lived frame.
    """
    token = await accept_and_check(socket, hub)
    if token is None:
        return None
    try:
        async with hub.setup_slots, hub.db_read() as db:
            user = await access_token(db, token)
            access = await access_room(db, room_id, user)
    except Unauthorized:
        await socket.close(4401, "unauthorized")
        return None
    except (NotFound, Invalid):
        await socket.close(4404, "no such room")
        return None
    except Forbidden:
        await socket.close(4403, "not a member of this room")
        return None
    except Exception as exc:
        # The database is busy or down: a server error the client retries (never a 4500).
        log.warning("websocket refused: %s", type(exc).__name__)
        await socket.close(1011, "try again")
        return None
    try:
        since = _int_or_none(socket.query_params.get("since"))
    except ValueError:
        await socket.close(4400, "since must be a non-negative integer")
        return None
    return user, access.room_id, access.role, since


@websocket("/ws/{room_id:str}")
async def room_socket(socket: WebSocket[Any, Any, Any], room_id: str) -> None:
    hub: Hub = socket.app.state.hub
    admitted = await _admit(socket, hub, room_id)
    if admitted is None:
        return
    user, room_key, role, since = admitted
    del admitted
    conn = Connection(
        cast(Send, socket.send),
        user,
        room_key,
        role,
        hub.settings.ws_send_queue_max,
        Direct.from_scope(socket.scope),
        hub.flusher,
    )
    # Nothing reads the upgrade's headers from here on; an idle socket need not keep them.
    socket.scope["headers"] = []
    session = RoomSession(hub, conn, user)
    try:
        attached_at = await hub.attach(conn)
    except Exception:
        await socket.close(1011, "try again")
        return
    # From here on every log line of this socket carries its connection id.
    conn_id_var.set(f"{os.getpid()}-{conn.conn_id}")
    opened_at = time.perf_counter()
    log.info("websocket opened", extra={"room_id": conn.room_id, "user_id": user.user_id})
    try:
        try:
            await session.open(attached_at, since)
        except Exception as exc:
            log.warning("websocket open failed: %s", type(exc).__name__)
            conn.close(1011, "try again")
        else:
            await session.receive_loop(socket)
    finally:
        await session.close()
        code = conn.close_code or session.peer_close_code or 1006
        log.info(
            "websocket closed %s",
            code,
            extra={
                "room_id": conn.room_id,
                "user_id": user.user_id,
                "close_code": code,
                "duration_ms": round((time.perf_counter() - opened_at) * 1000, 2),
            },
        )
