"""`/ws/{room_id}`: admitting a room socket (sign-in, room access, `since`), then its session
(`api.ws.room_session`) until it closes.

Once the socket is open (`connected` sent, the resume done) the route *parks* it when the
server offers that (`andon.park`, `api.ws.protocol`): it hands a small handler
(`_ParkedSession`) to the server and returns. An idle socket then holds no task and no
suspended frames (Litestar's handler wrappers, this route, the receive loop: several KiB per
socket); each client frame and the disconnect reach the same `RoomSession` logic through a
short task the server starts, one at a time, and the close bookkeeping and the closing log line
run in the task that sees the end. Returning is the lightest way to drop those frames, and a
safe one: Litestar sends nothing after a websocket handler returns (`WebSocketRoute.handle`
just awaits the handler; only the `websocket_stream`/listener helpers close, and this route is
a plain handler), and the access-log middleware logs nothing for a socket whose session opened
(its connection id is set). Only the server's `run_asgi`, which would close the transport when
the application returns, is told otherwise, and only for a socket that parked. The socket's
`Connection` then sends through the server's own send, which `park` returns, rather than
Litestar's socket and the middleware: they only check the state and note a close code for the
access log (irrelevant once the session opened), and the app's `before_send` hook acts on HTTP
responses only. So Litestar's socket object, the scope and the wrappers go with the route's
frames. Under a server without the extension the route reads on in
`RoomSession.receive_loop`, as before.
"""

from __future__ import annotations

import logging
import os
import time
from typing import Any, cast

from litestar import WebSocket, websocket

from api.domain.core.errors import Forbidden, Invalid, NotFound, Unauthorized
from api.domain.messages.opening import Opening, open_room
from api.logs import conn_id_var, request_id_var
from api.ws.admission import accept_and_check
from api.ws.connection import Connection, Direct, Send
from api.ws.hub import Hub
from api.ws.protocol import PARK_EXTENSION
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
    conn_id_var.set(_conn_label(conn))
    opened_at = time.perf_counter()
    log.info("websocket opened", extra={"room_id": conn.room_id, "user_id": user.user_id})
    parked = False
    try:
        try:
            await session.open(attached_at, since, known)
        except Exception as exc:
            log.warning("websocket open failed: %s", type(exc).__name__)
            conn.close(1011, "try again")
        else:
            # The replay's first page is sent: an open socket's frame must not keep it.
            del known
            parked = _park(socket, session, opened_at)
            if not parked:
                await session.receive_loop(socket)
    finally:
        if not parked:
            await _end(session, opened_at)


def _conn_label(conn: Connection) -> str:
    return f"{os.getpid()}-{conn.conn_id}"


def _park(socket: WebSocket[Any, Any, Any], session: RoomSession, opened_at: float) -> bool:
    """Hand the open socket to the server (module docstring); False if it cannot take it."""
    park = (socket.scope.get("extensions") or {}).get(PARK_EXTENSION)
    if not callable(park):
        return False
    # The server's own send from now on: nothing then keeps Litestar's socket object, the
    # scope or the middleware's wrappers alive (about 3 KiB per socket).
    session.conn.send = park(_ParkedSession(session, opened_at, request_id_var.get()))
    return True


class _ParkedSession:
    """What the server calls with each event of a parked socket, in a short task of its own."""

    __slots__ = ("opened_at", "request_id", "session")

    def __init__(self, session: RoomSession, opened_at: float, request_id: str | None) -> None:
        self.session = session
        self.opened_at = opened_at
        # The handshake's request id: the socket's log lines keep carrying it.
        self.request_id = request_id

    async def __call__(self, event: dict[str, Any]) -> bool:
        session = self.session
        # A fresh task each time: its log lines carry this socket's ids, as the route's did.
        conn_id_var.set(_conn_label(session.conn))
        request_id_var.set(self.request_id)
        over = True  # also when handling raised: the bookkeeping runs, the server unparks
        try:
            over = await session.on_event(event)
        finally:
            if over:
                await _end(session, self.opened_at)
        return over


async def _end(session: RoomSession, opened_at: float) -> None:
    """The close bookkeeping and the closing line, once per socket however it ended."""
    await session.close()
    conn = session.conn
    code = conn.close_code or session.peer_close_code or 1006
    log.info(
        "websocket closed %s",
        code,
        extra={
            "room_id": conn.room_id,
            "user_id": conn.user.user_id,
            "close_code": code,
            "duration_ms": round((time.perf_counter() - opened_at) * 1000, 2),
        },
    )
