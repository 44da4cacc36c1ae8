"""Pub/sub on one Redis or on a Redis Cluster, behind one small interface.

The bus publishes and the hub reads through :class:`Channels` and its :class:`Subscriber`; neither
cares which Redis is behind them. Messages come out as redis-py's dicts: `type` ("subscribe",
"message", ...), `channel` and `data`.

* **One Redis** (REDIS_URL): PUBLISH and SUBSCRIBE.
* **Redis Cluster** (REDIS_CLUSTER_NODES): a channel whose name carries a hash tag (`{room_id}`,
  `{user_id}`) is a *shard channel*, SPUBLISH and SSUBSCRIBE: the message goes to the one shard
  that owns the channel's slot and never crosses the cluster bus, so a room's traffic touches
  one shard. A channel without a tag (the process-wide control channel) uses PUBLISH and
  SUBSCRIBE, which the cluster broadcasts to every node. redis-py's `ClusterPubSub` routes each
  shard channel to its node and follows slot moves; the subscriber here reads each node's
  connection in a task of its own, so a message on one shard never waits for a poll of another.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any, Protocol

from redis.asyncio import Redis
from redis.asyncio.cluster import RedisCluster

log = logging.getLogger(__name__)

# Back-off of a cluster node's reader after its connection failed (the client reconnects it).
READER_RETRY_SECONDS = 0.5


def is_shard_channel(channel: str) -> bool:
    """Whether `channel` names its slot with a hash tag (a shard channel on a cluster)."""
    start = channel.find("{")
    return start >= 0 and channel.find("}", start + 2) > start


class Subscriber(Protocol):
    """One process's subscriptions, read by one task."""

    async def subscribe(self, *channels: str) -> None: ...

    async def unsubscribe(self, *channels: str) -> None: ...

    async def get_message(self, wait: float) -> dict[str, Any] | None:
        """The next message or confirmation, None after `wait` seconds; raises on a lost connection."""
        ...

    async def aclose(self) -> None: ...


class Channels(Protocol):
    """Publishing, and subscribers."""

    async def publish(self, channel: str, data: bytes) -> None: ...

    def subscriber(self) -> Subscriber: ...


class RedisChannels:
    """PUBLISH and SUBSCRIBE on one Redis."""

    def __init__(self, redis: Redis) -> None:
        self.redis = redis

    async def publish(self, channel: str, data: bytes) -> None:
        await self.redis.publish(channel, data)

    def subscriber(self) -> Subscriber:
        return RedisSubscriber(self.redis)


class RedisSubscriber:
    """redis-py's PubSub, as it is."""

    def __init__(self, redis: Redis) -> None:
        self._pubsub = redis.pubsub()

    async def subscribe(self, *channels: str) -> None:
        await self._pubsub.subscribe(*channels)

    async def unsubscribe(self, *channels: str) -> None:
        await self._pubsub.unsubscribe(*channels)

    async def get_message(self, wait: float) -> dict[str, Any] | None:
        message: dict[str, Any] | None = await self._pubsub.get_message(
            ignore_subscribe_messages=False, timeout=wait
        )
        return message

    async def aclose(self) -> None:
        await self._pubsub.aclose()


class ClusterChannels:
    """SPUBLISH for shard channels and PUBLISH for the others, on a Redis Cluster."""

    def __init__(self, cluster: RedisCluster) -> None:
        self.cluster = cluster

    async def publish(self, channel: str, data: bytes) -> None:
        if is_shard_channel(channel):
            await self.cluster.spublish(channel, data)
        else:
            await self.cluster.publish(channel, data)

    def subscriber(self) -> Subscriber:
        return ClusterSubscriber(self.cluster)


# Sharded replies, named as their unsharded counterparts so the reader handles one kind.
_TYPES = {"smessage": "message", "ssubscribe": "subscribe", "sunsubscribe": "unsubscribe"}


