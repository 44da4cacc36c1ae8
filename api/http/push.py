"""Web Push: the VAPID public key, subscriptions, and the caller's notification preferences."""

from __future__ import annotations

from typing import Any

from litestar import Request, Response, delete, get, post, put
from litestar.di import Provide

from api.domain.auth.sessions import AuthUser
from api.domain.push import prefs as push_prefs
from api.domain.push import subscriptions as push_subscriptions
from api.http.deps import current_user, json_body, services_of

AUTH = {"user": Provide(current_user)}


@get("/api/push/vapid-public-key", summary="The application server key to subscribe with (no sign-in)")
async def vapid_public_key(request: Request[Any, Any, Any]) -> dict[str, str]:
    return {"public_key": await push_subscriptions.vapid_public_key(services_of(request).settings)}


@post("/api/push/subscriptions", dependencies=AUTH, status_code=201, summary="Store a push subscription")
async def subscribe(request: Request[Any, Any, Any], user: AuthUser) -> dict[str, Any]:
    body = await json_body(request)
    return await push_subscriptions.do_subscribe(services_of(request), user, body)


@delete("/api/push/subscriptions", dependencies=AUTH, status_code=204, summary="Remove a push subscription")
async def unsubscribe(request: Request[Any, Any, Any], user: AuthUser) -> Response[None]:
    body = await json_body(request)
    await push_subscriptions.do_unsubscribe(services_of(request), user, body)
    return Response(None, status_code=204)


@get("/api/me/notifications", dependencies=AUTH, summary="The caller's push preferences")
async def get_notifications(request: Request[Any, Any, Any], user: AuthUser) -> dict[str, Any]:
    return await push_prefs.get_prefs(services_of(request), user)


@put("/api/me/notifications", dependencies=AUTH, summary="Replace the caller's push preferences")
async def put_notifications(request: Request[Any, Any, Any], user: AuthUser) -> dict[str, Any]:
    body = await json_body(request)
    return await push_prefs.do_set_prefs(services_of(request), user, body)
