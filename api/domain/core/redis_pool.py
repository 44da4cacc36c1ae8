"""The process's Redis client: one bounded pool that waits for a free connection.

redis-py's default pool raises `MaxConnectionsError` at once when all of its connections are
busy (100 by default since redis-py 8). A burst of sockets opening together (a server restart
sends every client back at once) issues more concurrent Redis commands than that, and the
sockets failed to open. A blocking pool queues those commands instead, for at most
`REDIS_POOL_TIMEOUT` seconds, so a burst costs a little latency, not failed connections.
"""

from __future__ import annotations

from typing import Any

from redis.asyncio import BlockingConnectionPool, Redis

from api.domain.core.settings import Settings


def connect_redis(settings: Settings, **options: Any) -> Redis:
    """A client on a blocking pool of `REDIS_MAX_CONNECTIONS` connections for `settings.redis_url`."""
    if not settings.redis_url:
        raise RuntimeError("REDIS_URL is not set")
    if not settings.redis_url.startswith("unix://"):
        # TCP keepalive notices a vanished Redis; a Unix socket (embedded Redis) has no such option.
        options.setdefault("socket_keepalive", True)
    pool = BlockingConnectionPool.from_url(
        settings.redis_url,
        max_connections=settings.redis_max_connections,
        timeout=settings.redis_pool_timeout,
        health_check_interval=30,
        **options,
    )
    # from_pool: closing the client closes the pool's connections too.
    return Redis.from_pool(pool)
