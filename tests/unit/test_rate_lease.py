"""The leasing rate limiter against a real Redis: a steady sender's takes need no Redis call,
while the shared bucket (and what it counts as leased) keeps the limit's upper bound exact.

Time is the limiter's injected clock for its own rules (seen recently, idle, deadlines); the
bucket refills on the Redis server's clock, so the rates here are low enough that the few
milliseconds of a test refill less than a token, and bounds that depend on it are computed
from the Redis server's TIME.
"""

from __future__ import annotations

import asyncio
import logging
import random
import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest
import pytest_asyncio
from redis.asyncio import Redis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff

from api.domain.core.rate_lease import LeasedRateLimiter
from tests.conftest import redis_url


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class Counted:
    """Wraps a registered script: counts its calls."""

    def __init__(self, script: Any) -> None:
        self.script = script
        self.calls = 0

    async def __call__(self, **kwargs: Any) -> Any:
        self.calls += 1
        return await self.script(**kwargs)


@pytest_asyncio.fixture
async def redis() -> AsyncIterator[Redis]:
    client = Redis.from_url(redis_url(), decode_responses=True)
    try:
        yield client
    finally:
        await client.aclose()


@pytest_asyncio.fixture
async def prefix(redis: Redis) -> AsyncIterator[str]:
    value = f"leasetest{uuid.uuid4().hex[:10]}"
    try:
        yield value
    finally:
        keys = [k async for k in redis.scan_iter(match=f"{value}:*")]
        if keys:
            await redis.delete(*keys)


def limiter(
    redis: Redis, prefix: str, rate: float, burst: int, clock: Clock | None = None
) -> tuple[LeasedRateLimiter, Counted]:
    lim = LeasedRateLimiter(redis, prefix, rate, burst, clock=clock or Clock(), sweep_every=None)
    counted = Counted(lim.script)
    lim.script = counted  # type: ignore[assignment]
    return lim, counted


async def bucket(redis: Redis, lim: LeasedRateLimiter, room: str, user: str) -> tuple[float, dict[str, int]]:
    """The bucket's stored tokens, and each process's holding (its `l:` field)."""
    fields = await redis.hgetall(lim.shared.key(room, user))
    held = {f[2:]: int(float(v.split()[0])) for f, v in fields.items() if f.startswith("l:")}
    return float(fields.get("tk", lim.burst)), held


def local(lim: LeasedRateLimiter, room: str, user: str) -> tuple[int, int]:
    lease = lim._rooms[room].users[user]
    return lease.tokens, lease.recent


async def test_a_steady_senders_takes_after_the_first_two_need_no_redis_call(redis: Redis, prefix: str) -> None:
    clock = Clock()
    lim, script = limiter(redis, prefix, 400, 800, clock)
    assert lim.lease == 100
    assert await lim.take("r", {"u": 1}) == {"u": 1}  # first seen: no lease
    clock.now += 0.05
    assert await lim.take("r", {"u": 1}) == {"u": 1}  # seen 0.05 s ago: 1 + a lease of 100
    assert script.calls == 2
    assert local(lim, "r", "u") == (100, 1)
    for _ in range(33):
        clock.now += 0.01
        assert await lim.take("r", {"u": 3}) == {"u": 3}
    assert script.calls == 2, "served from the lease"
    assert local(lim, "r", "u") == (1, 3)
    # The lease runs short: one call takes what is missing and a new lease.
    assert await lim.take("r", {"u": 3}) == {"u": 3}
    assert script.calls == 3
    assert local(lim, "r", "u") == (100, 3)
    tokens, held = await bucket(redis, lim, "r", "u")
    assert held == {lim.process: 103}
    assert tokens + 103 <= 800


async def test_a_one_off_sender_takes_no_lease(redis: Redis, prefix: str) -> None:
    clock = Clock()
    lim, script = limiter(redis, prefix, 40, 400, clock)
    assert await lim.take("r", {"u": 2}) == {"u": 2}
    clock.now += 0.5
    assert await lim.take("r", {"u": 2}) == {"u": 2}
    assert script.calls == 2
    assert local(lim, "r", "u") == (0, 0)
    tokens, held = await bucket(redis, lim, "r", "u")
    assert held == {}
    assert 396 <= tokens < 397


