"""`/ws/{room_id}`: admitting a room socket (sign-in, room access, `since`), then its session
(`api.ws.room_session`) until it closes."""

from __future__ import annotations

import logging
import os
import time
from typing import Any, cast

from litestar import WebSocket, websocket

from api.domain.core.errors import Forbidden, Invalid, NotFound, Unauthorized
from api.domain.messages.opening import Opening, open_room
from api.logs import conn_id_var
from api.ws.admission import accept_and_check
from api.ws.connection import Connection, Direct, Send
from api.ws.hub import Hub
from api.ws.resume import Known
from api.ws.room_session import RoomSession
from api.ws.room_stream import REPLAY_PAGE

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
) -> tuple[Opening, int | None] | None:
    """Accept, then sign in, check the room and read what a resume needs; closes and returns None
    when refused.

    One statement (`api.domain.messages.opening`) checks the token and the membership and reads
    the room's position and, with `since`, the replay's first page. A function of its own so that
    its locals (the database connection) are not kept alive by the socket's long-lived frame.
    """
    token = await accept_and_check(socket, hub)
    if token is None:
        return None
    try:
        since = _int_or_none(socket.query_params.get("since"))
        bad_since = False
    except ValueError:
        # Judged after the token and the room, as before: a stranger learns nothing from it.
        since, bad_since = None, True
    try:
        async with hub.setup_slots, hub.db_read() as db:
            opening = await open_room(db, token, room_id, since, REPLAY_PAGE)
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
    if bad_since:
        await socket.close(4400, "since must be a non-negative integer")
        return None
    return opening, since


@websocket("/ws/{room_id:str}")
async def room_socket(socket: WebSocket[Any, Any, Any], room_id: str) -> None:
    hub: Hub = socket.app.state.hub
    admitted = await _admit(socket, hub, room_id)
    if admitted is None:
        return
    opening, since = admitted
    del admitted
    user = opening.user
    known = Known(opening.last_seq, opening.replay)
    conn = Connection(
        cast(Send, socket.send),
        user,
        opening.room_id,
        opening.role,
        hub.settings.ws_send_queue_max,
        Direct.from_scope(socket.scope),
        hub.flusher,
    )
    # Nothing reads the upgrade's headers from here on; an idle socket need not keep them.
    socket.scope["headers"] = []
    del opening
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
            await session.open(attached_at, since, known)
        except Exception as exc:
            log.warning("websocket open failed: %s", type(exc).__name__)
            conn.close(1011, "try again")
        else:
            # The replay's first page is sent: an open socket's frame must not keep it.
            del known
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
