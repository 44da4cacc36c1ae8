"""Presence versions (api/domain/presence.py): every change to a room's online set moves its
version, on any process, so a heartbeat re-reads only the rooms that changed. Real Redis."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import pytest_asyncio
from redis.asyncio import Redis

from api.domain.presence import Presence
from api.ws.presence_typing import FULL_RECHECK_BEATS, PresenceAndTyping
from api.ws.room_stream import RoomState
from tests.conftest import redis_url


@pytest_asyncio.fixture
async def presences() -> AsyncIterator[tuple[Presence, Presence]]:
    """Two processes' views of one Redis, under a prefix of this test's own."""
    client = Redis.from_url(redis_url())
    prefix = f"presv{uuid.uuid4().hex[:10]}"
    try:
        yield Presence(client, prefix, "proc-here", 40.0), Presence(client, prefix, "proc-there", 40.0)
    finally:
        keys = [k async for k in client.scan_iter(match=f"{prefix}*")]
        if keys:
            await client.delete(*keys)
        await client.aclose()


async def test_joins_and_leaves_on_any_process_move_the_room_version_and_nothing_else_does(presences: tuple[Presence, Presence]) -> None:
    here, there = presences
    assert await here.versions(["r1", "r2"]) == {"r1": "", "r2": ""}
    await there.add("r1", "u1", "One")
    after_join = await here.versions(["r1", "r2"])
    assert after_join["r1"] != "" and after_join["r2"] == ""
    version, online = await here.online_versioned("r1")
    assert version == after_join["r1"] and [u["user_id"] for u in online] == ["u1"]
    assert await here.beat(["r1"], with_versions=True) == (set(), {"r1": version})  # a heartbeat is no change
    assert await here.versions(["r1"]) == {"r1": version}
    await there.remove("r1", "u1")
    assert (await here.versions(["r1"]))["r1"] != version


async def test_a_crashed_process_leaving_moves_the_version_for_every_other_process(presences: tuple[Presence, Presence]) -> None:
    here, there = presences
    await there.add("r1", "u1", "One")
    before = (await here.versions(["r1"]))["r1"]
    # The crashed process's entries expire: here, its key is simply gone.
    await here.redis.delete(there._base("r1") + "proc-there")
    assert await here.online_user_ids("r1") == []  # this read drops the dead process from the room
    assert (await here.versions(["r1"]))["r1"] != before  # so a third process sees it moved too
    await here.add("r1", "u2", "Two")
    version = (await here.versions(["r1"]))["r1"]
    await here.drop_process(["r1"])  # a clean shutdown is a change as well
    assert (await there.versions(["r1"]))["r1"] != version


async def test_the_full_recheck_rereads_only_the_rooms_whose_version_moved(presences: tuple[Presence, Presence]) -> None:
    here, there = presences
    signals = PresenceAndTyping(here, 3.0)
    scheduled: list[str] = []
    signals.schedule_presence = lambda room: scheduled.append(room.room_id)  # type: ignore[method-assign]
    rooms = [RoomState(room_id=r) for r in ("r1", "r2")]
    for room in rooms:
        room.conns.add(object())  # type: ignore[arg-type]
        await here.add(room.room_id, "me", "Me")
        room.presence_version, room.last_online = await here.online_versioned(room.room_id)
    await there.add("r1", "u9", "Nine")  # a join whose announcement never arrived
    for _ in range(FULL_RECHECK_BEATS - 1):
        await signals.heartbeat(rooms)
    assert scheduled == []  # the beats between full rechecks read only rooms with expired processes
    await signals.heartbeat(rooms)
    assert scheduled == ["r1"]


async def test_a_beat_refreshes_this_process_keys_and_names_the_rooms_that_list_an_expired_process(
    presences: tuple[Presence, Presence],
) -> None:
    here, there = presences
    for room in ("r1", "r2"):
        await here.add(room, "me", "Me")
    await there.add("r2", "u2", "Two")
    own = here._base("r1") + "proc-here"
    await here.redis.expire(own, 2)
    assert await here.beat(["r1", "r2"]) == (set(), {})
    assert await here.redis.ttl(own) > 2  # refreshed to the process's TTL
    assert await here.redis.ttl(here._procs("r1")) > 2
    await here.redis.delete(there._base("r2") + "proc-there")  # the other process crashed
    assert await here.beat(["r1", "r2"]) == ({"r2"}, {})
    assert await here.beat([]) == (set(), {})


async def test_a_beat_loads_its_script_again_when_redis_lost_its_scripts(presences: tuple[Presence, Presence]) -> None:
    here, _there = presences
    await here.add("r1", "me", "Me")
    version = (await here.versions(["r1"]))["r1"]
    await here.redis.script_flush()  # as after a Redis restart
    assert await here.beat(["r1"], with_versions=True) == (set(), {"r1": version})
    assert await here.redis.script_exists(here._beat.sha) == [True]
