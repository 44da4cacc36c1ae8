"""A real three-master Redis Cluster for this package's tests, and servers that use it."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from tests.conftest import redis_url
from tests.support.redis_cluster import RedisCluster
from tests.support.servers import ServerProcess


@pytest.fixture(scope="session")
def redis_cluster() -> Iterator[RedisCluster]:
    cluster = RedisCluster.start()
    try:
        yield cluster
    finally:
        cluster.stop()


@pytest.fixture
def cluster_server(server_factory: Any, redis_cluster: RedisCluster) -> Callable[..., ServerProcess]:
    """Start servers on the cluster (the Celery broker stays on the single Redis); stopped by PID."""

    def factory(**overrides: str) -> ServerProcess:
        proc: ServerProcess = server_factory(
            REDIS_URL="", REDIS_CLUSTER_NODES=redis_cluster.nodes, CELERY_BROKER_URL=redis_url(), **overrides
        )
        return proc

    return factory
