"""Several API processes share rooms through Redis: messages, presence and typing cross processes.

Two topologies: two `andon serve` processes on their own ports, and one `andon serve --workers 2`
whose two worker processes share a port (the kernel decides which one accepts a socket; the
presence keys in Redis tell the test which process holds it).
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families
from redis.asyncio import Redis

from tests.conftest import redis_url
from tests.integration.ops.support import (
    exited_within,
    frame_where,
    online_ids,
    parent_of,
    pid_of,
    process_serving,
    sigterm,
    wait_for_log,
)
from tests.support.clients import Api, User, WsClient
from tests.support.servers import start_server


async def _crosstalk(a: WsClient, a_user: User, b: WsClient, b_user: User) -> None:
    """a and b are on different processes: each sees the other's presence, typing and messages."""
    assert a_user.user_id in online_ids(b.connected or {})
    await frame_where(a, lambda f: f["type"] == "presence" and b_user.user_id in online_ids(f))

    await b.send({"type": "typing", "is_typing": True})
    typing = await frame_where(a, lambda f: f["type"] == "typing" and f["user_id"] == b_user.user_id)
    assert typing["is_typing"] is True and typing["display_name"] == b_user.display_name

    ack = await b.send_message("from b, across processes")
    got = await frame_where(a, lambda f: f["type"] == "message" and f["message_id"] == ack["message_id"])
    assert got["content"] == "from b, across processes" and got["sequence_number"] == ack["sequence_number"]
    # The typist's message clears its typing indicator on the other process too.
    cleared = await frame_where(
        a, lambda f: f["type"] == "typing" and f["user_id"] == b_user.user_id and f["is_typing"] is False
    )
    assert cleared["user_id"] == b_user.user_id

    ack = await a.send_message("from a, across processes")
    got = await frame_where(b, lambda f: f["type"] == "message" and f["message_id"] == ack["message_id"])
    assert got["content"] == "from a, across processes"

    # Leaving on one process drops out of presence on the other.
    await b.close()
    await frame_where(
        a, lambda f: f["type"] == "presence" and b_user.user_id not in online_ids(f), timeout=10
    )


async def test_two_server_processes_share_messages_presence_and_typing(
    api: Api, server_factory: Any, database_url: str
) -> None:
    first = server_factory()
    second = server_factory()
    api_a = Api(first.base_url, database_url)
    api_b = Api(second.base_url, database_url)
    try:
        owner, ua, ub = await api.user("owner"), await api.user("alice"), await api.user("bob")
        room_id = await api.room_with(owner, (ua, "EDITOR"), (ub, "EDITOR"))
        a = await api_a.connect(ua, room_id)
        b = await api_b.connect(ub, room_id)
        await _crosstalk(a, ua, b, ub)
        await a.close()
    finally:
        await api_a.aclose()
        await api_b.aclose()


@pytest.mark.timeout(180)
async def test_serve_with_two_workers_runs_both_and_they_share_rooms(
    base_env: dict[str, str], database_url: str
) -> None:
    server = await asyncio.to_thread(start_server, base_env, workers=2)
    api = Api(server.base_url, database_url)
    # /readyz answered, from one of them; wait (bounded) until both have run their lifespan.
    await wait_for_log(server, lambda log: log.count("Application startup complete.") >= 2)
    redis = Redis.from_url(redis_url())
    prefix = base_env["ANDON_REDIS_PREFIX"]
    opened: list[WsClient] = []
    try:
        owner = await api.user("owner")
        users = [await api.user(f"w{i}") for i in range(40)]
        room_id = await api.room_with(owner, *((u, "EDITOR") for u in users))
        # Open sockets one by one until the kernel has handed one to each worker process.
        placed: dict[str, tuple[User, WsClient]] = {}
        for user in users:
            ws = await api.connect(user, room_id)
            opened.append(ws)
            process_id = await process_serving(redis, prefix, room_id, user.user_id)
            assert process_id is not None
            placed.setdefault(process_id, (user, ws))
            if len(placed) == 2:
                break
        assert len(placed) == 2, "40 sockets in a row went to the same worker process"
        # Both are workers of this `andon serve`, each with its own hub and lifespan.
        assert {parent_of(pid_of(p)) for p in placed} == {server.pid}
        (ua, a), (ub, b) = placed.values()
        # Metrics aggregate the two processes: each stores messages, one scrape counts them all.
        await _crosstalk(a, ua, b, ub)
        body = (await api.http.get("/metrics")).text
        families = {f.name: f for f in text_string_to_metric_families(body)}
        persisted = sum(
            s.value for s in families["andon_messages_persisted"].samples if s.name.endswith("_total")
        )
        assert persisted == 2
        acks = [s for s in families["andon_ack_latency_seconds"].samples if s.name.endswith("_count")]
        assert acks and acks[0].value == 2

        # SIGTERM to the supervisor drains both workers: the open socket is closed with 1012.
        workers = {pid_of(p) for p in placed}
        sent_at = sigterm(server)
        assert await a.closed_with(timeout=20) == 1012
        assert await exited_within(server, sent_at, 40) < 40
        assert server.proc.returncode == 0
        log = server.log()
        assert all(f'"pid": {pid}, "msg": "signal SIGTERM: draining"' in log for pid in workers), log[-3000:]
    finally:
        for ws in opened:
            await ws.ws.close()
        await redis.aclose()
        await api.aclose()
        await asyncio.to_thread(server.stop)
