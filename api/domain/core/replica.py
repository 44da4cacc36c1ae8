"""Reads from a streaming replica (DATABASE_REPLICA_URL), keeping read-your-writes.

History pages, mentions, incident-data queries and search may read from a PostgreSQL streaming
replica. A replica replays the primary's WAL a little later, so a user who just wrote (sent,
edited, reacted) could read a page without that write. To rule that out:

* after a user's write the primary's WAL position, `pg_current_wal_insert_lsn()`, is remembered for that
  user in Redis (`{prefix}:lsn:{user}`, for :data:`POSITION_TTL` seconds, longer than any
  replica lag worth reading from);
* a read for that user first asks the replica `pg_last_wal_replay_lsn()`, on the connection that
  then runs the read: at or past the remembered position, the replica has the write and serves
  the read; behind it (or not a replica at all, or unreachable), the primary serves it.

Users who wrote nothing lately read from the replica whatever its lag (what they saw came from
the same streams, so a few milliseconds of lag shows them nothing out of order).
"""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager

from redis.asyncio import Redis
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from api.domain.core import metrics
from api.domain.core.db import Database, release

log = logging.getLogger(__name__)

POSITION_TTL = 300
# Where WAL is inserted, not only written: with synchronous_commit=off a commit returns before its
# WAL is written, and the position must still cover it.
_CURRENT = text("SELECT pg_current_wal_insert_lsn()::text")
# NULL on a primary (not in recovery): never read from a server that is not a replica.
# The position travels as text (the driver has no pg_lsn codec).
_CAUGHT_UP = text(
    "SELECT pg_last_wal_replay_lsn() IS NOT NULL AND (CAST(:p AS text) IS NULL"
    " OR pg_last_wal_replay_lsn() >= CAST(CAST(:p AS text) AS pg_lsn))"
)


class Replica:
    """Routes reads to the replica when it has replayed the reader's own writes."""

    def __init__(self, db: Database, engine: AsyncEngine, redis: Redis, prefix: str) -> None:
        self.db = db
        self.engine = engine
        self.redis = redis
        self.prefix = prefix
        self._warned_at = 0.0

    def key(self, user_id: str) -> str:
        return f"{self.prefix}:lsn:{{{user_id}}}"

    async def note_write(self, user_ids: Iterable[str], conn: AsyncConnection | None = None) -> None:
        """Remember the primary's WAL position after these users' write (`conn`: a primary connection)."""
        users = list(dict.fromkeys(user_ids))
        if not users:
            return
        try:
            if conn is not None:
                position = (await conn.execute(_CURRENT)).scalar_one()
            else:
                async with self.db.read() as primary:
                    position = (await primary.execute(_CURRENT)).scalar_one()
            pipe = self.redis.pipeline(transaction=False)
            for user_id in users:
                pipe.set(self.key(user_id), position, ex=POSITION_TTL)
            await pipe.execute()
        except Exception as exc:
            # The write itself committed: it must not fail for this. Its author may read a
            # replica page without it until the replica catches up (seconds at most).
            log.warning("could not remember a write's WAL position (%s)", type(exc).__name__)

    async def position(self, user_id: str | None) -> str | None:
        """The WAL position of the user's last write, if it was recent."""
        if user_id is None:
            return None
        raw = await self.redis.get(self.key(user_id))
        return raw.decode() if isinstance(raw, bytes) else raw

    @asynccontextmanager
    async def read(self, user_id: str | None) -> AsyncIterator[AsyncConnection]:
        """A read-only connection: the replica's when it has the user's writes, else the primary's."""
        conn = await self._replica_connection(user_id)
        if conn is None:
            metrics.REPLICA_READS.labels("primary").inc()
            async with self.db.read() as primary:
                yield primary
            return
        metrics.REPLICA_READS.labels("replica").inc()
        try:
            yield conn
        finally:
            await release(conn)

    async def _replica_connection(self, user_id: str | None) -> AsyncConnection | None:
        """A replica connection that has replayed the user's writes, or None (read the primary)."""
        try:
            position = await self.position(user_id)
            conn = await self.engine.connect()
        except Exception as exc:
            self._warn(exc)
            return None
        try:
            caught_up = bool((await conn.execute(_CAUGHT_UP, {"p": position})).scalar_one())
        except Exception as exc:
            self._warn(exc)
            caught_up = False
        if not caught_up:
            await release(conn)
            return None
        return conn

    def _warn(self, exc: BaseException) -> None:
        now = time.monotonic()
        if now - self._warned_at > 10.0:
            self._warned_at = now
            log.warning("replica unavailable (%s); reading from the primary", type(exc).__name__)
