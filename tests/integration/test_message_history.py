"""`message_history` decides access itself, whatever its caller checked or passed."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from redis.asyncio import Redis

from api.domain.auth.credentials import token_digest
from api.domain.auth.sessions import AuthUser
from api.domain.core.bus import Bus
from api.domain.core.db import Database, create_engine
from api.domain.core.errors import Forbidden
from api.domain.core.services import Services
from api.domain.core.settings import Settings
from api.domain.messages.changes import message_history
from tests.conftest import redis_url
from tests.support.clients import Api


def _as(user: Any) -> AuthUser:
    return AuthUser(
        user_id=user.user_id,
        display_name=user.display_name,
        is_admin=False,
        token_hash=token_digest(user.token),
        expires_at=datetime.now(UTC) + timedelta(days=1),
    )


async def test_history_is_refused_to_a_non_member_and_an_editor_but_not_to_the_owner(
    api: Api, database_url: str
) -> None:
    owner, editor, outsider = await api.user("owner"), await api.user("ed"), await api.user("out")
    room_id = await api.room_with(owner, (editor, "EDITOR"))
    ws = await api.connect(owner, room_id)
    ack = await ws.send_message("first words")
    await ws.close()
    redis = Redis.from_url(redis_url())
    services = Services(
        settings=Settings(),
        db=Database(create_engine(Settings(db_pool_size=1, db_max_overflow=0), database_url)),
        redis=redis,
        bus=Bus(redis, "unused"),
    )
    try:
        for user in (outsider, editor):
            with pytest.raises(Forbidden):
                await message_history(services, _as(user), room_id, ack["message_id"])
        versions = (await message_history(services, _as(owner), room_id, ack["message_id"]))["versions"]
        assert [v["content"] for v in versions] == ["first words"]
    finally:
        await services.db.dispose()
        await redis.aclose()
