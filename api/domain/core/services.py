"""What a use case needs from the process: settings, database, Redis and the bus."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from redis.asyncio import Redis

from api.domain.core.bus import Bus
from api.domain.core.db import Database
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
