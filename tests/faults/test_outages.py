"""Outages during traffic: Redis restarted, PostgreSQL restarted, an API process SIGKILLed, a
worker SIGKILLed mid-push. Two API processes and a worker run against a PostgreSQL and a Redis
of the tests' own (see conftest). Checker clients send with client ids and resume with `since`;
after each fault: every acked message is stored exactly once, every stream is 1..last with no
gap or duplicate, the processes that were not killed on purpose are the same ones (nobody
restarted them), and recovery stayed within the bound each test states.
"""

from __future__ import annotations

import asyncio
import time

import asyncpg
import httpx
import pytest
from redis.asyncio import Redis

from api.domain.core.bus import Bus
from tests.faults.conftest import FaultStack, room_with_clients
from tests.faults.traffic import (
    assert_lossless,
    first_ack_after,
    max_ack_wait,
    max_delivery_lag,
    summary,
    traffic_with_fault,
)
from tests.support.clients import Api
from tests.support.fake_push_service import FakePushService, Reply
from tests.support.fault_stack import ready_status
from tests.workers.conftest import eventually, subscribe

pytestmark = pytest.mark.asyncio(loop_scope="session")

OUTAGE_SECONDS = 3.0  # deliberate: how long the service stays down


async def assert_ready_again(stack: FaultStack, timeout: float) -> None:
    """Each surviving API process answers /readyz 200 again by itself within `timeout`."""
    for server in stack.servers:
        if server.proc.poll() is not None:
            continue

        async def ready(server: object = server) -> bool:
            return await ready_status(server) == 200  # type: ignore[arg-type]

        await eventually(ready, timeout=timeout, what=f"server {server.pid} ready")


async def test_redis_restarted_during_traffic_loses_and_doubles_nothing(
    stack: FaultStack, api: Api
) -> None:
    room = await room_with_clients(api, stack, 6)
    redis = stack.services.redis

    async def restart_redis() -> tuple[float, float]:
        await asyncio.to_thread(redis.stop)
        down_at = time.monotonic()
        await asyncio.sleep(OUTAGE_SECONDS)
        await asyncio.to_thread(redis.start)
        return down_at, time.monotonic()

    # given six clients on two API processes sending in one room
    # when Redis stops for 3 s (and comes back empty) in the middle of it
    outcome = await traffic_with_fault(room.clients, stack.database_url, room.room_id, restart_redis)
    print(summary(room.clients, outcome))
    try:
        # then nothing acked is lost or stored twice, and every stream is 1..last exactly
        assert_lossless(room.clients, outcome)
        # and nobody restarted anything: the same processes run and are ready again within 10 s
        stack.assert_alive()
        await assert_ready_again(stack, timeout=10)
        # and bounds: every client's sends were acked again within 5 s of Redis being back;
        # no send waited more than outage + 10 s for its ack; no message reached a receiver
        # more than outage + 10 s after its ack (fan-out across processes resumes by itself)
        assert first_ack_after(room.clients, outcome.restored_at) < 5.0
        assert max_ack_wait(room.clients) < OUTAGE_SECONDS + 10
        assert max_delivery_lag(room.clients) < OUTAGE_SECONDS + 10
        # and both API processes follow the room's channel in the new Redis again, and the
        # worker answers through the new broker, within 10 s of Redis being back
        fresh = Redis.from_url(redis.url)
        channel = Bus(fresh, stack.env["ANDON_REDIS_PREFIX"]).room_channel(room.room_id)
        try:

            async def resubscribed() -> bool:
                [(_, count)] = await fresh.pubsub_numsub(channel)
                return int(count) == 2

            await eventually(resubscribed, timeout=10, what="room channel followed by both processes")
        finally:
            await fresh.aclose()

        async def worker_answers() -> bool:
            return await asyncio.to_thread(stack.worker.answers_ping, 1.0)

        await eventually(worker_answers, timeout=10, what="worker answering a ping")
    finally:
        for client in room.clients:
            await client.close()


