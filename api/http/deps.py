"""Request plumbing shared by controllers: services, authentication, origin checks, bodies."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any, TypeVar

from litestar import Request
from litestar.exceptions import HTTPException

from api.domain.auth.sessions import AuthUser, access_token
from api.domain.core.errors import Forbidden, Invalid, Unauthorized
from api.domain.core.jsonsafe import loads
from api.domain.core.services import Services
from api.domain.core.timefmt import parse_iso

SESSION_COOKIE = "andon_session"
UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
MAX_JSON_BODY = 256 * 1024

N = TypeVar("N", int, float)


def services_of(request: Request[Any, Any, Any]) -> Services:
    return request.app.state.services  # type: ignore[no-any-return]


def presented_token(request: Request[Any, Any, Any]) -> tuple[str | None, str]:
    """The first credential present, in contract order: bearer header, then cookie."""
    header = request.headers.get("authorization")
    if header is not None:
        scheme, _, value = header.partition(" ")
        if scheme.lower() != "bearer" or not value.strip():
            raise Unauthorized("malformed Authorization header")
        return value.strip(), "bearer"
    cookie = request.cookies.get(SESSION_COOKIE)
    if cookie:
        return cookie, "cookie"
    return None, "none"


async def current_user(request: Request[Any, Any, Any]) -> AuthUser:
    """Authenticate the request (401 without a valid token; 403 for a cookie without a good Origin)."""
    token, source = presented_token(request)
    if token is None:
        raise Unauthorized("sign-in required")
    services = services_of(request)
    if source == "cookie" and request.method in UNSAFE_METHODS:
        origin = request.headers.get("origin")
        if not origin or not services.settings.origin_allowed(origin, request.headers.get("host")):
            raise Forbidden("cross-origin request refused")
    async with services.db.read() as conn:
        user = await access_token(conn, token)
    request.state.user_id = user.user_id
    return user


async def json_body(request: Request[Any, Any, Any]) -> dict[str, Any]:
    """The request's JSON object body, size- and depth-bounded."""
    raw = await request.body()
    if len(raw) > MAX_JSON_BODY:
        raise HTTPException(status_code=413, detail="request body too large")
    if not raw.strip():
        raise Invalid("a JSON object body is required")
    data = loads(raw, nul_code="unprocessable")
    if not isinstance(data, dict):
        raise Invalid("the body must be a JSON object")
    return data


def ts_param(value: str | None, name: str) -> Any:
    """An optional ISO 8601 query parameter; 422 when malformed."""
    if not value:
        return None
    try:
        return parse_iso(value)
    except ValueError as exc:
        raise Invalid(f"{name} must be an ISO 8601 timestamp", code="unprocessable") from exc


def _number(value: str | None, name: str, kind: Callable[[str], N], what: str) -> N | None:
    """An optional numeric query parameter; 422 when it is not one."""
    if value is None or value == "":
        return None
    try:
        return kind(value)
    except ValueError as exc:
        raise Invalid(f"{name} must be {what}", code="unprocessable") from exc


def int_param(value: str | None, name: str, minimum: int | None = None) -> int | None:
    number = _number(value, name, int, "an integer")
    if number is None:
        return None
    if minimum is not None and number < minimum:
        raise Invalid(f"{name} must be at least {minimum}", code="unprocessable")
    if not -(2**63) <= number < 2**63:
        raise Invalid(f"{name} is out of range", code="unprocessable")
    return number


def float_param(value: str | None, name: str) -> float | None:
    """An optional finite number (`inf` and `nan` parse as floats but are refused)."""
    number = _number(value, name, float, "a number")
    if number is not None and not math.isfinite(number):
        raise Invalid(f"{name} must be a finite number", code="unprocessable")
    return number


async def note_writes(message: Any, scope: Any) -> None:
    """`before_send`: a signed-in user's successful write remembers its WAL position for replica reads.

    Before the answer leaves, so the user's next read (any process) finds the write
    (`api.domain.core.replica`). Nothing to do without DATABASE_REPLICA_URL.
    """
    if message.get("type") != "http.response.start" or int(message.get("status", 500)) >= 400:
        return
    if scope.get("method") not in UNSAFE_METHODS:
        return
    user_id = (scope.get("state") or {}).get("user_id")
    services: Services | None = getattr(scope["app"].state, "services", None)
    if user_id and services is not None and services.replica is not None:
        await services.replica.note_write([user_id])
