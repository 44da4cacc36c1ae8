"""A server and a worker of their own for the worker tests: a Redis prefix of their own (so no
other test's worker takes their tasks), short push timeout and sweep intervals, and a loopback
push service that decrypts every push and verifies its VAPID signature."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, TypeVar

import asyncpg
import httpx
import pytest
import pytest_asyncio

from tests.conftest import ADMIN_URL
from tests.support.clients import Api, User
from tests.support.fake_push_service import FakePushService, MintedSubscription, PushAttempt
from tests.support.servers import ServerProcess, start_server
from tests.support.workers import WorkerProcess, fresh_database, start_worker

T = TypeVar("T")

# Short enough for tests to see retries and takeovers in seconds, long enough not to race.
WORKER_SETTINGS = {
    "PUSH_TIMEOUT": "2",
    "OUTBOX_SWEEP_SECONDS": "0.5",
    "OUTBOX_STALE_SECONDS": "10",
    "WORKER_VISIBILITY_TIMEOUT": "30",
    # The PostgreSQL here is shared with other work: keep each process's pool small.
    "DB_POOL_SIZE": "4",
    "DB_MAX_OVERFLOW": "4",
}


def stack_env(base_env: dict[str, str], database_url: str, **overrides: str) -> dict[str, str]:
    """The run's environment with its own database, a fresh Redis prefix and the test settings."""
    env = dict(base_env)
    env.update(WORKER_SETTINGS)
    env["DATABASE_URL"] = database_url
    env["ANDON_REDIS_PREFIX"] = f"andonw{uuid.uuid4().hex[:8]}"
    env.update(overrides)
    return env


@dataclass
class Stack:
    server: ServerProcess
    worker: WorkerProcess
    env: dict[str, str]

    @property
    def database_url(self) -> str:
        return self.env["DATABASE_URL"]


@contextmanager
def running_stack(base_env: dict[str, str], *, concurrency: int = 4, **overrides: str) -> Iterator[Stack]:
    """A database, a server and a worker of their own, stopped (by PID) and dropped afterwards."""
    with fresh_database(ADMIN_URL) as url:
        env = stack_env(base_env, url, **overrides)
        server = start_server(env)
        try:
            worker = start_worker(env, concurrency=concurrency)
        except BaseException:
            server.stop()
            raise
        try:
            yield Stack(server, worker, env)
        finally:
            worker.stop()
            server.stop()


@pytest.fixture(scope="session")
def stack(base_env: dict[str, str]) -> Iterator[Stack]:
    """Shared by the worker test modules (tests that break their worker start their own)."""
    with running_stack(base_env) as running:
        yield running


@pytest.fixture(scope="session")
def push_service(stack: Stack) -> Iterator[FakePushService]:
    key = httpx.get(f"{stack.server.base_url}/api/push/vapid-public-key", timeout=10).json()["public_key"]
    with FakePushService(expected_vapid_public_key=key) as service:
        yield service


@pytest_asyncio.fixture(loop_scope="session")
async def client(stack: Stack) -> AsyncIterator[Api]:
    api = Api(stack.server.base_url, stack.database_url)
    try:
        yield api
    finally:
        await api.aclose()


@pytest_asyncio.fixture(loop_scope="session")
async def pg(stack: Stack) -> AsyncIterator[asyncpg.Connection]:
    conn = await asyncpg.connect(stack.database_url.replace("postgresql+asyncpg://", "postgresql://"))
    try:
        yield conn
    finally:
        await conn.close()


async def subscribe(api: Api, user: User, minted: MintedSubscription) -> None:
    r = await api.http.post(
        "/api/push/subscriptions",
        json={"endpoint": minted.endpoint, "keys": {"p256dh": minted.p256dh, "auth": minted.auth}},
        headers=user.headers,
    )
    assert r.status_code == 201, r.text


async def set_prefs(api: Api, user: User, **body: Any) -> dict[str, Any]:
    r = await api.http.put("/api/me/notifications", json=body, headers=user.headers)
    assert r.status_code == 200, r.text
    prefs: dict[str, Any] = r.json()
    return prefs


async def eventually(
    check: Callable[[], Awaitable[T | None]], *, timeout: float = 20.0, what: str = "condition"
) -> T:
    """Poll `check` until it returns something truthy; fail after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = await check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} not reached within {timeout}s (last: {value!r})")
        await asyncio.sleep(0.05)


async def attempts_async(
    service: FakePushService, count: int, token: str, timeout: float = 20.0
) -> list[PushAttempt]:
    """`wait_for_attempts` without blocking the event loop."""
    return await asyncio.to_thread(service.wait_for_attempts, count, token=token, timeout=timeout)