async def test_postgres_restarted_during_traffic_is_a_retryable_pause(
    stack: FaultStack, api: Api
) -> None:
    room = await room_with_clients(api, stack, 6)
    pg = stack.services.pg
    owner = room.users[0]
    statuses: list[int] = []

    async def restart_postgres() -> tuple[float, float]:
        await asyncio.to_thread(pg.stop)  # fast shutdown
        down_at = time.monotonic()
        # REST during the outage, on both processes: each answer must come within 5 s
        async with httpx.AsyncClient(timeout=5) as http:
            while time.monotonic() - down_at < OUTAGE_SECONDS:
                for server in stack.servers:
                    r = await http.get(
                        f"{server.base_url}/api/rooms/{room.room_id}/messages",
                        params={"limit": 1},
                        headers=owner.headers,
                    )
                    statuses.append(r.status_code)
                await asyncio.sleep(0.2)
        await asyncio.to_thread(pg.start)
        return down_at, time.monotonic()

    # given six clients on two API processes sending in one room
    # when PostgreSQL is stopped (fast shutdown) for 3 s in the middle of it
    outcome = await traffic_with_fault(room.clients, stack.database_url, room.room_id, restart_postgres)
    print(summary(room.clients, outcome), statuses)
    try:
        # then REST answered 503 (retryable) throughout the outage
        assert statuses and set(statuses) == {503}, statuses
        # and sockets whose sends failed were closed with 1011 (resume and resend), and the
        # clients' resends with the same client ids stored nothing twice
        codes = {r.close_code for c in room.clients for r in c.reconnects}
        assert codes and codes <= {1011}, codes
        assert_lossless(room.clients, outcome)
        stack.assert_alive()
        await assert_ready_again(stack, timeout=10)
        # bounds: sends acked again within 10 s of PostgreSQL being back (stale pooled
        # connections are found and replaced); no send waited more than outage + 15 s
        assert first_ack_after(room.clients, outcome.restored_at) < 10.0
        assert max_ack_wait(room.clients) < OUTAGE_SECONDS + 15
        assert max_delivery_lag(room.clients) < 10.0
    finally:
        for client in room.clients:
            await client.close()


async def test_an_api_process_killed_mid_traffic_its_clients_move_and_catch_up(
    stack: FaultStack, api: Api
) -> None:
    room = await room_with_clients(api, stack, 6)
    victim = stack.servers[1]

    async def kill_one() -> tuple[float, float]:
        await asyncio.to_thread(victim.kill)  # SIGKILL: no drain, no close frames
        at = time.monotonic()
        return at, at

    # given six clients, three on each API process, sending in one room
    # when one process is SIGKILLed while its clients send
    outcome = await traffic_with_fault(
        room.clients, stack.database_url, room.room_id, kill_one, acks_after_fault=10
    )
    print(summary(room.clients, outcome))
    try:
        moved = [c for c in room.clients if c.reconnects]
        # then its three clients (and only they) reconnected, to the other process
        assert len(moved) == 3, [(c.name, c.reconnects) for c in room.clients]
        assert all(c.url == stack.servers[0].ws_url for c in moved)
        # and caught up with `since`: nothing lost or doubled, every stream 1..last
        assert_lossless(room.clients, outcome)
        stack.assert_alive(except_pids=(victim.pid,))
        await assert_ready_again(stack, timeout=5)
        # bounds: each moved client had a socket again within 5 s of the kill, and every
        # client's sends were acked again within 5 s; no send waited more than 10 s
        for client in moved:
            back = client.reconnects[0].back_at
            assert back is not None and back - outcome.fault_at < 5.0, client.reconnects
        assert first_ack_after(room.clients, outcome.restored_at) < 5.0
        assert max_ack_wait(room.clients) < 10.0
        assert max_delivery_lag(room.clients) < 10.0
    finally:
        for client in room.clients:
            await client.close()


