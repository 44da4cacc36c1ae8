"""A burst of sockets opening at once (every client coming back after a restart) needs more
concurrent Redis commands than the process's Redis pool has connections: they must wait for
a connection, not fail the sockets (redis-py's default pool raises `MaxConnectionsError`)."""

from __future__ import annotations

import asyncio

from tests.support.clients import Api, WsClient


async def test_a_connect_burst_larger_than_the_redis_pool_opens_every_socket(
    server_factory, database_url: str
) -> None:
    # Three connections: the hub's pub/sub subscription holds one, two are left for commands.
    srv = server_factory(REDIS_MAX_CONNECTIONS="3")
    local = Api(srv.base_url, database_url)
    sockets: list[WsClient] = []
    try:
        owner = await local.user("owner")
        members = [await local.user(f"crew{i}") for i in range(12)]
        room_id = await local.room_with(owner, *((m, "EDITOR") for m in members))
        opened = await asyncio.wait_for(
            asyncio.gather(
                *(local.connect(user, room_id) for user in members * 3),
                return_exceptions=True,
            ),
            60,
        )
        failures = [o for o in opened if isinstance(o, BaseException)]
        sockets = [o for o in opened if isinstance(o, WsClient)]
        assert not failures, failures[:3]
        assert all(ws.connected is not None and ws.connected["type"] == "connected" for ws in sockets)
        # And the room works for all of them afterwards.
        await sockets[0].send({"type": "message", "content": "line 3 stopped", "client_id": "burst-1"})
        for ws in sockets:
            frame = await ws.next("message", timeout=20)
            assert frame["content"] == "line 3 stopped"
    finally:
        for ws in sockets:
            await ws.ws.close()
        await local.aclose()


async def test_with_one_setup_slot_a_burst_still_opens_and_closes_every_socket(
    server_factory, database_url: str
) -> None:
    """WS_SETUP_CONCURRENCY=1: room sockets and user streams open and close one at a time, and
    a socket already open is not held up by the queue (its messages flow)."""
    srv = server_factory(WS_SETUP_CONCURRENCY="1")
    local = Api(srv.base_url, database_url)
    sockets: list[WsClient] = []
    try:
        owner = await local.user("owner")
        members = [await local.user(f"crew{i}") for i in range(8)]
        room_id = await local.room_with(owner, *((m, "EDITOR") for m in members))
        first = await local.connect(owner, room_id)
        opened = await asyncio.wait_for(
            asyncio.gather(
                *(local.connect(user, room_id) for user in members * 2),
                *(local.stream(user) for user in members),
                return_exceptions=True,
            ),
            60,
        )
        sockets = [o for o in opened if isinstance(o, WsClient)]
        assert len(sockets) == len(opened), [o for o in opened if isinstance(o, BaseException)][:3]
        # Half of them close at once while the room keeps talking.
        closing = sockets[: len(sockets) // 2]
        sockets = sockets[len(sockets) // 2 :]
        await asyncio.gather(*(ws.ws.close() for ws in closing))
        ack = await first.send_message("pressure back to 80")
        assert ack["sequence_number"] > 0
        again = await asyncio.wait_for(asyncio.gather(*(local.connect(m, room_id) for m in members)), 60)
        sockets.extend(again)
        for ws in again:
            assert ws.connected is not None and ws.connected["last_sequence_number"] >= ack["sequence_number"]
        sockets.append(first)
    finally:
        for ws in sockets:
            await ws.ws.close()
        await local.aclose()
