"""A real three-master Redis Cluster for this package's tests, and servers that use it."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.conftest import redis_url
from tests.support.redis_cluster import RedisCluster
from tests.support.servers import ServerProcess, start_server


@pytest.fixture(scope="session")
def redis_cluster() -> Iterator[RedisCluster]:
    cluster = RedisCluster.start()
    try:
        yield cluster
    finally:
        cluster.stop()


@pytest.fixture
def cluster_server(base_env: dict[str, str], redis_cluster: RedisCluster) -> Iterator[Any]:
    """Start servers on the cluster (the Celery broker stays on the single Redis); stopped by PID."""
    started: list[ServerProcess] = []

    def factory(**overrides: str) -> ServerProcess:
        env = {k: v for k, v in base_env.items() if k != "REDIS_URL"}
        env.update(REDIS_CLUSTER_NODES=redis_cluster.nodes, CELERY_BROKER_URL=redis_url(), **overrides)
        proc = start_server(env)
        started.append(proc)
        return proc

    try:
        yield factory
    finally:
        for proc in started:
            proc.stop()