async def test_a_worker_killed_mid_push_sends_each_push_exactly_once(
    one_thread_stack: FaultStack, one_thread_api: Api
) -> None:
    # One worker thread: at the kill, the hanging push is the only one on the wire (with two,
    # another push in flight may be cut before its request left, and is then closed unsent:
    # at most once, as docs/workers.md says, but not exactly once).
    stack, api = one_thread_stack, one_thread_api
    key = (await api.http.get("/api/push/vapid-public-key")).json()["public_key"]
    room = await room_with_clients(api, stack, 4)
    sender, receivers = room.clients[0], room.users[1:]
    pg = await asyncpg.connect(stack.database_url.replace("postgresql+asyncpg://", "postgresql://"))
    redis = Redis.from_url(stack.env["REDIS_URL"])
    prefix = stack.env["ANDON_REDIS_PREFIX"]
    with FakePushService(expected_vapid_public_key=key) as service:
        try:
            subs = {u.user_id: service.mint_subscription() for u in receivers}
            for user in receivers:
                await subscribe(api, user, subs[user.user_id])
            # The first push to the first receiver hangs at the service (request read, no answer).
            first = subs[receivers[0].user_id]
            service.program(first.token, Reply.never_answer())

            # given a watcher thread that SIGKILLs the worker the moment that request hangs: the
            # worker is mid-push (its PUSH_TIMEOUT, 2 s, must not expire first, so the kill does
            # not wait for this event loop)
            def kill_when_hanging() -> float:
                service.wait_for_hanging(1, timeout=30)
                stack.worker.kill()
                return time.monotonic()

            killer = asyncio.create_task(asyncio.to_thread(kill_when_hanging))
            # when a sender mentions three subscribed members in ten messages
            mentions = [u.user_id for u in receivers]
            acks = [await sender.send_one(f"line 3 alarm {n}", mentions=mentions) for n in range(10)]
            killed_at = await killer
            # and a replacement worker starts (as a supervisor would; the API processes are
            # left alone)
            await asyncio.to_thread(stack.start_extra_worker, concurrency=2)

            # then every other push arrives, within 30 s of the kill (the dead worker's messages
            # are put back once its heartbeat lapses)
            hung = next(a for a in service.attempts() if a.answered is None)
            expected = len(acks) * len(receivers) - 1
            await asyncio.to_thread(service.wait_for_deliveries, expected, timeout=30)
            assert time.monotonic() - killed_at < 30

            # and the push whose request had reached the service is closed as interrupted,
            # never sent again (within 30 s of the kill: its claim expires after PUSH_TIMEOUT + 5 s)
            async def interrupted() -> int:
                return int(
                    await pg.fetchval(
                        "SELECT count(*) FROM push_deliveries WHERE status = 'failed' AND last_outcome = 'interrupted'"
                    )
                )

            assert await eventually(interrupted, timeout=30, what="hung push closed") == 1

            async def broker_idle() -> bool:
                unacked = await redis.hlen(f"{prefix}:celery:unacked")
                queued = sum([await redis.llen(f"{prefix}:celery:{q}") for q in ("push", "mentions", "outbox")])
                return unacked == 0 and queued == 0

            await eventually(broker_idle, timeout=30, what="broker idle")
            # and, once all is done, exactly one request per (message, subscription)
            per_pair: dict[tuple[str, str], int] = {}
            for attempt in service.attempts():
                pair = (attempt.token, attempt.payload["message_id"])
                per_pair[pair] = per_pair.get(pair, 0) + 1
            wanted = {(s.token, a.message_id) for s in subs.values() for a in acks}
            assert set(per_pair) == wanted
            assert set(per_pair.values()) == {1}, per_pair
            assert hung.payload["message_id"] in {a.message_id for a in acks}
            # and the API processes were never restarted, nor the replacement worker
            stack.assert_alive(except_pids=(stack.worker.pid,))
        finally:
            await sender.close()
            await redis.aclose()
            await pg.close()
