"""Large rooms (docs/big-rooms.md): `online` becomes a sample with a count, and joins and leaves
are told by that count instead of one frame per member per join (issue 19)."""

from __future__ import annotations

from typing import Any

from tests.support.clients import Api, WsClient


async def _presence_with_count(client: WsClient, count: int) -> dict[str, Any]:
    frame = await client.next("presence")
    while frame.get("online_count") != count:
        frame = await client.next("presence")
    return frame


async def test_a_large_room_shows_a_sample_of_who_is_online_and_how_many(server_factory, database_url: str) -> None:
    srv = server_factory(PRESENCE_LIST_MAX="2", PRESENCE_LARGE_INTERVAL="0.3")
    api = Api(srv.base_url, database_url)
    try:
        owner = await api.user("owner")
        eds = [await api.user(f"ed{i}") for i in range(3)]
        room_id = await api.room_with(owner, *((e, "EDITOR") for e in eds))

        # Small: the whole list, no count, and a join frame.
        a = await api.connect(owner, room_id)
        assert a.connected is not None and "online_count" not in a.connected
        b = await api.connect(eds[0], room_id)
        joined = await a.next("system")
        assert joined["event"] == "user_joined" and joined["user_id"] == eds[0].user_id
        frame = await a.next("presence")
        while len(frame["online"]) < 2:
            frame = await a.next("presence")
        assert "online_count" not in frame and "truncated" not in frame

        # Three online, above the list's maximum of two: a sample, the newcomer first, and a count.
        c = await api.connect(eds[1], room_id, since=0)
        assert c.connected is not None
        assert c.connected["online_count"] == 3 and c.connected["truncated"] is True
        assert len(c.connected["online"]) == 2 and c.connected["online"][0]["user_id"] == eds[1].user_id
        await c.next("sync_complete")  # its join has been published by now
        frame = await _presence_with_count(a, 3)
        assert frame["truncated"] is True and len(frame["online"]) == 2

        # Whoever spoke last leads the sample.
        await b.send_message("pressure 95 on line 3")
        d = await api.connect(eds[2], room_id, since=0)
        await d.next("sync_complete")
        frame = await _presence_with_count(a, 4)
        assert frame["online"][0]["user_id"] == eds[0].user_id
        assert len(frame["online"]) == 2

        # A leave is told by the count too.
        await d.ws.close()
        await _presence_with_count(a, 3)
        told = [
            f["user_id"]
            for f in a.frames
            if f.get("type") == "system" and f.get("event") in ("user_joined", "user_left")
        ]
        assert told == [eds[0].user_id], told  # only the join while the room was small
        for client in (a, b, c):
            await client.ws.close()
    finally:
        await api.aclose()
