"""The user streams' activity tick (`USER_STREAM_TICK_MS`, api/ws/user_stream_tick.py).

A server with a one-second tick: a room's messages of one tick reach a stream as one
`room_activity` with the latest state, a removal in the same tick leaves no activity about the
room, and a frame that bypasses the tick (a mention) never overtakes the activity it follows.

Timing: the tick starts when the server delivers the first message, which is after the client
sent it, and a message is delivered before its ack (or the removal's HTTP answer) leaves the
server. So when everything was answered within one tick of the first send, the server had it
all within one tick; only then are "one frame" and "no frame" asserted.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest

from api.domain.core.settings import Settings, SettingsError
from tests.support.clients import Api, WsClient

TICK_SECONDS = 1.0


@pytest.fixture
async def slow_tick(server_factory: Any, database_url: str) -> AsyncIterator[Api]:
    srv = server_factory(USER_STREAM_TICK_MS=str(int(TICK_SECONDS * 1000)))
    client = Api(srv.base_url, database_url)
    try:
        yield client
    finally:
        await client.aclose()


async def _frames_until(stream: WsClient, room_id: str, seq: int, timeout: float = 15.0) -> list[dict[str, Any]]:
    """Every frame up to the first `room_activity` of `room_id` that reached `seq`."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    seen: list[dict[str, Any]] = []
    while True:
        frame = await stream.next(timeout=max(0.01, deadline - loop.time()))
        seen.append(frame)
        if frame["type"] == "room_activity" and frame["room_id"] == room_id and frame["last_sequence_number"] >= seq:
            return seen


async def test_a_tick_sends_one_frame_per_room_with_the_latest_state(slow_tick: Api) -> None:
    api = slow_tick
    owner, me = await api.user("owner", display_name="Shift Lead"), await api.user("me")
    room = await api.room_with(owner, (me, "EDITOR"))
    stream = await api.stream(me)
    unread = next(r for r in (stream.connected or {})["rooms"] if r["room_id"] == room)["unread_count"]
    ws = await api.connect(owner, room)
    loop = asyncio.get_running_loop()
    one_tick = False
    for attempt in range(3):
        started = loop.time()
        # One at a time: each message is its own commit and its own delivery to the tick.
        acks = [await ws.send_message(f"burst {attempt}.{i}") for i in range(4)]
        one_tick = loop.time() - started < TICK_SECONDS
        frames = await _frames_until(stream, room, acks[-1]["sequence_number"])
        activity = [f for f in frames if f["type"] == "room_activity"]
        numbers = [f["last_sequence_number"] for f in activity]
        assert numbers == sorted(set(numbers)), "each frame newer than the one before"
        unread += len(acks)
        last = activity[-1]
        assert last["last_sequence_number"] == acks[-1]["sequence_number"]
        assert last["unread_count"] == unread
        assert last["preview"]["message_id"] == acks[-1]["message_id"]
        assert last["preview"]["content"] == f"burst {attempt}.3"
        assert last["preview"]["sender_display_name"] == "Shift Lead"
        assert last["last_message_at"] == acks[-1]["created_at"]
        if one_tick:
            assert len(activity) == 1, f"one tick, one frame: {numbers}"
            break
    assert one_tick, "no burst of four sends was answered within one tick (machine far too busy)"
    await asyncio.gather(ws.close(), stream.close())


async def test_a_removal_in_the_same_tick_leaves_no_frame_about_the_room(slow_tick: Api) -> None:
    api = slow_tick
    owner, me = await api.user("owner"), await api.user("me")
    left = await api.room_with(owner, (me, "EDITOR"))
    stays = await api.room_with(owner, (me, "EDITOR"))
    stream = await api.stream(me)
    in_left, in_stays = await api.connect(owner, left), await api.connect(owner, stays)
    loop = asyncio.get_running_loop()
    started = loop.time()
    await in_left.send_message("last words")
    r = await api.http.delete(f"/api/rooms/{left}/members/{me.user_id}", headers=owner.headers)
    assert r.status_code == 204
    same_tick = loop.time() - started < TICK_SECONDS
    after = await in_left.send_message("after the removal")
    ack = await in_stays.send_message("still here")
    frames = await _frames_until(stream, stays, ack["sequence_number"])
    kinds = [(f["type"], f.get("room_id")) for f in frames]
    assert ("room_removed", left) in kinds
    removed_at = kinds.index(("room_removed", left))
    assert all(room_id != left for _, room_id in kinds[removed_at + 1 :]), kinds
    about_left = [f for f in frames if f["type"] == "room_activity" and f["room_id"] == left]
    assert all(f["last_sequence_number"] < after["sequence_number"] for f in about_left)
    if same_tick:
        # The message and the removal were applied together: the latest state is "removed".
        assert about_left == [], kinds
    await asyncio.gather(in_left.close(), in_stays.close(), stream.close())


async def test_a_mention_follows_the_activity_the_tick_holds(slow_tick: Api) -> None:
    api = slow_tick
    owner, me = await api.user("owner"), await api.user("me")
    room = await api.room_with(owner, (me, "EDITOR"))
    stream = await api.stream(me)
    ws = await api.connect(owner, room)
    for n in range(3):
        ack = await ws.send_message(f"@{me.user_id} valve {n}", mentions=[me.user_id])
        first = await stream.next("room_activity", "mention")
        assert first["type"] == "room_activity", first
        assert first["room_id"] == room and first["last_sequence_number"] == ack["sequence_number"]
        assert first["unread_mentions"] == n + 1
        mention = await stream.next("room_activity", "mention")
        assert mention["type"] == "mention" and mention["message_id"] == ack["message_id"]
    await asyncio.gather(ws.close(), stream.close())


@pytest.mark.parametrize("value", ["-1", "1001", "10ms", "1.5"])
def test_a_bad_tick_setting_is_refused(value: str) -> None:
    with pytest.raises(SettingsError, match="USER_STREAM_TICK_MS"):
        Settings.from_env({"USER_STREAM_TICK_MS": value}, dotenv=None)


def test_the_tick_setting_defaults_to_ten_milliseconds() -> None:
    assert Settings.from_env({}, dotenv=None).user_stream_tick_ms == 10
    assert Settings.from_env({"USER_STREAM_TICK_MS": "0"}, dotenv=None).user_stream_tick_ms == 0