async def test_two_processes_sharing_a_bucket_grant_no_more_than_it_allows(redis: Redis, prefix: str) -> None:
    clock = Clock()
    (one, _), (two, _) = limiter(redis, prefix, 40, 40, clock), limiter(redis, prefix, 40, 40, clock)
    assert one.lease == two.lease == 10
    t0 = await _redis_time(redis)
    total = 0
    for _ in range(60):
        clock.now += 0.01  # both keep seeing the sender: both lease whenever the bucket lets them
        for lim in (one, two):
            total += (await lim.take("r", {"u": 1}))["u"]
    t1 = await _redis_time(redis)
    assert total <= 40 + 40 * (t1 - t0)
    assert total >= 20, "half the burst at least, though leases may hold the rest"
    tokens, held = await bucket(redis, one, "r", "u")
    assert tokens + sum(held.values()) <= 40


async def test_a_held_lease_counts_against_the_bucket_while_it_refills(redis: Redis, prefix: str) -> None:
    """What can be spent at once (the bucket and every unused lease) never exceeds the burst, even
    when the bucket has refilled since the lease was taken: the refill stops at burst minus what
    the processes hold. At a million a second it refills between any two calls."""
    clock = Clock()
    (one, _), (two, _) = limiter(redis, prefix, 1_000_000, 40, clock), limiter(redis, prefix, 1_000_000, 40, clock)
    await one.take("r", {"u": 1})
    clock.now += 0.01
    await one.take("r", {"u": 1})
    assert local(one, "r", "u") == (10, 1)
    # Another process asks for the whole burst at once: the bucket is full but for one's holding.
    assert await two.take("r", {"u": 40}) == {"u": 29}
    assert 29 + local(one, "r", "u")[0] <= 40
    # Once one gives its lease back, the whole burst is there again.
    await one.close()
    assert (await two.take("r", {"u": 40}))["u"] == 40


async def test_a_spent_lease_no_longer_counts_against_the_refill(redis: Redis, prefix: str) -> None:
    """Once the bucket has refilled, a steady sender can take the whole burst at once: the bucket
    plus what is left of its lease. The tokens it has spent from the lease since it last reported
    its holding are gone, not held: the refill stops at what the process holds now."""
    clock = Clock()
    lim, _ = limiter(redis, prefix, 1_000_000, 40, clock)
    await lim.take("r", {"u": 1})
    clock.now += 0.01
    await lim.take("r", {"u": 1})
    assert local(lim, "r", "u") == (10, 1)
    assert (await bucket(redis, lim, "r", "u"))[1] == {lim.process: 11}
    clock.now += 0.01
    assert await lim.take("r", {"u": 6}) == {"u": 6}  # from the lease: Redis still counts 11
    assert local(lim, "r", "u") == (4, 6)
    clock.now += 0.01
    # The 4 left in the lease and 36 from the bucket; not 4 + 40 - 11.
    assert await lim.take("r", {"u": 40}) == {"u": 40}
    tokens, held = await bucket(redis, lim, "r", "u")
    assert held == {}
    assert tokens + sum(held.values()) <= 40


async def test_a_sender_seen_long_ago_gets_its_leftover_lease_and_the_bucket_up_to_the_burst(
    redis: Redis, prefix: str
) -> None:
    """A take with no new lease (the sender not seen recently) that its leftover lease cannot
    cover: the leftover still counts against the refill, so lease and bucket together give
    exactly the burst, no more (and no less for the tokens it spent from the lease)."""
    clock = Clock()
    lim, _ = limiter(redis, prefix, 1_000_000, 40, clock)
    await lim.take("r", {"u": 1})
    clock.now += 0.01
    await lim.take("r", {"u": 1})
    clock.now += 0.01
    assert await lim.take("r", {"u": 6}) == {"u": 6}
    assert local(lim, "r", "u") == (4, 6)
    clock.now += 0.35  # not seen recently, the lease still valid (no sweep ran)
    assert await lim.take("r", {"u": 50}) == {"u": 40}
    assert local(lim, "r", "u") == (0, 0)
    tokens, held = await bucket(redis, lim, "r", "u")
    assert held == {}
    assert tokens == 0


async def _redis_time(redis: Redis) -> float:
    seconds, micros = await redis.time()
    return seconds + micros / 1_000_000


