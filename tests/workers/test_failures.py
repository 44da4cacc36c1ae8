"""The worker under failure: a push service that never answers, a worker SIGKILLed mid-push,
Redis down when a message is committed."""

from __future__ import annotations

import asyncio
import socket
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import asyncpg
import pytest
from redis.asyncio import Redis

from api.domain.auth.sessions import AuthUser
from api.domain.core.bus import Bus
from api.domain.core.db import Database, create_engine
from api.domain.core.services import Services
from api.domain.core.settings import Settings
from api.domain.messages.send import MessageWriter, SendRequest
from api.domain.messages.validate import check_draft
from api.domain.outbox.relay import OutboxKicker
from tests.conftest import ADMIN_URL
from tests.support.clients import Api
from tests.support.fake_push_service import FakePushService, MintedSubscription, Reply
from tests.support.private_services import PrivateRedis
from tests.support.workers import WorkerProcess, fresh_database, start_worker
from tests.workers.conftest import Stack, eventually, running_stack, stack_env, subscribe

pytestmark = pytest.mark.asyncio(loop_scope="session")


@pytest.fixture
def one_thread_stack(base_env: dict[str, str]) -> Iterator[Stack]:
    # One task at a time: a push that hangs would hold up everything behind it.
    with running_stack(base_env, concurrency=1) as stack:
        yield stack


@pytest.fixture
def fragile_stack(base_env: dict[str, str]) -> Iterator[Stack]:
    # One thread, and a visibility timeout and stale age far beyond the test's bounds: only the
    # broker watch can bring a dead worker's message back in time.
    with running_stack(
        base_env, concurrency=1, WORKER_VISIBILITY_TIMEOUT="600", OUTBOX_STALE_SECONDS="300"
    ) as stack:
        yield stack


def _push_service(stack: Stack) -> FakePushService:
    import httpx

    key = httpx.get(f"{stack.server.base_url}/api/push/vapid-public-key", timeout=10).json()["public_key"]
    return FakePushService(expected_vapid_public_key=key)


async def test_a_push_service_that_never_answers_times_out_and_the_worker_moves_on(
    one_thread_stack: Stack,
) -> None:
    stack = one_thread_stack
    client = Api(stack.server.base_url, stack.database_url)
    with _push_service(stack) as service:
        try:
            alice = await client.user("alice")
            bob, carol = await client.user("bob"), await client.user("carol")
            bob_sub, carol_sub = service.mint_subscription(), service.mint_subscription()
            service.program(bob_sub.token, Reply.never_answer())
            await subscribe(client, bob, bob_sub)
            await subscribe(client, carol, carol_sub)
            room = await client.room_with(alice, (bob, "EDITOR"), (carol, "EDITOR"))
            ws = await client.connect(alice, room)

            # given the worker's only thread is stuck sending to Bob's push service
            to_bob = await ws.send_message("@bob ping", mentions=[bob.user_id])
            await asyncio.to_thread(service.wait_for_hanging, 1, timeout=20)
            hung_at = time.monotonic()

            # when another mention is sent meanwhile
            to_carol = await ws.send_message("@carol ping", mentions=[carol.user_id])

            # then the stuck send is given up after PUSH_TIMEOUT (2 s) and Carol is served
            [push] = await service.wait_for_deliveries_async(1, token=carol_sub.token, timeout=20)
            assert push.payload["message_id"] == to_carol["message_id"]
            assert time.monotonic() - hung_at < 15
            # and Bob's push is retried (the service now answers) and arrives once
            [push] = await service.wait_for_deliveries_async(1, token=bob_sub.token, timeout=20)
            assert push.payload["message_id"] == to_bob["message_id"]
            assert [a.answered for a in service.attempts(bob_sub.token)] == [None, 201]
            await ws.close()
        finally:
            await client.aclose()


