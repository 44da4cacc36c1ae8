"""Database access: the engine, migrations, and a short unit of work with after-commit hooks.

Every operation takes a connection from the pool, runs one transaction, commits and gives
the connection back (the spec's short-lived sessions). Effects that must only happen once the
data is durable (publishing events, kicking the outbox relay) are registered on the unit of
work and run after COMMIT, never before.
"""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import event
from sqlalchemy import exc as sa_exc
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine

from api.domain.core.settings import Settings

log = logging.getLogger(__name__)

MIGRATIONS_DIR = Path(__file__).resolve().parents[3] / "migrations"

# A pooled connection idle longer than this is pinged before use; one given back more
# recently was working a moment ago and is used as it is (a round trip saved per transaction
# when the server is busy). A connection that still turns out dead fails its statement: the
# pool discards it and the caller's usual error path applies.
PING_IDLE_SECONDS = 2.0


class PoolExhausted(RuntimeError):
    """No database connection became free within DB_POOL_TIMEOUT seconds."""


def normalise_url(url: str) -> str:
    """Accept plain `postgresql://` URLs and use the asyncpg driver for them."""
    if url.startswith("postgres://"):
        url = "postgresql://" + url[len("postgres://") :]
    if url.startswith("postgresql://"):
        url = "postgresql+asyncpg://" + url[len("postgresql://") :]
    return url


def create_engine(settings: Settings, url: str | None = None) -> AsyncEngine:
    """The process's engine, with the pool sized by the DB_POOL_* settings.

    Connections idle for more than PING_IDLE_SECONDS are pinged at checkout (pessimistic
    disconnect handling, like `pool_pre_ping`, without a round trip on every busy checkout).
    """
    target = url or settings.database_url
    if not target:
        raise ValueError("no DATABASE_URL: start the embedded database first")
    server_settings = {"application_name": "andon"}
    engine = create_async_engine(
        normalise_url(target),
        pool_size=settings.db_pool_size,
        max_overflow=settings.db_max_overflow,
        pool_timeout=settings.db_pool_timeout,
        pool_recycle=settings.db_pool_recycle,
        # A failed statement's exception (and so a logged traceback) must not carry its bound
        # parameters: message content, token digests.
        hide_parameters=True,
        # asyncpg's statement cache stays on; JSON is decoded by our own code paths.
        connect_args={"server_settings": server_settings},
    )
    pool = engine.sync_engine.pool
    event.listen(pool, "checkin", _note_checkin)
    event.listen(pool, "checkout", _ping_if_idle)
    return engine


def _note_checkin(dbapi_connection: Any, record: Any) -> None:
    record.info["andon_checked_in"] = time.monotonic()


def _ping_if_idle(dbapi_connection: Any, record: Any, proxy: Any) -> None:
    last = record.info.get("andon_checked_in")
    if last is None or time.monotonic() - last < PING_IDLE_SECONDS:
        return  # just connected, or given back moments ago
    try:
        dbapi_connection.ping()
    except Exception as exc:
        # The pool drops this connection and checks out (or opens) another.
        raise sa_exc.DisconnectionError("stale pooled connection") from exc


def alembic_config(url: str) -> Any:
    """An Alembic config pointing at the migrations shipped inside the package."""
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    cfg.set_main_option("sqlalchemy.url", normalise_url(url).replace("%", "%%"))
    return cfg


def migrate(url: str, revision: str = "head") -> None:
    """Upgrade the database at `url` to `revision` (blocking; call from a thread if in a loop)."""
    from alembic import command

    command.upgrade(alembic_config(url), revision)


def downgrade(url: str, revision: str) -> None:
    """Downgrade the database at `url` to `revision`."""
    from alembic import command

    command.downgrade(alembic_config(url), revision)


AfterCommit = Callable[[], Awaitable[None] | None]


class UnitOfWork:
    """One transaction on one pooled connection, with hooks that run after COMMIT."""

    def __init__(self, conn: AsyncConnection) -> None:
        self.conn = conn
        self._after_commit: list[AfterCommit] = []

    def after_commit(self, hook: AfterCommit) -> None:
        """Run `hook` once the transaction has committed (not at all if it rolls back)."""
        self._after_commit.append(hook)

    async def run_after_commit(self) -> None:
        for hook in self._after_commit:
            try:
                result = hook()
                if result is not None:
                    await result
            except Exception:
                # An after-commit effect failing must not turn a committed write into an
                # error for the caller: the outbox sweeper and gap filling recover it.
                log.exception("after-commit hook failed")


async def release(conn: AsyncConnection) -> None:
    """Roll back what the connection has open and give it back, even when the rollback fails.

    `__aexit__` closes it shielded from cancellation, so a cancelled reader cannot leak it.
    """
    try:
        await conn.rollback()
    finally:
        await conn.__aexit__(None, None, None)


class Database:
    """Owns the engine; hands out short units of work."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine

    async def _checkout(self) -> AsyncConnection:
        """A pooled connection (released with `__aexit__`); an exhausted pool is PoolExhausted."""
        try:
            return await self.engine.connect().__aenter__()
        except sa_exc.TimeoutError as exc:
            raise PoolExhausted(str(exc)) from exc

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[UnitOfWork]:
        """A unit of work: commit on success, roll back on error, then after-commit hooks."""
        conn = await self._checkout()
        uow = UnitOfWork(conn)
        try:
            await conn.begin()
            yield uow
            await conn.commit()
        except BaseException:
            await release(conn)
            raise
        await conn.__aexit__(None, None, None)
        await uow.run_after_commit()

    @asynccontextmanager
    async def autocommit(self) -> AsyncIterator[AsyncConnection]:
        """A pooled connection in autocommit mode: each statement is its own transaction.

        No BEGIN and no COMMIT round trip: a single statement (for example the message batch's
        reserve-and-insert, `api.domain.messages.sequencing`) commits as it completes, atomically. Under
        READ COMMITTED, statements of one transaction see fresh snapshots anyway, so reads
        before such a write lose no consistency by running on their own.
        """
        conn = await self._checkout()
        try:
            # A driver-level flag (no round trip); the pool restores the default on release.
            await conn.execution_options(isolation_level="AUTOCOMMIT")
            yield conn
        finally:
            await conn.__aexit__(None, None, None)

    @asynccontextmanager
    async def read(self) -> AsyncIterator[AsyncConnection]:
        """A read-only connection (autocommit-free; the transaction is rolled back)."""
        conn = await self._checkout()
        try:
            yield conn
        finally:
            await release(conn)

    async def dispose(self) -> None:
        await self.engine.dispose()
