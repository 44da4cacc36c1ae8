"""A private primary and its streaming replica for this package's tests, and servers using both."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from typing import Any

import asyncpg
import pytest

from api.domain.core.db import migrate
from tests.support.pg_replica import PrimaryAndReplica
from tests.support.servers import ServerProcess

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
def replica_server(server_factory: Any, pg_pair: PrimaryAndReplica) -> Callable[..., ServerProcess]:
    """Start servers writing to the primary and reading from the replica; stopped by PID."""

    def factory(**overrides: str) -> ServerProcess:
        proc: ServerProcess = server_factory(
            DATABASE_URL=pg_pair.primary.url(DATABASE),
            DATABASE_REPLICA_URL=pg_pair.replica.url(DATABASE),
            **overrides,
        )
        return proc

    return factory