class ClusterSubscriber:
    """Shard channels on the node owning each, the others on one node; a reader task per connection.

    The readers put what they read on one queue that :meth:`get_message` takes from. A reader whose
    connection fails puts the error there too (the hub then checks every room's tail, as after
    a reconnect of a single Redis) and reads again after a short back-off.
    """

    def __init__(self, cluster: RedisCluster) -> None:
        self.cluster = cluster
        self._pubsub = cluster.pubsub()
        self._queue: asyncio.Queue[dict[str, Any] | Exception] = asyncio.Queue()
        self._node_readers: dict[str, asyncio.Task[None]] = {}
        self._plain_reader: asyncio.Task[None] | None = None

    async def subscribe(self, *channels: str) -> None:
        shard = [c for c in channels if is_shard_channel(c)]
        plain = [c for c in channels if not is_shard_channel(c)]
        if shard:
            await self._pubsub.ssubscribe(*shard)
            self._start_node_readers()
        if plain:
            await self._pubsub.subscribe(*plain)
            if self._plain_reader is None:
                self._plain_reader = asyncio.create_task(self._read_plain(), name="pubsub-plain")

    async def unsubscribe(self, *channels: str) -> None:
        shard = [c for c in channels if is_shard_channel(c)]
        plain = [c for c in channels if not is_shard_channel(c)]
        if shard:
            await self._pubsub.sunsubscribe(*shard)
        if plain:
            await self._pubsub.unsubscribe(*plain)

    async def get_message(self, wait: float) -> dict[str, Any] | None:
        try:
            async with asyncio.timeout(wait):
                item = await self._queue.get()
        except TimeoutError:
            return None
        if isinstance(item, Exception):
            raise item
        return item

    async def aclose(self) -> None:
        readers = [*self._node_readers.values(), self._plain_reader]
        for task in readers:
            if task is not None:
                task.cancel()
        for task in readers:
            if task is not None:
                with contextlib.suppress(BaseException):  # cancelled on purpose just above
                    await task
        self._node_readers.clear()
        self._plain_reader = None
        await self._pubsub.aclose()

    def _start_node_readers(self, skip: str | None = None) -> None:
        """A reader for every node that holds shard subscriptions and has none yet."""
        for name in list(self._pubsub.node_pubsub_mapping):
            if name == skip:
                continue
            task = self._node_readers.get(name)
            if task is None or task.done():
                self._node_readers[name] = asyncio.create_task(self._read_node(name), name=f"pubsub-{name}")

    def _put(self, message: dict[str, Any] | None) -> None:
        if message is None:
            return
        kind = message.get("type")
        if isinstance(kind, bytes):
            kind = kind.decode()
        self._queue.put_nowait({**message, "type": _TYPES.get(str(kind), kind)})

    async def _read_node(self, name: str) -> None:
        """Read one node's shard connection, blocking (no lock: subscribing meanwhile is not held up)."""
        while name in self._pubsub.node_pubsub_mapping:
            node = self.cluster.get_node(node_name=name)
            pubsub = self._pubsub.node_pubsub_mapping.get(name)
            if node is None or pubsub is None or pubsub.connection is None:
                break  # dropped (its channels moved): the next subscribe starts who reads them
            try:
                self._put(await self._pubsub.get_sharded_message(timeout=None, target_node=node))
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                self._queue.put_nowait(exc)
                await asyncio.sleep(READER_RETRY_SECONDS)
        self._node_readers.pop(name, None)
        self._start_node_readers(skip=name)

    async def _read_plain(self) -> None:
        while True:
            try:
                self._put(await self._pubsub.get_message(ignore_subscribe_messages=False, timeout=1.0))
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                self._queue.put_nowait(exc)
                await asyncio.sleep(READER_RETRY_SECONDS)


def channels_for(redis: Redis | RedisCluster) -> Channels:
    """The pub/sub of `redis`: sharded on a cluster client, plain on one Redis."""
    if isinstance(redis, RedisCluster):
        return ClusterChannels(redis)
    return RedisChannels(redis)
