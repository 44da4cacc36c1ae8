"""What a use case needs from the process: settings, database, Redis and the bus."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field

from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncConnection

from api.domain.core.bus import Bus
from api.domain.core.db import Database
from api.domain.core.replica import Replica
from api.domain.core.settings import Settings


@dataclass
class Services:
    """Process-wide handles, built once by the app or the worker and passed explicitly."""

    settings: Settings
    db: Database
    redis: Redis
    bus: Bus
    # Called after a commit that wrote outbox rows, to wake the relay without polling.
    outbox_kick: Callable[[], None] = field(default=lambda: None)
    # DATABASE_REPLICA_URL's reads (history, search, mentions, incident data), if configured.
    replica: Replica | None = None

    def read_for(self, user_id: str | None) -> AbstractAsyncContextManager[AsyncConnection]:
        """A read-only connection for `user_id`'s read: the replica when it has their writes, else the primary."""
        return self.replica.read(user_id) if self.replica is not None else self.db.read()
