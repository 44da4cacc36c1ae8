"""Finding queue messages the broker lost or a dead worker holds, in seconds rather than minutes.

Celery on Redis keeps a queue as a Redis list and, with `acks_late`, a message a worker has taken
in the `unacked` hash until the task finished. Two faults strand work there:

* **Redis restarts without persistence.** Every queue and the `unacked` hash are gone, and the
  outbox rows they stood for look "enqueued" to the relay until `OUTBOX_STALE_SECONDS` pass.
  The watch keeps an *epoch* key in Redis; when it is missing, Redis lost its data, and the
  watch that puts a new one there asks the relay to publish every unfinished row again
  (:meth:`api.domain.outbox.relay.OutboxRelay.forget_enqueued`).
* **A worker dies (SIGKILL, OOM, power).** Its messages stay in `unacked` until the broker's
  visibility timeout (`WORKER_VISIBILITY_TIMEOUT`, 15 minutes by default). Every worker writes a
  heartbeat key every :data:`HEARTBEAT_SECONDS`, listing the delivery tags it holds (running,
  waiting for a thread, or waiting for a countdown); the key lives :data:`HEARTBEAT_TTL` seconds.
  A message in `unacked` for longer than :data:`ORPHAN_GRACE` that no live heartbeat lists,
  although every live heartbeat was written after the message was taken, belongs to a dead
  worker: the watch puts it back at the head of its queue, exactly as kombu's
  own restore does (in a WATCH/MULTI transaction, so two watches never restore it twice).

Work still in flight is never duplicated by this: a message held by a live worker is listed in
its next heartbeat, and until then the message is younger than that worker's last beat. Only a
worker whose heartbeat lapses longer than the TTL while it runs (a frozen process) is taken for
dead and can see its messages restored under it; tasks are idempotent (done_jobs, row locks,
delivery claims), so that costs a repeated no-op. The times compared are the workers' clocks
(kombu's visibility timeout assumes synchronised clocks too).
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import KW_ONLY, dataclass
from typing import Any

from redis.asyncio import Redis
from redis.exceptions import WatchError

log = logging.getLogger(__name__)

HEARTBEAT_SECONDS = 1.0
# Several missed beats before a worker counts as dead: a busy host delays a beat, not five.
HEARTBEAT_TTL = 6.0
# An `unacked` entry younger than this may belong to a worker that has not yet listed it.
ORPHAN_GRACE = 3.0 * HEARTBEAT_SECONDS
# How often a watch looks (it runs beside the relay of every worker consuming `outbox`).
WATCH_SECONDS = 1.0

# kombu's Redis transport: priority sub-queues are "<queue>\x06\x16<step>" for these steps.
_PRIORITY_SEP = "\x06\x16"
_PRIORITY_STEPS = (0, 3, 6, 9)


def epoch_key(prefix: str) -> str:
    return f"{prefix}:outbox:epoch"


def workers_key(prefix: str) -> str:
    """The set of worker names that have beaten at least once since Redis last started."""
    return f"{prefix}:workers"


def heartbeat_key(prefix: str, node: str) -> str:
    return f"{prefix}:worker:{node}"


def celery_key(prefix: str, name: str) -> str:
    """A key of Celery's broker (the app sets `global_keyprefix` to `{prefix}:celery:`)."""
    return f"{prefix}:celery:{name}"


def held_delivery_tags(requests: Any) -> list[str]:
    """The delivery tags of the requests Celery's worker state holds (`celery.worker.state.requests`).

    Read from another thread than the one changing the dict, so a copy may fail half-way: try again.
    """
    for _ in range(5):
        try:
            held = list(requests.values())
            break
        except RuntimeError:
            continue
    else:
        held = []
    tags: list[str] = []
    for request in held:
        tag = getattr(getattr(request, "message", None), "delivery_tag", None)
        if tag is not None:
            tags.append(str(tag))
    return tags


async def _every(interval: float, step: Callable[[], Awaitable[Any]], what: str) -> None:
    """Run `step` every `interval` seconds forever (cancel to stop). A failure (Redis away) is
    logged once, until a step succeeds again, and retried at the next interval."""
    warned = False
    while True:
        try:
            await step()
            warned = False
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            if not warned:
                log.warning("%s failed (%s); retrying", what, type(exc).__name__)
                warned = True
        await asyncio.sleep(interval)


@dataclass(eq=False)
class Heartbeat:
    """Writes this worker's heartbeat (its held delivery tags) every `interval` seconds."""

    redis: Redis
    prefix: str
    node: str
    held: Callable[[], list[str]]
    _: KW_ONLY
    interval: float = HEARTBEAT_SECONDS
    ttl: float = HEARTBEAT_TTL

    async def beat(self) -> None:
        """One beat: the held tags under this worker's key, and its name in the workers set."""
        # The time says which messages the list can vouch for: those taken before it was made.
        body = json.dumps({"tags": self.held(), "at": time.time()})
        async with asyncio.timeout(max(1.0, self.interval * 2)):
            pipe = self.redis.pipeline(transaction=False)
            pipe.set(heartbeat_key(self.prefix, self.node), body, px=int(self.ttl * 1000))
            pipe.sadd(workers_key(self.prefix), self.node)
            await pipe.execute()

    async def run(self) -> None:
        """Beat forever (cancel to stop); failures (Redis away) are retried on the next beat."""
        await _every(self.interval, self.beat, "worker heartbeat")

    async def stop(self) -> None:
        """Remove the heartbeat at a clean shutdown (kombu restores what the worker held)."""
        try:
            async with asyncio.timeout(2.0):
                pipe = self.redis.pipeline(transaction=False)
                pipe.delete(heartbeat_key(self.prefix, self.node))
                pipe.srem(workers_key(self.prefix), self.node)
                await pipe.execute()
        except Exception as exc:
            log.info("worker heartbeat not removed at shutdown (%s)", type(exc).__name__)


