"""The spec's four pool scenarios, and a clear 503 (not a hang or a 500) when the pool is exhausted."""

from __future__ import annotations

import asyncio
import time

import asyncpg
import httpx
import pytest
from sqlalchemy import event, text

from api.domain.core import db as db_module
from api.domain.core.db import Database, PoolExhausted, create_engine
from api.domain.core.settings import Settings


def test_custom_pool_size_overflow_and_timeout_come_from_the_environment(database_url: str) -> None:
    settings = Settings.from_env(
        {
            "DB_POOL_SIZE": "20",
            "DB_MAX_OVERFLOW": "30",
            "DB_POOL_TIMEOUT": "10",
            "DATABASE_URL": database_url,
        },
        dotenv=None,
    )
    pool = create_engine(settings).pool
    assert pool.size() == 20  # type: ignore[attr-defined]
    assert pool._max_overflow == 30  # type: ignore[attr-defined]
    assert pool._timeout == 10  # type: ignore[attr-defined]


def test_defaults_are_production_ready(database_url: str) -> None:
    settings = Settings.from_env({"DATABASE_URL": database_url}, dotenv=None)
    assert (
        settings.db_pool_size,
        settings.db_max_overflow,
        settings.db_pool_timeout,
        settings.db_pool_recycle,
    ) == (20, 30, 10, 1800)
    pool = create_engine(settings).pool
    assert pool.size() == 20 and pool._max_overflow == 30 and pool._timeout == 10 and pool._recycle == 1800  # type: ignore[attr-defined]
    # Pessimistic disconnect handling: idle connections are pinged at checkout.
    assert event.contains(pool, "checkout", db_module._ping_if_idle)


async def test_a_pooled_connection_killed_while_idle_is_replaced_transparently(
    database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Every checkout counts as "idle long enough" here, so the dead connection is pinged.
    monkeypatch.setattr(db_module, "PING_IDLE_SECONDS", 0.0)
    settings = Settings.from_env(
        {"DB_POOL_SIZE": "1", "DB_MAX_OVERFLOW": "0", "DATABASE_URL": database_url}, dotenv=None
    )
    db = Database(create_engine(settings))
    admin = await asyncpg.connect(database_url.replace("+asyncpg", ""))
    try:
        async with db.read() as conn:
            first = (await conn.execute(text("SELECT pg_backend_pid()"))).scalar_one()
        await admin.execute("SELECT pg_terminate_backend($1)", first)
        async with asyncio.timeout(10):
            while await admin.fetchval("SELECT count(*) FROM pg_stat_activity WHERE pid = $1", first):
                await asyncio.sleep(0.05)
        async with db.transaction() as uow:
            second = (await uow.conn.execute(text("SELECT pg_backend_pid()"))).scalar_one()
        assert second != first
    finally:
        await admin.close()
        await db.dispose()


def test_bad_pool_settings_are_refused() -> None:
    from api.domain.core.settings import SettingsError

    with pytest.raises(SettingsError):
        Settings.from_env({"DB_POOL_SIZE": "lots"}, dotenv=None)
    with pytest.raises(SettingsError):
        Settings.from_env({"DB_POOL_SIZE": "0"}, dotenv=None)


async def test_pool_grows_by_overflow_then_waits_timeout_and_errors(database_url: str) -> None:
    settings = Settings.from_env(
        {"DB_POOL_SIZE": "2", "DB_MAX_OVERFLOW": "1", "DB_POOL_TIMEOUT": "1", "DATABASE_URL": database_url},
        dotenv=None,
    )
    db = Database(create_engine(settings))
    held = [await db.engine.connect() for _ in range(3)]  # 2 persistent + 1 overflow
    try:
        start = time.monotonic()
        with pytest.raises(PoolExhausted):
            async with db.transaction():
                pass
        waited = time.monotonic() - start
        assert 0.9 <= waited < 5
    finally:
        for c in held:
            await c.close()
        await db.dispose()


async def test_exhausted_pool_answers_503_then_recovers(server_factory, database_url: str) -> None:
    """One pooled connection, held by a request blocked on a lock: the next request gets 503."""
    srv = server_factory(DB_POOL_SIZE="1", DB_MAX_OVERFLOW="0", DB_POOL_TIMEOUT="1")
    blocker = await asyncpg.connect(database_url.replace("+asyncpg", ""))
    async with httpx.AsyncClient(base_url=srv.base_url, timeout=20) as client:
        try:
            tx = blocker.transaction()
            await tx.start()
            await blocker.execute("LOCK TABLE auth_tokens IN ACCESS EXCLUSIVE MODE")
            stuck = asyncio.create_task(client.get("/api/me", headers={"Authorization": "Bearer whatever"}))
            # Wait until the stuck request really holds the pool's connection (it waits on our lock).
            async with asyncio.timeout(10):
                while not await blocker.fetchval(
                    "SELECT count(*) FROM pg_locks WHERE relation = 'auth_tokens'::regclass AND NOT granted"
                ):
                    await asyncio.sleep(0.02)
            start = time.monotonic()
            r = await client.get("/api/me", headers={"Authorization": "Bearer other"})
            assert r.status_code == 503
            assert r.json()["status_code"] == 503 and "busy" in r.json()["detail"]
            assert 0.9 <= time.monotonic() - start < 8
            await tx.rollback()
            assert (await stuck).status_code == 401
        finally:
            await blocker.close()
        assert (await client.get("/api/me", headers={"Authorization": "Bearer whatever"})).status_code == 401
