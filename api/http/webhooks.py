"""Incoming webhooks: a room's OWNER manages them; monitoring posts to `/api/hooks/{id}/{secret}`."""

from __future__ import annotations

from typing import Any

from litestar import Controller, Request, Response, delete, get, post
from litestar.di import Provide

from api.domain.auth.sessions import AuthUser
from api.domain.webhooks import manage
from api.domain.webhooks.intake import WebhookIntake
from api.http.deps import current_user, json_body, services_of
from api.http.openapi import (
    CreateWebhookBody,
    GenericAlertBody,
    HookSecret,
    RoomId,
    WebhookId,
    allow,
    with_body,
)


class WebhookRoutes(Controller):
    """`/api/rooms/{room_id}/webhooks`: OWNER or system admin."""

    path = "/api/rooms/{room_id:str}/webhooks"
    dependencies = {"user": Provide(current_user)}

    options_webhooks = allow("/", "GET", "POST")

    @get("/", summary="The room's webhooks (without secrets)")
    async def list_webhooks(
        self, request: Request[Any, Any, Any], user: AuthUser, room_id: RoomId
    ) -> dict[str, Any]:
        return {"webhooks": await manage.list_webhooks(services_of(request), user, room_id)}

    @post(
        "/",
        status_code=201,
        summary="Create a webhook; the answer's url holds its secret, shown only this once",
        operation_class=with_body(CreateWebhookBody),
    )
    async def create_webhook(
        self, request: Request[Any, Any, Any], user: AuthUser, room_id: RoomId
    ) -> dict[str, Any]:
        body = await json_body(request)
        return await manage.do_create_webhook(services_of(request), user, room_id, body)

    @delete("/{webhook_id:str}", status_code=204, summary="Revoke a webhook")
    async def delete_webhook(
        self, request: Request[Any, Any, Any], user: AuthUser, room_id: RoomId, webhook_id: WebhookId
    ) -> None:
        await manage.do_delete_webhook(services_of(request), user, room_id, webhook_id)


@post(
    "/api/hooks/{webhook_id:str}/{secret:str}",
    status_code=200,
    summary="Deliver an alert (Alertmanager v4, Grafana alerting, or a generic body)",
    operation_class=with_body(GenericAlertBody),
)
async def deliver(
    request: Request[Any, Any, Any], webhook_id: WebhookId, secret: HookSecret
) -> Response[Any]:
    intake: WebhookIntake = request.app.state.webhook_intake
    hook = await intake.admit(webhook_id, secret)
    body = await json_body(request)
    result = await intake.deliver(hook, body, request.headers.get("idempotency-key"))
    return Response(result, status_code=200)
