"""Web Push: the VAPID public key, subscriptions, and the caller's notification preferences."""

from __future__ import annotations

from typing import Any

from litestar import Controller, Request, Response, delete, get, post, put
from litestar.di import Provide

from api.domain.auth.sessions import AuthUser
from api.domain.push import prefs as push_prefs
from api.domain.push import subscriptions as push_subscriptions
from api.http.deps import current_user, json_body, services_of
from api.http.openapi import (
    NotificationPrefsBody,
    PushSubscriptionBody,
    PushUnsubscribeBody,
    allow,
    with_body,
)

AUTH = {"user": Provide(current_user)}


@get("/api/push/vapid-public-key", summary="The application server key to subscribe with (no sign-in)")
async def vapid_public_key(request: Request[Any, Any, Any]) -> dict[str, str]:
    return {"public_key": await push_subscriptions.vapid_public_key(services_of(request).settings)}


class SubscriptionRoutes(Controller):
    """`/api/push/subscriptions` (its own `OPTIONS`: see `api.http.openapi.allow`)."""

    path = "/api/push/subscriptions"
    dependencies = AUTH

    options_subscriptions = allow("/", "POST", "DELETE")

    @post(
        "/",
        status_code=201,
        summary="Store a push subscription",
        operation_class=with_body(PushSubscriptionBody),
    )
    async def subscribe(self, request: Request[Any, Any, Any], user: AuthUser) -> dict[str, Any]:
        body = await json_body(request)
        return await push_subscriptions.do_subscribe(services_of(request), user, body)

    @delete(
        "/",
        status_code=204,
        summary="Remove a push subscription",
        operation_class=with_body(PushUnsubscribeBody),
    )
    async def unsubscribe(self, request: Request[Any, Any, Any], user: AuthUser) -> Response[None]:
        body = await json_body(request)
        await push_subscriptions.do_unsubscribe(services_of(request), user, body)
        return Response(None, status_code=204)


class NotificationRoutes(Controller):
    """`/api/me/notifications`."""

    path = "/api/me/notifications"
    dependencies = AUTH

    options_notifications = allow("/", "GET", "PUT")

    @get("/", summary="The caller's push preferences")
    async def get_notifications(self, request: Request[Any, Any, Any], user: AuthUser) -> dict[str, Any]:
        return await push_prefs.get_prefs(services_of(request), user)

    @put(
        "/", summary="Replace the caller's push preferences", operation_class=with_body(NotificationPrefsBody)
    )
    async def put_notifications(self, request: Request[Any, Any, Any], user: AuthUser) -> dict[str, Any]:
        body = await json_body(request)
        return await push_prefs.do_set_prefs(services_of(request), user, body)
