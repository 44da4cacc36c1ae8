"""What every WebSocket route does before its first frame: accept, check Origin, find the credential.

Shared by `/ws/{room_id}` (`api.ws.gateway`) and `/ws` (`api.ws.user_gateway`), so the two
refuse alike (CONTRACT §2, §3), and the small frames both answer (errors, pongs).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from litestar import WebSocket

from api.domain import events
from api.domain.core.errors import DomainError
from api.domain.core.jsonsafe import loads
from api.domain.events import error_frame as error_frame

if TYPE_CHECKING:
    from api.ws.connection import Connection
    from api.ws.hub import Hub

SESSION_COOKIE = "andon_session"
CONTRACT_ERROR_CODES = frozenset(
    {"invalid", "forbidden", "not_found", "edit_window_expired", "rate_limited", "too_large"}
)
MAX_PING_ID = 64


def pong_frame(ping: dict[str, Any]) -> bytes:
    """The answer to an application-level `ping` (a compatible extension, docs/user-stream.md)."""
    ping_id = ping.get("id")
    ok = isinstance(ping_id, str | int) and not isinstance(ping_id, bool) and len(str(ping_id)) <= MAX_PING_ID
    return events.pong_frame(ping_id if ok else None)


def header(socket: WebSocket[Any, Any, Any], name: bytes) -> str | None:
    """One request header, read from the raw scope (Litestar's header map costs ~3 KiB per socket)."""
    for key, value in socket.scope["headers"]:
        if key.lower() == name:
            return bytes(value).decode("latin-1")
    return None


def credential(socket: WebSocket[Any, Any, Any]) -> tuple[str | None, str]:
    """The token and where it came from: bearer header, then `token` query, then the cookie."""
    value = header(socket, b"authorization")
    if value is not None:
        scheme, _, token = value.partition(" ")
        return (token.strip() if scheme.lower() == "bearer" and token.strip() else ""), "bearer"
    query_token = socket.query_params.get("token")
    if query_token is not None:
        return query_token, "query"
    cookie = socket.cookies.get(SESSION_COOKIE)
    if cookie:
        return cookie, "cookie"
    return None, "none"


async def accept_and_check(socket: WebSocket[Any, Any, Any], hub: Hub) -> str | None:
    """Accept the upgrade, then the checks that need no database; returns the token or closes.

    Closing needs an accepted socket for a custom code (an unaccepted one answers HTTP 403).
    """
    await socket.accept()
    if not hub.accepting:
        await socket.close(1012, "server restart")
        return None
    token, source = credential(socket)
    if not token:
        await socket.close(4401, "unauthorized")
        return None
    origin = header(socket, b"origin")
    if origin is not None and not hub.settings.origin_allowed(origin, header(socket, b"host")):
        await socket.close(4403, "origin not allowed")
        return None
    if source == "cookie" and origin is None:
        await socket.close(4403, "cookie sign-in needs an allowed Origin")
        return None
    return token


def client_frame(conn: Connection, event: Mapping[str, Any]) -> dict[str, Any] | None:
    """A received event's JSON object; anything else is answered with an `error` frame (None)."""
    raw = event.get("text")
    if raw is None:
        conn.push(error_frame("invalid", "frames must be JSON text"))
        return None
    try:
        frame = loads(raw)
    except DomainError as err:
        conn.push(error_frame(err.code, err.message))
        return None
    if not isinstance(frame, dict):
        conn.push(error_frame("invalid", "a frame must be a JSON object"))
        return None
    return frame