async def test_a_worker_killed_mid_push_sends_nothing_twice_and_its_other_work_resumes_in_seconds(
    fragile_stack: Stack,
) -> None:
    stack = fragile_stack
    client = Api(stack.server.base_url, stack.database_url)
    pg = await asyncpg.connect(stack.database_url.replace("postgresql+asyncpg://", "postgresql://"))
    redis = Redis.from_url(stack.env["REDIS_URL"])
    prefix = stack.env["ANDON_REDIS_PREFIX"]
    replacement: WorkerProcess | None = None
    with _push_service(stack) as service:
        try:
            alice, bob, carol = (
                await client.user("alice"),
                await client.user("bob"),
                await client.user("carol"),
            )
            subs = {bob.user_id: service.mint_subscription(), carol.user_id: service.mint_subscription()}
            for user in (bob, carol):
                # Whichever of the two pushes goes first hangs (the request arrives, no answer).
                service.program(subs[user.user_id].token, Reply.never_answer())
                await subscribe(client, user, subs[user.user_id])
            room = await client.room_with(alice, (bob, "EDITOR"), (carol, "EDITOR"))
            ws = await client.connect(alice, room)

            # given the worker's one thread is sending the first of two pushes planned together
            # (one push.send message), the push service holding the request unanswered
            ack = await ws.send_message("@bob @carol ping", mentions=[bob.user_id, carol.user_id])
            await asyncio.to_thread(service.wait_for_hanging, 1, timeout=20)
            [hung] = service.attempts()
            [other] = [sub for sub in subs.values() if sub.token != hung.token]
            service.reprogram(other.token)

            # when the worker is SIGKILLed (no warm shutdown, no ack) and a new worker starts
            stack.worker.kill()
            killed_at = time.monotonic()
            replacement = await asyncio.to_thread(start_worker, stack.env, concurrency=1)

            # then the other push of the dead worker's message arrives within seconds (its message
            # is put back in the queue once the dead worker's heartbeat lapses), not after the
            # visibility timeout or the stale sweep (both 300 s here)
            [push] = await service.wait_for_deliveries_async(1, token=other.token, timeout=60)
            assert push.payload["message_id"] == ack["message_id"]
            assert time.monotonic() - killed_at < 25

            # and the push whose request had reached the push service is never sent again: it is
            # closed as interrupted once its claim expires
            async def hung_closed() -> tuple[str, str] | None:
                row = await pg.fetchrow(
                    "SELECT d.status, d.last_outcome FROM push_deliveries d "
                    "JOIN push_subscriptions s USING (subscription_id) WHERE s.endpoint = $1",
                    service.url_for(hung.token),
                )
                return (row["status"], row["last_outcome"]) if row and row["status"] == "failed" else None

            assert await eventually(hung_closed, timeout=60, what="interrupted delivery closed") == (
                "failed",
                "interrupted",
            )

            # and once everything in the broker has been handled, each subscription got exactly
            # one request
            async def broker_idle() -> bool:
                unacked = await redis.hlen(f"{prefix}:celery:unacked")
                queued = sum(
                    [await redis.llen(f"{prefix}:celery:{q}") for q in ("push", "mentions", "outbox")]
                )
                return unacked == 0 and queued == 0

            await eventually(broker_idle, timeout=60, what="broker idle")
            assert len(service.attempts(hung.token)) == 1
            assert len(service.attempts(other.token)) == 1
            await ws.close()
        finally:
            if replacement is not None:
                await asyncio.to_thread(replacement.stop)
            await redis.aclose()
            await pg.close()
            await client.aclose()


# --- Redis down at commit time ------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def private_redis() -> Iterator[PrivateRedis]:
    """A redis-server of this test's own, which the test may stop and restart (tests/support)."""
    server = PrivateRedis.create()
    server.start()
    try:
        yield server
    finally:
        server.destroy()


@dataclass
class WorkerOnPrivateRedis:
    worker: WorkerProcess
    env: dict[str, str]


