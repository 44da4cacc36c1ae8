"""Fixtures for the search contract suite: a fresh PostgreSQL database, and each backend.

The database is created on the local server (trust auth), migrated to head with the
application's own `migrate`, and dropped at the end of the session. The admin connection is
`ANDON_TEST_PG_ADMIN_URL` (default postgresql+asyncpg://postgres@127.0.0.1:5432/test).
The Meilisearch backend runs only when MEILI_URL is set.
"""

from __future__ import annotations

import asyncio
import os
import secrets
from collections.abc import AsyncIterator

import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from api.domain.core.db import migrate
from search.base import SearchBackend

DEFAULT_ADMIN_URL = "postgresql+asyncpg://postgres@127.0.0.1:5432/test"
MEILI_SKIP_REASON = "MEILI_URL not set: no Meilisearch server on this machine"


def _admin_url() -> str:
    return os.environ.get("ANDON_TEST_PG_ADMIN_URL") or DEFAULT_ADMIN_URL


@pytest.fixture(scope="session")
async def search_db_url() -> AsyncIterator[str]:
    """A fresh database migrated to head; dropped when the session ends."""
    admin_url = make_url(_admin_url())
    name = f"andon_search_test_{secrets.token_hex(6)}"
    admin = create_async_engine(admin_url, isolation_level="AUTOCOMMIT")
    try:
        async with admin.connect() as conn:
            await conn.execute(text(f'CREATE DATABASE "{name}"'))
        url = admin_url.set(database=name).render_as_string(hide_password=False)
        # Alembic's env runs its own event loop: give it a thread.
        await asyncio.wait_for(asyncio.to_thread(migrate, url), timeout=120)
        yield url
    finally:
        async with admin.connect() as conn:
            await conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        await admin.dispose()


@pytest.fixture(scope="session")
async def pg_engine(search_db_url: str) -> AsyncIterator[AsyncEngine]:
    """An engine on the test database, as the application would hand to the backend."""
    engine = create_async_engine(search_db_url, pool_size=5, pool_timeout=10)
    yield engine
    await engine.dispose()


@pytest.fixture(params=["postgres", pytest.param("meilisearch", marks=pytest.mark.meili)])
async def backend(request: pytest.FixtureRequest, pg_engine: AsyncEngine) -> AsyncIterator[SearchBackend]:
    """Each SearchBackend in turn. Tests isolate themselves with fresh room ids."""
    if request.param == "postgres":
        from search.postgres import PostgresSearchBackend

        pg = PostgresSearchBackend(pg_engine)
        await pg.ensure_ready()
        yield pg
        await pg.close()
        return
    meili_url = os.environ.get("MEILI_URL")
    if not meili_url:
        pytest.skip(MEILI_SKIP_REASON)
    from search.meilisearch import MeilisearchSearchBackend

    meili = MeilisearchSearchBackend(
        meili_url,
        os.environ.get("MEILI_MASTER_KEY"),
        index_uid=f"andon_test_{secrets.token_hex(4)}",
    )
    await meili.ensure_ready()
    try:
        yield meili
    finally:
        await meili.drop_index()
        await meili.close()