def _queue_key(prefix: str, routing_key: str, payload: dict[str, Any]) -> str:
    try:
        priority = max(0, min(9, int(payload["properties"]["priority"])))
    except (TypeError, ValueError, KeyError):
        priority = 0
    step = max(s for s in _PRIORITY_STEPS if s <= priority)
    queue = celery_key(prefix, routing_key)
    return f"{queue}{_PRIORITY_SEP}{step}" if step else queue


@dataclass(eq=False)
class BrokerWatch:
    """Notices a broker that lost its data and messages held by dead workers (module notes)."""

    redis: Redis
    prefix: str
    forget_enqueued: Callable[[], Awaitable[Any]]
    _: KW_ONLY
    grace: float = ORPHAN_GRACE
    clock: Callable[[], float] = time.time

    async def check_epoch(self) -> bool:
        """True when Redis had lost its data and this watch had the relay re-publish everything."""
        key = epoch_key(self.prefix)
        if await self.redis.exists(key):
            return False
        # Only the watch whose SET NX wins resets the outbox; the others see the new epoch.
        if not await self.redis.set(key, uuid.uuid4().hex, nx=True):
            return False
        try:
            rows, deliveries = await self.forget_enqueued()
        except BaseException:
            # The reset did not happen: let the next pass (here or elsewhere) try again.
            await self.redis.delete(key)
            raise
        if rows or deliveries:
            log.warning(
                "the broker lost its queues (Redis restarted empty): %s outbox rows and %s pushes "
                "published again",
                rows,
                deliveries,
            )
        return True

    async def live_tags(self) -> tuple[set[str], float]:
        """Delivery tags listed by the live workers' heartbeats, and the time of the oldest of those
        heartbeats (a message taken after it may be held unlisted); forgets dead workers' names."""
        names = [
            n.decode() if isinstance(n, bytes) else str(n)
            for n in await self.redis.smembers(workers_key(self.prefix))
        ]
        if not names:
            return set(), float("inf")
        bodies = await self.redis.mget([heartbeat_key(self.prefix, n) for n in names])
        tags: set[str] = set()
        oldest = float("inf")
        dead: list[str] = []
        for name, body in zip(names, bodies, strict=True):
            if body is None:
                dead.append(name)
                continue
            try:
                beat = json.loads(body)
                tags.update(str(t) for t in beat.get("tags", ()))
                oldest = min(oldest, float(beat.get("at", 0.0)))
            except (ValueError, AttributeError, TypeError):
                log.warning("unreadable heartbeat of worker %s", name)
                oldest = 0.0
        if dead:
            await self.redis.srem(workers_key(self.prefix), *dead)
        return tags, oldest

    async def restore_orphans(self) -> int:
        """Put back in their queues the messages no live worker holds; returns how many."""
        index = celery_key(self.prefix, "unacked_index")
        old: list[Any] = await self.redis.zrangebyscore(
            index, "-inf", self.clock() - self.grace, withscores=True
        )
        if not old:
            return 0
        held, oldest_beat = await self.live_tags()
        restored = 0
        for raw_tag, taken_at in old:
            tag = raw_tag.decode() if isinstance(raw_tag, bytes) else str(raw_tag)
            if tag in held or float(taken_at) + HEARTBEAT_SECONDS >= oldest_beat:
                # Listed, or taken after some live worker's last beat (a stalled beat must not
                # let a message that worker may hold pass for an orphan).
                continue
            if await self._restore(tag):
                restored += 1
        if restored:
            log.warning("%s queue messages of a worker that died were put back in their queues", restored)
        return restored

    async def _restore(self, tag: str) -> bool:
        unacked = celery_key(self.prefix, "unacked")
        index = celery_key(self.prefix, "unacked_index")
        async with self.redis.pipeline(transaction=True) as pipe:
            try:
                await pipe.watch(unacked)
                raw = await pipe.hget(unacked, tag)
                pipe.multi()
                pipe.zrem(index, tag)
                pipe.hdel(unacked, tag)
                if raw is not None:
                    message, _exchange, routing_key = json.loads(raw)
                    try:
                        message["headers"]["redelivered"] = True
                        message["properties"]["delivery_info"]["redelivered"] = True
                    except (KeyError, TypeError):
                        pass
                    # The right end is where kombu's BRPOP takes from: it is served next.
                    pipe.rpush(_queue_key(self.prefix, routing_key, message), json.dumps(message))
                await pipe.execute()
            except WatchError:
                return False  # Acked or restored meanwhile.
            return raw is not None

    async def check(self) -> None:
        """One look: the epoch, then the orphans."""
        await self.check_epoch()
        await self.restore_orphans()

    async def run(self, interval: float = WATCH_SECONDS) -> None:
        """Look every `interval` seconds forever (cancel to stop); failures are retried."""
        await _every(interval, self.check, "broker watch")