@pytest.fixture
def worker_on_private_redis(
    base_env: dict[str, str], private_redis: PrivateRedis
) -> Iterator[WorkerOnPrivateRedis]:
    with fresh_database(ADMIN_URL) as url:
        env = stack_env(base_env, url, REDIS_URL=private_redis.url)
        worker = start_worker(env, concurrency=2)
        try:
            yield WorkerOnPrivateRedis(worker, env)
        finally:
            worker.stop()


async def test_redis_down_at_commit_time_delays_the_push_until_redis_is_back(
    worker_on_private_redis: WorkerOnPrivateRedis, private_redis: PrivateRedis
) -> None:
    env = worker_on_private_redis.env
    settings = Settings.from_env(env, dotenv=Path("/nonexistent"))
    pg = await asyncpg.connect(env["DATABASE_URL"].replace("postgresql+asyncpg://", "postgresql://"))
    redis = Redis.from_url(private_redis.url, socket_connect_timeout=1)
    services = Services(
        settings=settings,
        db=Database(create_engine(settings)),
        redis=redis,
        bus=Bus(redis, settings.redis_prefix),
        outbox_kick=OutboxKicker(redis, settings.redis_prefix),
    )
    with FakePushService() as service:
        try:
            # given Alice and Bob in a room, Bob subscribed
            alice, bob = (
                f"alice-{uuid.uuid4().hex[:8]}@example.com",
                f"bob-{uuid.uuid4().hex[:8]}@example.com",
            )
            room_id = uuid.uuid4()
            sub = service.mint_subscription()
            await pg.execute(
                "INSERT INTO tr_users (user_id, display_name) VALUES ($1, 'Alice'), ($2, 'Bob')", alice, bob
            )
            await pg.execute(
                "INSERT INTO incident_rooms (room_id, title, created_by) VALUES ($1, 'Line 3', $2)",
                room_id,
                alice,
            )
            await pg.execute(
                "INSERT INTO room_members (room_id, user_id, role) VALUES ($1, $2, 'OWNER'), ($1, $3, 'EDITOR')",
                room_id,
                alice,
                bob,
            )
            await pg.execute(
                "INSERT INTO push_subscriptions (user_id, endpoint, p256dh, auth) VALUES ($1, $2, $3, $4)",
                bob,
                sub.endpoint,
                sub.p256dh,
                sub.auth,
            )

            # when Redis is down at the moment the message commits
            await asyncio.to_thread(private_redis.stop)
            writer = MessageWriter(services)
            sender = AuthUser(alice, "Alice", False, b"", datetime.now(UTC) + timedelta(hours=1))
            draft = check_draft({"type": "message", "content": "@Bob oven alarm", "mentions": [bob]})
            message = await writer.send(SendRequest(room_id, sender, draft, None))

            # then the message and its outbox row are committed, nothing queued
            row = await pg.fetchrow(
                "SELECT enqueued_at, done_at FROM outbox WHERE payload->'message_ids' ? $1",
                message.message_id,
            )
            assert row is not None and row["enqueued_at"] is None and row["done_at"] is None
            assert service.attempts(sub.token) == []

            # and once Redis is back (empty: it keeps nothing), the push is delivered
            await asyncio.to_thread(private_redis.start)
            [push] = await service.wait_for_deliveries_async(1, token=sub.token, timeout=60)
            assert push.payload["message_id"] == message.message_id
            assert push.payload["kind"] == "mention"
            await eventually(
                lambda: pg.fetchval(
                    "SELECT done_at IS NOT NULL FROM outbox WHERE payload->'message_ids' ? $1",
                    message.message_id,
                ),
                timeout=30,
                what="outbox row done",
            )
            assert len(service.attempts(sub.token)) == 1
        finally:
            await services.outbox_kick.aclose()  # type: ignore[attr-defined]
            await redis.aclose()
            await services.db.dispose()
            await pg.close()


@pytest.fixture
def env_on_private_redis(base_env: dict[str, str], private_redis: PrivateRedis) -> Iterator[dict[str, str]]:
    with fresh_database(ADMIN_URL) as url:
        # A stale age far beyond the test's bound: only noticing the lost queues is fast enough.
        yield stack_env(base_env, url, REDIS_URL=private_redis.url, OUTBOX_STALE_SECONDS="300")


