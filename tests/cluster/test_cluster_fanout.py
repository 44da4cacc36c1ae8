"""Andon on a real Redis Cluster: fan-out between two server processes, rate limits, presence."""

from __future__ import annotations

import asyncio
from typing import Any

from redis.asyncio.cluster import RedisCluster as ClusterClient

from api.domain.core.bus import Bus
from api.domain.core.rate_lease import LeasedRateLimiter
from api.domain.core.rate_limit import SharedRateLimiter
from api.domain.core.redis_pool import connect_redis
from api.domain.core.settings import Settings
from api.domain.presence import Presence
from tests.support.clients import Api
from tests.support.redis_cluster import RedisCluster


async def _client(cluster: RedisCluster) -> ClusterClient:
    settings = Settings(redis_cluster_nodes=tuple(cluster.nodes.split(",")), celery_broker_url="redis://unused")
    client = connect_redis(settings)
    assert isinstance(client, ClusterClient)
    await client.initialize()  # the slot map, before get_node_from_key
    return client


async def _frames_up_to(ws: Any, last: int) -> list[dict[str, Any]]:
    """Sequenced frames until sequence number `last` (an echo of the client's own sends may come first)."""
    got: list[dict[str, Any]] = []
    while not got or got[-1]["sequence_number"] < last:
        got += await ws.sequenced(1)
    return got


async def test_messages_cross_two_processes_through_shard_channels(
    cluster_server, redis_cluster: RedisCluster, database_url: str, redis_prefix: str
) -> None:
    first, second = cluster_server(), cluster_server()
    one, two = Api(first.base_url, database_url), Api(second.base_url, database_url)
    client = await _client(redis_cluster)
    try:
        owner, editor = await one.user("owner"), await one.user("ed")
        # Rooms on at least two shards. Room ids are random, so four rooms land on one shard of
        # three once in 27 runs: make rooms until two shards are covered (16 rooms all on one
        # shard would mean the tags do not spread: 3 * 3**-16, about one in 14 million).
        bus = Bus(client, redis_prefix)
        by_shard: dict[str, str] = {}
        for _ in range(16):
            room_id = await one.room_with(owner, (editor, "EDITOR"))
            by_shard.setdefault(client.get_node_from_key(bus.room_channel(room_id)).name, room_id)
            if len(by_shard) >= 2:
                break
        assert len(by_shard) >= 2, "sixteen rooms on one shard of three: tags not spreading"
        for room_id in by_shard.values():
            a, b = await one.connect(owner, room_id), await two.connect(editor, room_id)
            channel = bus.room_channel(room_id)
            node = client.get_node_from_key(channel)
            # Both processes follow the room on its shard only, through SSUBSCRIBE.
            counts = await client.execute_command("PUBSUB SHARDNUMSUB", channel, target_nodes=node)
            assert dict(counts) == {channel.encode(): 2}, counts
            for sender, receiver in ((a, b), (b, a)):
                sent = [await sender.send_message(f"hello {i}") for i in range(3)]
                got = await _frames_up_to(receiver, sent[-1]["sequence_number"])
                assert [(f["sequence_number"], f["content"]) for f in got][-3:] == [
                    (s["sequence_number"], f"hello {i}") for i, s in enumerate(sent)
                ]
            await a.close()
            await b.close()
    finally:
        await one.aclose()
        await two.aclose()
        await client.aclose()


async def test_presence_and_rate_limit_across_processes_on_the_cluster(
    cluster_server, database_url: str
) -> None:
    first = cluster_server(RATE_LIMIT_PER_SECOND="1", RATE_LIMIT_BURST="6")
    second = cluster_server(RATE_LIMIT_PER_SECOND="1", RATE_LIMIT_BURST="6")
    one, two = Api(first.base_url, database_url), Api(second.base_url, database_url)
    try:
        owner, editor = await one.user("owner"), await one.user("ed")
        room_id = await one.room_with(owner, (editor, "EDITOR"))
        a = await one.connect(owner, room_id)
        b = await two.connect(editor, room_id)
        # Presence is read across processes from the room's shard.
        assert b.connected is not None
        assert {u["user_id"] for u in b.connected["online"]} == {owner.user_id, editor.user_id}
        joined = await a.next("system")
        assert joined["event"] == "user_joined" and joined["user_id"] == editor.user_id
        # One bucket for the owner in this room, shared by both processes.
        a2 = await two.connect(owner, room_id)
        for ws, name in ((a, "a"), (a2, "b")):
            for i in range(4):
                await ws.send({"type": "message", "content": f"{name}{i}", "client_id": f"{name}{i}"})
        outcomes = [await ws.next("ack", "error") for ws in (a, a2) for _ in range(4)]
        acked = [f for f in outcomes if f["type"] == "ack"]
        assert all(f["code"] == "rate_limited" for f in outcomes if f["type"] == "error")
        assert 6 <= len(acked) <= 7, outcomes
        await a2.close()
        await b.close()
        left = await a.next("system")
        assert left["event"] == "user_left" and left["user_id"] == editor.user_id
        await a.close()
    finally:
        await one.aclose()
        await two.aclose()


