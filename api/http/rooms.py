"""Rooms, members, read markers.

One controller for the resource; the paths served by several handlers answer `OPTIONS`
themselves (`api.http.openapi.allow`: Litestar's automatic answer would name one method).
"""

from __future__ import annotations

from typing import Any

from litestar import Controller, Request, Response, delete, get, patch, post
from litestar.di import Provide

from api.domain.auth.sessions import AuthUser
from api.domain.rooms import manage
from api.domain.rooms import members as room_members
from api.http.deps import current_user, json_body, services_of
from api.http.openapi import (
    AddMemberBody,
    ChangeRoleBody,
    CreateRoomBody,
    MemberId,
    ReadMarkerBody,
    RoomId,
    UpdateRoomBody,
    allow,
    with_body,
)

AUTH = {"user": Provide(current_user)}


class RoomRoutes(Controller):
    """`/api/rooms` and everything under a room except messages, files and incident data."""

    path = "/api/rooms"
    dependencies = AUTH

    options_rooms = allow("/", "GET", "POST")
    options_room = allow("/{room_id:str}", "GET", "PATCH")
    options_members = allow("/{room_id:str}/members", "GET", "POST")
    options_member = allow("/{room_id:str}/members/{member_id:str}", "PATCH", "DELETE")

    @get("/", summary="The caller's rooms")
    async def list_rooms(self, request: Request[Any, Any, Any], user: AuthUser) -> dict[str, Any]:
        return {"rooms": await manage.list_rooms(services_of(request), user)}

    @post(
        "/",
        status_code=201,
        summary="Create a room (the caller becomes OWNER)",
        operation_class=with_body(CreateRoomBody),
    )
    async def create_room(self, request: Request[Any, Any, Any], user: AuthUser) -> dict[str, Any]:
        body = await json_body(request)
        return await manage.do_create_room(
            services_of(request), user, body.get("title"), body.get("description")
        )

    @get("/{room_id:str}", summary="A room")
    async def get_room(
        self, request: Request[Any, Any, Any], user: AuthUser, room_id: RoomId
    ) -> dict[str, Any]:
        return await manage.get_room(services_of(request), user, room_id)

    @patch(
        "/{room_id:str}",
        summary="Change a room's status, title or description",
        operation_class=with_body(UpdateRoomBody),
    )
    async def update_room(
        self, request: Request[Any, Any, Any], user: AuthUser, room_id: RoomId
    ) -> dict[str, Any]:
        body = await json_body(request)
        return await manage.do_update_room(services_of(request), user, room_id, body)

    @get("/{room_id:str}/members", summary="Members with role and online state")
    async def list_members(
        self, request: Request[Any, Any, Any], user: AuthUser, room_id: RoomId
    ) -> dict[str, Any]:
        services = services_of(request)
        rid, members = await room_members.list_members(services, user, room_id)
        presence = getattr(request.app.state, "presence", None)
        online: set[str] = set(await presence.online_user_ids(rid)) if presence is not None else set()
        for member in members:
            member["online"] = member["user_id"] in online
        return {"members": members}

    @post(
        "/{room_id:str}/members",
        status_code=201,
        summary="Add a member",
        operation_class=with_body(AddMemberBody),
    )
    async def add_member(
        self, request: Request[Any, Any, Any], user: AuthUser, room_id: RoomId
    ) -> dict[str, Any]:
        body = await json_body(request)
        return await room_members.do_add_member(
            services_of(request), user, room_id, body.get("user_id"), body.get("role")
        )

    @patch(
        "/{room_id:str}/members/{member_id:str}",
        summary="Change a member's role",
        operation_class=with_body(ChangeRoleBody),
    )
    async def change_role(
        self, request: Request[Any, Any, Any], user: AuthUser, room_id: RoomId, member_id: MemberId
    ) -> dict[str, Any]:
        body = await json_body(request)
        return await room_members.do_change_role(
            services_of(request), user, room_id, member_id, body.get("role")
        )

    @delete("/{room_id:str}/members/{member_id:str}", status_code=204, summary="Remove a member")
    async def remove_member(
        self, request: Request[Any, Any, Any], user: AuthUser, room_id: RoomId, member_id: MemberId
    ) -> None:
        await room_members.do_remove_member(services_of(request), user, room_id, member_id)

    @post(
        "/{room_id:str}/read",
        status_code=204,
        summary="Move the read marker",
        operation_class=with_body(ReadMarkerBody),
    )
    async def mark_read(
        self, request: Request[Any, Any, Any], user: AuthUser, room_id: RoomId
    ) -> Response[None]:
        body = await json_body(request)
        await manage.do_mark_read(services_of(request), user, room_id, body.get("sequence_number"))
        return Response(None, status_code=204)
