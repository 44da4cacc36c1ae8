"""Urgent pages (docs/alerts.md): acknowledging an urgent message, the room's paging settings,
and a member's opt-in to urgent messages that mention nobody."""

from __future__ import annotations

from typing import Any

from litestar import Controller, Request, Response, get, patch, post, put
from litestar.di import Provide

from api.domain.auth.sessions import AuthUser
from api.domain.push import urgent, urgent_settings
from api.http.deps import current_user, json_body, services_of
from api.http.openapi import MessageId, RoomId, UrgentAlertsBody, UrgentSettingsBody, allow, with_body

AUTH = {"user": Provide(current_user)}


@post(
    "/api/messages/{message_id:str}/acknowledge",
    dependencies=AUTH,
    status_code=200,
    summary="Acknowledge an urgent message (members; idempotent: 201 the first time, 200 after)",
)
async def acknowledge(
    request: Request[Any, Any, Any], user: AuthUser, message_id: MessageId
) -> Response[dict[str, Any]]:
    result = await urgent.do_acknowledge(services_of(request), user, message_id)
    created = result.pop("created")
    return Response(result, status_code=201 if created else 200)


class UrgentSettingsRoutes(Controller):
    """`/api/rooms/{room_id}/urgent` (its own `OPTIONS`: see `api.http.openapi.allow`)."""

    path = "/api/rooms/{room_id:str}/urgent"
    dependencies = AUTH

    options_urgent = allow("/", "GET", "PATCH")

    @get("/", summary="The room's urgent-page settings and the caller's opt-in")
    async def get_settings(self, request: Request[Any, Any, Any], user: AuthUser, room_id: RoomId) -> dict[str, Any]:
        return await urgent_settings.urgent_settings(services_of(request), user, room_id)

    @patch(
        "/",
        summary="Change the room's repeat interval, repeat count and escalation (OWNER, admin)",
        operation_class=with_body(UrgentSettingsBody),
    )
    async def patch_settings(
        self, request: Request[Any, Any, Any], user: AuthUser, room_id: RoomId
    ) -> dict[str, Any]:
        body = await json_body(request)
        return await urgent_settings.update_urgent_settings(services_of(request), user, room_id, body)


@put(
    "/api/rooms/{room_id:str}/urgent/alerts",
    dependencies=AUTH,
    summary="Opt in to (or out of) urgent messages of the room that mention nobody",
    operation_class=with_body(UrgentAlertsBody),
)
async def put_urgent_alerts(request: Request[Any, Any, Any], user: AuthUser, room_id: RoomId) -> dict[str, Any]:
    body = await json_body(request)
    return await urgent_settings.set_urgent_alerts(services_of(request), user, room_id, body)
