"""A private primary and its streaming replica for this package's tests, and servers using both."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import asyncpg
import pytest

from api.domain.core.db import migrate
from tests.support.pg_replica import PrimaryAndReplica
from tests.support.servers import ServerProcess, start_server

DATABASE = "andon"


@pytest.fixture(scope="session")
def pg_pair() -> Iterator[PrimaryAndReplica]:
    """Primary and replica with the migrated `andon` database, the replica caught up."""
    pair = PrimaryAndReplica.start()
    try:

        async def create() -> None:
            conn = await asyncpg.connect(pair.primary.admin_url)
            try:
                await conn.execute(f'CREATE DATABASE "{DATABASE}"')
            finally:
                await conn.close()

        asyncio.run(create())
        migrate(pair.primary.url(DATABASE))
        pair.wait_caught_up(60)
        yield pair
    finally:
        pair.stop()


@pytest.fixture
def replica_server(base_env: dict[str, str], pg_pair: PrimaryAndReplica) -> Iterator[Any]:
    """Start servers writing to the primary and reading from the replica; stopped by PID."""
    started: list[ServerProcess] = []

    def factory(**overrides: str) -> ServerProcess:
        env = dict(base_env)
        env.update(
            DATABASE_URL=pg_pair.primary.url(DATABASE),
            DATABASE_REPLICA_URL=pg_pair.replica.url(DATABASE),
            **overrides,
        )
        proc = start_server(env)
        started.append(proc)
        return proc

    try:
        yield factory
    finally:
        for proc in started:
            proc.stop()