async def test_a_lease_comes_only_from_tokens_above_half_the_burst(redis: Redis, prefix: str) -> None:
    clock = Clock()
    lim, _ = limiter(redis, prefix, 40, 400, clock)
    assert await lim.take("r", {"u": 200}) == {"u": 200}  # the bucket at half
    clock.now += 0.01
    assert await lim.take("r", {"u": 1}) == {"u": 1}
    assert local(lim, "r", "u") == (0, 0)
    assert (await bucket(redis, lim, "r", "u"))[1] == {}
    # Above half: only the tokens above it.
    lim2, _ = limiter(redis, prefix, 40, 400, clock)
    assert await lim2.take("r", {"v": 195}) == {"v": 195}
    clock.now += 0.01
    assert await lim2.take("r", {"v": 1}) == {"v": 1}
    leased = local(lim2, "r", "v")[0]
    assert leased in (4, 5)  # 204 and a bit (refilled meanwhile), less half the burst
    tokens, held = await bucket(redis, lim2, "r", "v")
    assert tokens >= 200
    assert held == {lim2.process: leased + 1}


async def test_give_backs_go_into_the_lease_as_far_as_the_last_take(redis: Redis, prefix: str) -> None:
    clock = Clock()
    lim, script = limiter(redis, prefix, 40, 400, clock)
    await lim.take("r", {"u": 1})
    clock.now += 0.01
    await lim.take("r", {"u": 1})
    assert local(lim, "r", "u") == (10, 1)
    assert await lim.take("r", {"u": 5}) == {"u": 5}
    assert await lim.take("r", {"u": -3}) == {"u": -3}
    assert script.calls == 2
    assert local(lim, "r", "u") == (8, 2)
    assert await lim.take("r", {"u": 2}) == {"u": 2}
    before, _ = await bucket(redis, lim, "r", "u")
    # More than the last take granted: the rest goes to Redis, the lease stays within its holding.
    assert await lim.take("r", {"u": -4}) == {"u": -4}
    assert script.calls == 3
    assert local(lim, "r", "u") == (8, 0)
    after, held = await bucket(redis, lim, "r", "u")
    assert 2 <= after - before < 3
    assert held == {lim.process: 8}


async def test_idle_leases_go_back_after_0_3_s(redis: Redis, prefix: str) -> None:
    clock = Clock()
    lim, script = limiter(redis, prefix, 40, 400, clock)
    await lim.take("r", {"u": 1})
    clock.now += 0.01
    await lim.take("r", {"u": 1})
    assert local(lim, "r", "u") == (10, 1)
    clock.now += 0.2
    await lim.sweep()
    assert script.calls == 2 and local(lim, "r", "u") == (10, 1), "not idle yet"
    clock.now += 0.11
    await lim.sweep()
    assert script.calls == 3
    assert lim._rooms == {}
    tokens, held = await bucket(redis, lim, "r", "u")
    assert held == {}
    assert 398 <= tokens < 399


async def test_a_lease_near_its_deadline_goes_back_while_the_sender_is_still_active(
    redis: Redis, prefix: str
) -> None:
    clock = Clock()
    lim, _ = limiter(redis, prefix, 40, 400, clock)
    await lim.take("r", {"u": 1})
    for _ in range(5):  # a take every 0.2 s: seen recently each time, the lease lasts
        clock.now += 0.2
        await lim.take("r", {"u": 1})
    assert local(lim, "r", "u")[0] == 6
    await lim.sweep()
    assert local(lim, "r", "u") == (0, 0)
    assert (await bucket(redis, lim, "r", "u"))[1] == {}
    clock.now += 0.2
    assert await lim.take("r", {"u": 1}) == {"u": 1}
    assert local(lim, "r", "u")[0] == 10, "a fresh lease"


async def test_close_gives_every_lease_back(redis: Redis, prefix: str) -> None:
    clock = Clock()
    lim, _ = limiter(redis, prefix, 40, 400, clock)
    for room in ("r1", "r2"):
        for user in ("u", "v"):
            await lim.take(room, {user: 1})
    clock.now += 0.01
    for room in ("r1", "r2"):
        assert await lim.take(room, {"u": 2, "v": 1}) == {"u": 2, "v": 1}
    await lim.close()
    for room, user, used in (("r1", "u", 3), ("r1", "v", 2), ("r2", "u", 3), ("r2", "v", 2)):
        tokens, held = await bucket(redis, lim, room, user)
        assert held == {}
        assert 400 - used <= tokens < 400 - used + 1
    assert lim._rooms == {}
    # Later takes still count, leasing nothing.
    clock.now += 0.01
    assert await lim.take("r1", {"u": 1}) == {"u": 1}
    clock.now += 0.01
    assert await lim.take("r1", {"u": 1}) == {"u": 1}
    assert local(lim, "r1", "u") == (0, 0)