async def test_jobs_lost_with_a_redis_restart_run_within_seconds_not_after_the_stale_age(
    env_on_private_redis: dict[str, str], private_redis: PrivateRedis
) -> None:
    env = env_on_private_redis
    url = env["DATABASE_URL"]
    settings = Settings.from_env(env, dotenv=Path("/nonexistent"))
    # A relay alone: it queues the jobs, nobody runs them yet.
    relay_only = await asyncio.to_thread(start_worker, env, queues="outbox", concurrency=1)
    runner: WorkerProcess | None = None
    pg = await asyncpg.connect(url.replace("postgresql+asyncpg://", "postgresql://"))
    redis = Redis.from_url(private_redis.url, socket_connect_timeout=1)
    services = Services(
        settings=settings,
        db=Database(create_engine(settings)),
        redis=redis,
        bus=Bus(redis, settings.redis_prefix),
        outbox_kick=OutboxKicker(redis, settings.redis_prefix),
    )
    with FakePushService() as service:
        try:
            alice, bob, room_id, sub = await _room_with_subscriber(pg, service)
            writer = MessageWriter(services)
            sender = AuthUser(alice, "Alice", False, b"", datetime.now(UTC) + timedelta(hours=1))
            draft = check_draft({"type": "message", "content": "@Bob oven alarm", "mentions": [bob]})

            # given a message whose jobs are queued in Redis and not yet run
            message = await writer.send(SendRequest(room_id, sender, draft, None))
            queue = f"{settings.redis_prefix}:celery:mentions"

            async def queued() -> bool:
                return bool(await redis.llen(queue))

            await eventually(queued, timeout=20, what="notify job queued")

            # when Redis restarts empty (no persistence) and a worker for the jobs starts
            await asyncio.to_thread(private_redis.stop)
            await asyncio.to_thread(private_redis.start)
            back_at = time.monotonic()
            runner = await asyncio.to_thread(start_worker, env, concurrency=2)

            # then the lost job is queued again and the push arrives within seconds
            [push] = await service.wait_for_deliveries_async(1, token=sub.token, timeout=60)
            assert push.payload["message_id"] == message.message_id
            assert time.monotonic() - back_at < 30
            assert len(service.attempts(sub.token)) == 1
        finally:
            if runner is not None:
                await asyncio.to_thread(runner.stop)
            await asyncio.to_thread(relay_only.stop)
            await services.outbox_kick.aclose()  # type: ignore[attr-defined]
            await redis.aclose()
            await services.db.dispose()
            await pg.close()


async def _room_with_subscriber(
    pg: asyncpg.Connection, service: FakePushService
) -> tuple[str, str, uuid.UUID, MintedSubscription]:
    """Alice and Bob in a room, Bob subscribed to pushes; (alice, bob, room_id, subscription)."""
    alice, bob = f"alice-{uuid.uuid4().hex[:8]}@example.com", f"bob-{uuid.uuid4().hex[:8]}@example.com"
    room_id = uuid.uuid4()
    sub = service.mint_subscription()
    await pg.execute(
        "INSERT INTO tr_users (user_id, display_name) VALUES ($1, 'Alice'), ($2, 'Bob')", alice, bob
    )
    await pg.execute(
        "INSERT INTO incident_rooms (room_id, title, created_by) VALUES ($1, 'Line 3', $2)", room_id, alice
    )
    await pg.execute(
        "INSERT INTO room_members (room_id, user_id, role) VALUES ($1, $2, 'OWNER'), ($1, $3, 'EDITOR')",
        room_id,
        alice,
        bob,
    )
    await pg.execute(
        "INSERT INTO push_subscriptions (user_id, endpoint, p256dh, auth) VALUES ($1, $2, $3, $4)",
        bob,
        sub.endpoint,
        sub.p256dh,
        sub.auth,
    )
    return alice, bob, room_id, sub
