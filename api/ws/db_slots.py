"""How many socket opens and replays of this process use the database at once (WS_DB_CONCURRENCY).

After a server process dies, thousands of its clients resume on another one within a second or
two, and each admission and replay page needs a pooled connection. Unbounded, they would all
wait in the pool and time out there after DB_POOL_TIMEOUT (a 1011 each) while the queue was
still moving. Here they queue for a slot, the slots number fewer than the pool's connections
(the rest stays for sends, REST requests and gap fills), and a waiter gives up only when no
slot was freed for DB_POOL_TIMEOUT seconds: the database is stuck, not busy.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

from api.domain.core.db import PoolExhausted


class DbSlots:
    """A semaphore whose waiters time out only while the queue stands still."""

    def __init__(self, size: int, stall_seconds: float) -> None:
        self.size = size
        self.stall_seconds = max(0.05, stall_seconds)
        self._sem = asyncio.Semaphore(size)
        self._released = 0

    async def acquire(self) -> None:
        while True:
            seen = self._released
            try:
                async with asyncio.timeout(self.stall_seconds):
                    await self._sem.acquire()
                return
            except TimeoutError:
                if self._released == seen:
                    raise PoolExhausted(f"no database slot was freed within {self.stall_seconds} s") from None

    def release(self) -> None:
        self._released += 1
        self._sem.release()

    @contextlib.asynccontextmanager
    async def held(self) -> AsyncIterator[None]:
        await self.acquire()
        try:
            yield
        finally:
            self.release()
