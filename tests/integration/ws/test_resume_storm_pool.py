"""A resume storm must queue for the database, not time out on it (issue 19, item 3).

When a server process dies, every one of its clients reconnects to another one with `since`,
all within the same second or two: each admission and each replay page needs a pooled
connection. With a pool of two (no overflow, a 3 s pool timeout) and 200 sockets resuming at
once while a sender keeps talking, every socket must be caught up (every message after its
`since`, no gap, no duplicate), every send acked, and nothing answered with 1011 or 503.
"""

from __future__ import annotations

import asyncio
import uuid

from tests.support.clients import Api, User, WsClient

SOCKETS = 200
USERS = 12
HISTORY = 1200  # more than two replay pages each
LIVE = 20


async def _fill(sender: WsClient, count: int) -> int:
    """Send `count` messages (a window of 50 unacked); returns the last sequence number."""
    last = 0
    for start in range(0, count, 50):
        batch = range(start, min(count, start + 50))
        for i in batch:
            await sender.send({"type": "message", "content": f"reading {i}", "client_id": f"fill-{i}"})
        for _ in batch:
            frame = await sender.next("ack", "error", timeout=30)
            assert frame["type"] == "ack", frame
            last = max(last, frame["sequence_number"])
    return last


async def _resume(api: Api, user: User, room_id: str, since: int) -> WsClient:
    return await WsClient.open(api.ws_base, user, room_id, expect_connected=True, since=since)


async def _caught_up(client: WsClient, since: int, last: int) -> None:
    """Every number after `since` up to `last` exactly once, in order (the members' `system`
    frames included), and the replay's `sync_complete`."""
    seen: list[int] = []
    synced = False
    while not synced or (seen[-1] if seen else since) < last:
        frame = await client.recv(timeout=60)
        kind = frame.get("type")
        if kind == "message" or (kind == "system" and "sequence_number" in frame):
            seen.append(frame["sequence_number"])
        elif kind == "sync_complete":
            synced = True
        elif kind == "error":
            raise AssertionError(frame)
    assert seen == list(range(since + 1, last + 1)), (seen[:5], seen[-5:], since, last)


async def test_a_resume_storm_on_a_tiny_pool_catches_every_socket_up(server_factory, database_url: str) -> None:
    # The history is written as fast as the server takes it: 1,200 sends from one user would
    # meet the test environment's rate limit (1,000 burst, 1,000/s) on a fast machine, and
    # this test is about the pool, not the limit.
    srv = server_factory(
        DB_POOL_SIZE="2",
        DB_MAX_OVERFLOW="0",
        DB_POOL_TIMEOUT="3",
        RATE_LIMIT_PER_SECOND="100000",
        RATE_LIMIT_BURST="100000",
    )
    api = Api(srv.base_url, database_url)
    clients: list[WsClient] = []
    try:
        owner = await api.user("owner")
        crew = [await api.user(f"crew{i}") for i in range(USERS)]
        room_id = await api.room_with(owner, *((u, "EDITOR") for u in crew))
        sender = await api.connect(owner, room_id)
        clients.append(sender)
        filled = await _fill(sender, HISTORY)

        sinces = [(i * 97) % (filled // 2) for i in range(SOCKETS)]
        storm = asyncio.gather(
            *(_resume(api, crew[i % USERS], room_id, since) for i, since in enumerate(sinces)),
            return_exceptions=True,
        )
        live = asyncio.create_task(_fill_live(sender))
        opened = await asyncio.wait_for(storm, 120)
        failed = [o for o in opened if isinstance(o, BaseException)]
        clients.extend(o for o in opened if isinstance(o, WsClient))
        assert not failed, failed[:3]
        last = await asyncio.wait_for(live, 60)
        assert last == filled + LIVE
        await asyncio.wait_for(
            asyncio.gather(*(_caught_up(c, since, last) for c, since in zip(clients[1:], sinces, strict=True))),
            120,
        )
        # Nobody was closed (1011 "try again" or "message not stored") and REST answers.
        assert all(c.ws.close_code is None for c in clients)
        history = await api.http.get(f"/api/rooms/{room_id}/messages", headers=owner.headers)
        assert history.status_code == 200
        assert "PoolExhausted" not in srv.log(), srv.log()[-2000:]
    finally:
        await asyncio.gather(*(c.ws.close() for c in clients), return_exceptions=True)
        await api.aclose()


async def _fill_live(sender: WsClient) -> int:
    """The room keeps talking while the storm resumes: LIVE more messages, each acked."""
    last = 0
    for i in range(LIVE):
        ack = await sender.send_message(f"live {i}", client_id=f"live-{uuid.uuid4().hex}")
        last = ack["sequence_number"]
    return last
