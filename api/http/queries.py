"""Mentions of me, and incident-data series."""

from __future__ import annotations

from typing import Any

from litestar import Request, get
from litestar.di import Provide

from api.domain.auth.access import access_room
from api.domain.auth.sessions import AuthUser
from api.domain.messages.queries import check_field, incident_fields, incident_series, mentions_of
from api.domain.messages.read import clamp_limit
from api.http.deps import current_user, float_param, int_param, services_of, ts_param
from api.http.openapi import RoomId

AUTH = {"user": Provide(current_user)}


@get("/api/mentions", dependencies=AUTH, summary="Messages that mention me, in every room, newest first")
async def my_mentions(
    request: Request[Any, Any, Any],
    user: AuthUser,
    limit: str | None = None,
    before: str | None = None,
    cursor: str | None = None,
) -> dict[str, Any]:
    return await mentions_of(
        services_of(request),
        user,
        clamp_limit(int_param(limit, "limit")),
        ts_param(before, "before"),
        cursor or None,
    )


@get(
    "/api/rooms/{room_id:str}/incident-data",
    dependencies=AUTH,
    summary="A numeric incident-data field over time",
)
async def incident_data(
    request: Request[Any, Any, Any],
    user: AuthUser,
    room_id: RoomId,
    field: str | None = None,
    gte: str | None = None,
    lte: str | None = None,
    after: str | None = None,
    before: str | None = None,
    limit: str | None = None,
) -> dict[str, Any]:
    path = check_field(field)
    services = services_of(request)
    async with services.db.read() as conn:
        access = await access_room(conn, room_id, user)
    return await incident_series(
        services,
        access.room["room_id"],
        path,
        gte=float_param(gte, "gte"),
        lte=float_param(lte, "lte"),
        after=ts_param(after, "after"),
        before=ts_param(before, "before"),
        limit=clamp_limit(int_param(limit, "limit"), default=10_000, maximum=10_000),
        viewer=user.user_id,
    )


@get(
    "/api/rooms/{room_id:str}/incident-data/fields",
    dependencies=AUTH,
    summary="The room's numeric incident-data fields, with their units",
)
async def incident_data_fields(
    request: Request[Any, Any, Any], user: AuthUser, room_id: RoomId
) -> dict[str, Any]:
    services = services_of(request)
    async with services.db.read() as conn:
        access = await access_room(conn, room_id, user)
    return await incident_fields(services, access.room["room_id"], viewer=user.user_id)
