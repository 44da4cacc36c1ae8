"""REDIS_CLUSTER_NODES and CELERY_BROKER_URL: read, checked, and where each client goes."""

from __future__ import annotations

import pytest
from redis.asyncio import Redis
from redis.asyncio.cluster import RedisCluster

from api.domain.core.pubsub import ClusterChannels, RedisChannels, channels_for, is_shard_channel
from api.domain.core.redis_pool import connect_redis
from api.domain.core.settings import Settings, SettingsError
from workers.celery_app import create_app


def test_cluster_nodes_are_read_and_checked() -> None:
    env = {"REDIS_CLUSTER_NODES": "10.0.0.1:7000, 10.0.0.2:7001", "CELERY_BROKER_URL": "redis://broker:6379/0"}
    settings = Settings.from_env(env, dotenv=None)
    assert settings.redis_cluster_nodes == ("10.0.0.1:7000", "10.0.0.2:7001")
    assert settings.redis_configured and settings.broker_url == "redis://broker:6379/0"
    for bad in ("10.0.0.1", "10.0.0.1:port", ":7000", "h:70000"):
        with pytest.raises(SettingsError, match="host:port"):
            Settings.from_env({**env, "REDIS_CLUSTER_NODES": bad}, dotenv=None)
    with pytest.raises(SettingsError, match="CELERY_BROKER_URL"):
        Settings.from_env({"REDIS_CLUSTER_NODES": "h:7000"}, dotenv=None)
    with pytest.raises(SettingsError, match="not both"):
        Settings.from_env({**env, "REDIS_URL": "redis://h:6379/0"}, dotenv=None)


async def test_clients_follow_the_configuration() -> None:
    cluster = connect_redis(Settings(redis_cluster_nodes=("127.0.0.1:7000",), celery_broker_url="redis://b"))
    single = connect_redis(Settings(redis_url="redis://127.0.0.1:6379/0"))
    try:
        assert isinstance(cluster, RedisCluster) and isinstance(channels_for(cluster), ClusterChannels)
        assert isinstance(single, Redis) and isinstance(channels_for(single), RedisChannels)
    finally:
        await cluster.aclose()
        await single.aclose()


def test_room_and_user_channels_are_shard_channels_and_control_is_not() -> None:
    assert is_shard_channel("andon:room:{r1}") and is_shard_channel("andon:user:{u@x}")
    assert not is_shard_channel("andon:control") and not is_shard_channel("andon:{}")


def test_celery_broker_is_the_single_redis_beside_the_cluster() -> None:
    settings = Settings(redis_cluster_nodes=("127.0.0.1:7000",), celery_broker_url="redis://broker:6380/1")
    assert create_app(settings).conf.broker_url == "redis://broker:6380/1"
    assert create_app(Settings(redis_url="redis://one:6379/0")).conf.broker_url == "redis://one:6379/0"