async def test_scripts_run_on_the_cluster(redis_cluster: RedisCluster, redis_prefix: str) -> None:
    """The rate-limit and presence scripts take several keys at once: their hash tags keep them on one shard."""
    client = await _client(redis_cluster)
    try:
        limiter = SharedRateLimiter(client, redis_prefix, per_second=0.001, burst=2)
        assert await limiter.take("room-a", {"u1": 3, "u2": 1}) == {"u1": 2, "u2": 1}
        assert await limiter.take("room-a", {"u1": 1}) == {"u1": 0}
        # A burst above the per-node pool (REDIS_MAX_CONNECTIONS, 128) waits for turns instead of
        # failing: every take is counted (a failed one would be granted without counting).
        burst = SharedRateLimiter(client, redis_prefix, per_second=0.001, burst=1000)
        granted = await asyncio.gather(*(burst.take("room-b", {"u": 1}) for _ in range(400)))
        assert granted == [{"u": 1}] * 400
        assert await burst.take("room-b", {"u": 1000}) == {"u": 600}
        # The leasing script reads and writes the same keys (their holdings): one shard too.
        now = [0.0]
        leased = LeasedRateLimiter(client, redis_prefix, 100, 1000, clock=lambda: now[0], sweep_every=None)
        assert await leased.take("room-c", {"u1": 1, "u2": 2}) == {"u1": 1, "u2": 2}
        now[0] += 0.01
        assert await leased.take("room-c", {"u1": 1, "u2": 2}) == {"u1": 1, "u2": 2}
        assert [leased._rooms["room-c"].users[u].tokens for u in ("u1", "u2")] == [25, 25]
        await leased.close()
        assert (await leased.take("room-c", {"u1": 1000}))["u1"] >= 998  # the lease came back
        here = Presence(client, redis_prefix, "proc-1", 40.0)
        there = Presence(client, redis_prefix, "proc-2", 40.0)
        assert await here.add("room-a", "u1", "One") == 1
        assert await there.add("room-a", "u1", "One") == 2
        await there.add("room-a", "u2", "Two")
        assert await here.online_user_ids("room-a") == ["u1", "u2"]
        await there.set_focus("room-a", "u2", 1)
        assert await here.focused_among("room-a", ["u1", "u2"]) == {"u2"}
        await there.drop_process(["room-a"])
        assert await here.online_user_ids("room-a") == ["u1"]
        assert await here.remove("room-a", "u1") == 0
    finally:
        await client.aclose()


async def test_control_channel_reaches_a_subscriber_on_any_node(
    redis_cluster: RedisCluster, redis_prefix: str
) -> None:
    client = await _client(redis_cluster)
    bus = Bus(client, redis_prefix)
    subscriber = bus.channels.subscriber()
    try:
        await subscriber.subscribe(bus.control_channel, bus.user_channel("someone"))
        kinds: list[str] = []
        async with asyncio.timeout(10):
            while len(kinds) < 2:
                message = await subscriber.get_message(1.0)
                if message is not None:
                    kinds.append(message["type"])
        assert kinds == ["subscribe", "subscribe"]
        await bus.publish_control({"revoked": ["abc"]})
        await bus.publish_user("someone", b'{"type":"x"}')
        seen = []
        async with asyncio.timeout(10):
            while len(seen) < 2:
                message = await subscriber.get_message(1.0)
                if message is not None and message["type"] == "message":
                    seen.append(bus.decode(message["channel"].decode(), message["data"]))
        assert sorted(type(e).__name__ for e in seen) == ["Control", "ForUser"]
    finally:
        await subscriber.aclose()
        await client.aclose()
