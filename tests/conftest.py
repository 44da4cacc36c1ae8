"""Shared fixtures: a fresh PostgreSQL database per run, a Redis namespace per run, and real
`andon serve` processes started from the tests and stopped by PID.

Tests isolate themselves by creating their own users and rooms (unique ids), so one server
process can serve many tests without truncating tables under it.
"""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import AsyncIterator, Iterator
from typing import Any

import asyncpg
import pytest
import pytest_asyncio

from tests.support.servers import ServerProcess, start_server
from tests.support.clients import Api

ADMIN_URL = os.environ.get("ANDON_TEST_PG_ADMIN_URL", "postgresql://postgres@127.0.0.1:5432/test")
REDIS_URL = os.environ.get("ANDON_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")


def _asyncpg_url(url: str) -> str:
    return url.replace("postgresql+asyncpg://", "postgresql://")


@pytest.fixture(scope="session")
def database_url() -> Iterator[str]:
    """A fresh database, migrated to head, dropped at the end of the run."""
    from api.domain.db import migrate

    name = f"andon_test_{uuid.uuid4().hex[:10]}"

    async def create() -> None:
        conn = await asyncpg.connect(_asyncpg_url(ADMIN_URL))
        try:
            await conn.execute(f'CREATE DATABASE "{name}"')
        finally:
            await conn.close()

    async def drop() -> None:
        conn = await asyncpg.connect(_asyncpg_url(ADMIN_URL))
        try:
            await conn.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()",
                name,
            )
            await conn.execute(f'DROP DATABASE IF EXISTS "{name}"')
        finally:
            await conn.close()

    asyncio.run(create())
    base = ADMIN_URL.rsplit("/", 1)[0]
    url = f"{base}/{name}".replace("postgresql://", "postgresql+asyncpg://")
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
        "REDIS_URL": REDIS_URL,
        "ANDON_REDIS_PREFIX": redis_prefix,
        "ANDON_DATA_DIR": str(tmp_path_factory.mktemp("andon-data")),
        "PUSH_ALLOW_PRIVATE_ENDPOINTS": "true",
        "RATE_LIMIT_PER_SECOND": "1000",
        "RATE_LIMIT_BURST": "1000",
        "LOG_LEVEL": "INFO",
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