async def test_below_4_per_second_every_take_goes_to_the_shared_bucket(redis: Redis, prefix: str) -> None:
    clock = Clock()
    for rate, burst in ((3.9, 100), (100, 3)):
        lim, script = limiter(redis, f"{prefix}:{burst}", rate, burst, clock)
        shared = Counted(lim.shared._script)
        lim.shared._script = shared  # type: ignore[assignment]
        assert lim.lease == 0
        for _ in range(3):
            clock.now += 0.01
            assert await lim.take("r", {"u": 1}) == {"u": 1}
        assert await lim.take("r", {"u": -1}) == {"u": -1}
        assert (script.calls, shared.calls) == (0, 4)
        assert lim._rooms == {}


async def test_the_holdings_in_redis_always_cover_every_lease(redis: Redis, prefix: str) -> None:
    """Any mix of takes, give-backs and sweeps from three processes: the bucket plus every
    process's holding never exceeds the burst, and no process holds more than Redis counts."""
    clock = Clock()
    rng = random.Random(14)
    procs = [limiter(redis, prefix, 1000, 60, clock)[0] for _ in range(3)]
    for step in range(300):
        clock.now += rng.choice((0.02, 0.05, 0.35))
        lim = rng.choice(procs)
        user = rng.choice(("u", "v"))
        granted = (await lim.take("r", {user: rng.randint(1, 4)}))[user]
        if granted and rng.random() < 0.3:
            await lim.take("r", {user: -rng.randint(1, granted)})
        if step % 25 == 0:
            await rng.choice(procs).sweep()
        for u in ("u", "v"):
            tokens, held = await bucket(redis, lim, "r", u)
            assert tokens + sum(held.values()) <= 60 + 1e-9
            for p in procs:
                lease = p._rooms.get("r") and p._rooms["r"].users.get(u)
                if lease and lease.tokens + lease.recent:
                    assert lease.tokens + lease.recent <= held.get(p.process, 0), (step, u)


async def test_without_redis_everything_is_granted_and_a_warning_logged(
    caplog: pytest.LogCaptureFixture,
) -> None:
    down = Redis(host="127.0.0.1", port=1, socket_connect_timeout=1, retry=Retry(NoBackoff(), 0))
    clock = Clock()
    lim = LeasedRateLimiter(down, "leasetest-down", 40, 40, clock=clock, sweep_every=None)
    lim.shared._warned_at = -1e9
    try:
        with caplog.at_level(logging.WARNING, logger="api.domain.core.rate_limit"):
            assert await lim.take("r", {"u": 50}) == {"u": 50}
            clock.now += 0.01
            assert await lim.take("r", {"u": 50, "v": 2}) == {"u": 50, "v": 2}
            assert await lim.take("r", {"u": -5}) == {"u": -5}
            await lim.close()
        warnings = [r for r in caplog.records if "shared rate limit unavailable" in r.getMessage()]
        assert len(warnings) == 1, "at most one warning in 10 s"
    finally:
        await down.aclose()


async def test_the_background_sweep_logs_a_failure_and_goes_on(
    redis: Redis, prefix: str, caplog: pytest.LogCaptureFixture
) -> None:
    lim = LeasedRateLimiter(redis, prefix, 40, 400, sweep_every=0)
    failures = 0
    swept = asyncio.Event()

    async def sweep(now: float | None = None, *, everything: bool = False) -> None:
        nonlocal failures
        if everything:
            return
        if failures == 0:
            failures += 1
            raise RuntimeError("boom")
        lim._rooms.clear()  # nothing left to watch: the loop ends
        swept.set()

    lim.sweep = sweep  # type: ignore[method-assign]
    with caplog.at_level(logging.ERROR, logger="api.domain.core.rate_lease"):
        await lim.take("r", {"u": 1})
        async with asyncio.timeout(5):
            await swept.wait()
        task = lim._sweeper
        assert task is not None
        async with asyncio.timeout(5):
            await task
    assert any(r.exc_info and "boom" in str(r.exc_info[1]) for r in caplog.records)
    await lim.close()
    assert lim._sweeper is None
