"""The process's Redis client: one Redis (REDIS_URL) or a Redis Cluster (REDIS_CLUSTER_NODES).

redis-py's default pool raises `MaxConnectionsError` at once when all of its connections are
busy (100 by default since redis-py 8). A burst of sockets opening together (a server restart
sends every client back at once) issues more concurrent Redis commands than that, and the
sockets failed to open. A blocking pool queues those commands instead, for at most
`REDIS_POOL_TIMEOUT` seconds, so a burst costs a little latency, not failed connections.

On a cluster, redis-py's asyncio `RedisCluster` keeps its own pool per node, of
`REDIS_MAX_CONNECTIONS` connections each, and has no waiting pool: a command finding its node's
pool busy fails with `MaxConnectionsError` (500 concurrent rate-limit scripts did, in a test).
:class:`WaitingRedisCluster` gives it the same behaviour as the single Redis: commands in flight
are bounded by `REDIS_MAX_CONNECTIONS` (less a few for pipelines and pub/sub), and a command
waits up to `REDIS_POOL_TIMEOUT` seconds for a turn. Keys
that one command or script touches together carry the same hash tag (`{room_id}`), so they
live on one shard (docs/deployment.md).
"""

from __future__ import annotations

import asyncio
from typing import Any

from redis.asyncio import BlockingConnectionPool, Redis
from redis.asyncio.cluster import ClusterNode, RedisCluster
from redis.exceptions import ConnectionError as RedisConnectionError

from api.domain.core.settings import Settings


def connect_redis(settings: Settings, **options: Any) -> Redis:
    """A client for `settings`: a cluster client when REDIS_CLUSTER_NODES is set, else REDIS_URL's."""
    if settings.redis_cluster_nodes:
        return connect_cluster(settings, **options)  # type: ignore[return-value]
    if not settings.redis_url:
        raise RuntimeError("REDIS_URL is not set")
    return connect_single(settings.redis_url, settings, **options)


def connect_single(url: str, settings: Settings, **options: Any) -> Redis:
    """A client on a blocking pool of `REDIS_MAX_CONNECTIONS` connections for one Redis at `url`."""
    if not url.startswith("unix://"):
        # TCP keepalive notices a vanished Redis; a Unix socket (embedded Redis) has no such option.
        options.setdefault("socket_keepalive", True)
    pool = BlockingConnectionPool.from_url(
        url,
        max_connections=settings.redis_max_connections,
        timeout=settings.redis_pool_timeout,
        health_check_interval=30,
        **options,
    )
    # from_pool: closing the client closes the pool's connections too.
    return Redis.from_pool(pool)


def connect_cluster(settings: Settings, **options: Any) -> RedisCluster:
    """A cluster client seeded with REDIS_CLUSTER_NODES; it learns the other nodes and slots itself."""
    seeds = []
    for node in settings.redis_cluster_nodes:
        host, _, port = node.rpartition(":")
        seeds.append(ClusterNode(host, int(port)))
    options.setdefault("socket_keepalive", True)
    return WaitingRedisCluster(
        startup_nodes=seeds,
        max_connections=settings.redis_max_connections,
        health_check_interval=30,
        pool_timeout=settings.redis_pool_timeout,
        **options,
    )


# Connections per node kept out of the bound on commands: pipelines and the pub/sub readers.
RESERVED_CONNECTIONS = 8


class WaitingRedisCluster(RedisCluster):
    """A cluster client whose commands wait for a free connection instead of failing at once."""

    def __init__(self, *, pool_timeout: float, max_connections: int, **kwargs: Any) -> None:
        super().__init__(max_connections=max_connections, **kwargs)
        self._pool_timeout = pool_timeout
        self._turns = asyncio.Semaphore(max(1, max_connections - RESERVED_CONNECTIONS))

    async def execute_command(self, *args: Any, **kwargs: Any) -> Any:
        try:
            async with asyncio.timeout(self._pool_timeout):
                await self._turns.acquire()
        except TimeoutError:
            raise RedisConnectionError("no Redis Cluster connection free within REDIS_POOL_TIMEOUT") from None
        try:
            return await super().execute_command(*args, **kwargs)
        finally:
            self._turns.release()
