"""Message history."""

from __future__ import annotations

from typing import Any

from litestar import Request, get
from litestar.di import Provide

from api.domain.auth.access import access_room
from api.domain.auth.sessions import AuthUser
from api.domain.core.errors import Invalid
from api.domain.messages.changes import message_history
from api.domain.messages.read import clamp_limit, history_around, history_page
from api.http.deps import current_user, int_param, services_of, ts_param
from api.http.openapi import MessageId, RoomId

AUTH = {"user": Provide(current_user)}


@get(
    "/api/rooms/{room_id:str}/messages",
    dependencies=AUTH,
    summary="History: newest first, after a sequence, or around one",
)
async def history(
    request: Request[Any, Any, Any],
    user: AuthUser,
    room_id: RoomId,
    limit: str | None = None,
    before: str | None = None,
    before_sequence: str | None = None,
    after_sequence: str | None = None,
    around_sequence: str | None = None,
) -> dict[str, Any]:
    n = clamp_limit(int_param(limit, "limit"))
    bs = int_param(before_sequence, "before_sequence")
    after = int_param(after_sequence, "after_sequence", 0)
    around = int_param(around_sequence, "around_sequence", 0)
    before_ts = ts_param(before, "before")
    if after is not None and (bs is not None or before_ts is not None):
        raise Invalid(
            "after_sequence cannot be combined with before or before_sequence", code="unprocessable"
        )
    if around is not None and (after is not None or bs is not None or before_ts is not None):
        raise Invalid(
            "around_sequence cannot be combined with before, before_sequence or after_sequence",
            code="unprocessable",
        )
    services = services_of(request)
    # Access on the primary (a membership just granted counts), the page where the user's writes are.
    async with services.db.read() as conn:
        access = await access_room(conn, room_id, user)
    async with services.read_for(user.user_id) as conn:
        if around is not None:
            return await history_around(conn, access.room["room_id"], around, limit=n, viewer=user.user_id)
        return await history_page(
            conn,
            access.room["room_id"],
            limit=n,
            before=before_ts,
            before_sequence=bs,
            after_sequence=after,
            viewer=user.user_id,
        )


@get(
    "/api/rooms/{room_id:str}/messages/{message_id:str}/history",
    dependencies=AUTH,
    summary="Every version of a message",
)
async def message_versions(
    request: Request[Any, Any, Any], user: AuthUser, room_id: RoomId, message_id: MessageId
) -> dict[str, Any]:
    return await message_history(services_of(request), user, room_id, message_id)
