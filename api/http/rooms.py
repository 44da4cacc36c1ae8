"""Rooms, members, read markers."""

from __future__ import annotations

from typing import Any

from litestar import Request, Response, delete, get, patch, post
from litestar.di import Provide

from api.domain.auth.sessions import AuthUser
from api.domain.rooms import manage
from api.domain.rooms import members as room_members
from api.http.deps import current_user, json_body, services_of

AUTH = {"user": Provide(current_user)}


@get("/api/rooms", dependencies=AUTH, summary="The caller's rooms")
async def list_rooms(request: Request[Any, Any, Any], user: AuthUser) -> dict[str, Any]:
    return {"rooms": await manage.list_rooms(services_of(request), user)}


@post("/api/rooms", dependencies=AUTH, status_code=201, summary="Create a room (the caller becomes OWNER)")
async def create_room(request: Request[Any, Any, Any], user: AuthUser) -> dict[str, Any]:
    body = await json_body(request)
    return await manage.do_create_room(services_of(request), user, body.get("title"), body.get("description"))


@get("/api/rooms/{room_id:str}", dependencies=AUTH, summary="A room")
async def get_room(request: Request[Any, Any, Any], user: AuthUser, room_id: str) -> dict[str, Any]:
    return await manage.get_room(services_of(request), user, room_id)


@patch("/api/rooms/{room_id:str}", dependencies=AUTH, summary="Change a room's status, title or description")
async def update_room(request: Request[Any, Any, Any], user: AuthUser, room_id: str) -> dict[str, Any]:
    body = await json_body(request)
    return await manage.do_update_room(services_of(request), user, room_id, body)


@get("/api/rooms/{room_id:str}/members", dependencies=AUTH, summary="Members with role and online state")
async def list_members(request: Request[Any, Any, Any], user: AuthUser, room_id: str) -> dict[str, Any]:
    services = services_of(request)
    rid, members = await room_members.list_members(services, user, room_id)
    presence = getattr(request.app.state, "presence", None)
    online: set[str] = set(await presence.online_user_ids(rid)) if presence is not None else set()
    for member in members:
        member["online"] = member["user_id"] in online
    return {"members": members}


@post("/api/rooms/{room_id:str}/members", dependencies=AUTH, status_code=201, summary="Add a member")
async def add_member(request: Request[Any, Any, Any], user: AuthUser, room_id: str) -> dict[str, Any]:
    body = await json_body(request)
    return await room_members.do_add_member(services_of(request), user, room_id, body.get("user_id"), body.get("role"))


@patch(
    "/api/rooms/{room_id:str}/members/{member_id:str}", dependencies=AUTH, summary="Change a member's role"
)
async def change_role(
    request: Request[Any, Any, Any], user: AuthUser, room_id: str, member_id: str
) -> dict[str, Any]:
    body = await json_body(request)
    return await room_members.do_change_role(services_of(request), user, room_id, member_id, body.get("role"))


@delete(
    "/api/rooms/{room_id:str}/members/{member_id:str}",
    dependencies=AUTH,
    status_code=204,
    summary="Remove a member",
)
async def remove_member(
    request: Request[Any, Any, Any], user: AuthUser, room_id: str, member_id: str
) -> None:
    await room_members.do_remove_member(services_of(request), user, room_id, member_id)


@post("/api/rooms/{room_id:str}/read", dependencies=AUTH, status_code=204, summary="Move the read marker")
async def mark_read(request: Request[Any, Any, Any], user: AuthUser, room_id: str) -> Response[None]:
    body = await json_body(request)
    await manage.do_mark_read(services_of(request), user, room_id, body.get("sequence_number"))
    return Response(None, status_code=204)
