"""The broker watch against a real Redis: messages of dead workers go back to their queues,
messages live workers hold stay, and a Redis that lost its data has the outbox published again
exactly once however many watches look."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import AsyncIterator

import pytest
import pytest_asyncio
from redis.asyncio import Redis

from tests.conftest import REDIS_URL
from workers.broker_watch import BrokerWatch, Heartbeat, celery_key, epoch_key

pytestmark = pytest.mark.asyncio(loop_scope="session")


# Every prefix this module used, for cleaning the shared Redis afterwards.
_PREFIXES: list[str] = []


@pytest_asyncio.fixture(loop_scope="session")
async def redis() -> AsyncIterator[Redis]:
    client = Redis.from_url(REDIS_URL)
    try:
        yield client
    finally:
        for prefix in _PREFIXES:
            keys = [key async for key in client.scan_iter(match=f"{prefix}:*")]
            if keys:
                await client.delete(*keys)
        _PREFIXES.clear()
        await client.aclose()


def _prefix() -> str:
    prefix = f"andonbw{uuid.uuid4().hex[:8]}"
    _PREFIXES.append(prefix)
    return prefix


async def _held_by_broker(redis: Redis, prefix: str, tag: str, age: float, queue: str = "push") -> None:
    """What kombu writes when a worker takes a message with acks_late."""
    message = {
        "body": "W10=",
        "headers": {"id": tag},
        "properties": {"delivery_tag": tag, "delivery_info": {}},
    }
    await redis.hset(celery_key(prefix, "unacked"), tag, json.dumps([message, "", queue]))
    await redis.zadd(celery_key(prefix, "unacked_index"), {tag: time.time() - age})


async def _nothing_to_forget() -> tuple[int, int]:
    return (0, 0)


async def test_only_messages_no_live_worker_holds_go_back_to_their_queue(redis: Redis) -> None:
    prefix = _prefix()
    # given a live worker holding one message, a dead worker's message, and a message just taken
    await Heartbeat(redis, prefix, "live@host", lambda: ["held"]).beat()
    await _held_by_broker(redis, prefix, "held", age=30)
    await _held_by_broker(redis, prefix, "orphan", age=30, queue="mentions")
    await _held_by_broker(redis, prefix, "fresh", age=0)
    watch = BrokerWatch(redis, prefix, _nothing_to_forget)

    # when the watch looks (twice: a second look restores nothing more)
    restored = await watch.restore_orphans()
    again = await watch.restore_orphans()

    # then only the orphan is back, at the end its queue is served from, marked redelivered
    assert (restored, again) == (1, 0)
    [raw] = await redis.lrange(celery_key(prefix, "mentions"), 0, -1)
    message = json.loads(raw)
    assert message["headers"]["id"] == "orphan" and message["headers"]["redelivered"] is True
    assert sorted(await redis.hkeys(celery_key(prefix, "unacked"))) == [b"fresh", b"held"]
    assert await redis.llen(celery_key(prefix, "push")) == 0


async def test_a_message_taken_after_a_live_workers_last_beat_is_left_alone(redis: Redis) -> None:
    prefix = _prefix()
    # given a live worker whose last beat (listing nothing) is older than a message it may hold
    beat = Heartbeat(redis, prefix, "slow@host", lambda: [])
    await beat.beat()
    stale = json.dumps({"tags": [], "at": time.time() - 60})
    await redis.set(f"{prefix}:worker:slow@host", stale, px=6000)
    await _held_by_broker(redis, prefix, "maybe-held", age=10)

    # when the watch looks, then it cannot vouch for the message and leaves it
    assert await BrokerWatch(redis, prefix, _nothing_to_forget).restore_orphans() == 0
    assert await redis.hexists(celery_key(prefix, "unacked"), "maybe-held")


async def test_a_worker_whose_heartbeat_expired_counts_as_dead(redis: Redis) -> None:
    prefix = _prefix()
    # given a worker that held a message and then stopped beating
    beat = Heartbeat(redis, prefix, "gone@host", lambda: ["t1"], ttl=0.2)
    await beat.beat()
    await _held_by_broker(redis, prefix, "t1", age=30)
    watch = BrokerWatch(redis, prefix, _nothing_to_forget)
    assert await watch.restore_orphans() == 0

    # when its heartbeat expires
    deadline = time.monotonic() + 5
    while await redis.exists(f"{prefix}:worker:gone@host"):
        assert time.monotonic() < deadline, "heartbeat did not expire"
        await asyncio.sleep(0.05)

    # then its message goes back
    assert await watch.restore_orphans() == 1
    assert await redis.llen(celery_key(prefix, "push")) == 1


async def test_a_redis_that_lost_its_data_has_the_outbox_published_again_once(redis: Redis) -> None:
    prefix = _prefix()
    calls: list[int] = []

    async def forget() -> tuple[int, int]:
        calls.append(1)
        return (3, 1)

    watches = [BrokerWatch(redis, prefix, forget) for _ in range(3)]

    # when three watches look at a Redis without an epoch (a first start, or a restart)
    first = await asyncio.gather(*(w.check_epoch() for w in watches))
    # and again, with nothing lost since
    second = await asyncio.gather(*(w.check_epoch() for w in watches))
    # and after Redis lost its data once more
    await redis.delete(epoch_key(prefix))
    third = await asyncio.gather(*(w.check_epoch() for w in watches))

    # then exactly one watch had the outbox forgotten each time Redis came back empty
    assert sorted(first) == [False, False, True]
    assert second == [False, False, False]
    assert sorted(third) == [False, False, True]
    assert len(calls) == 2
