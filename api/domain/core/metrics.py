"""Prometheus metrics: the metric objects, per-process sampling, and the scrape.

Framework-free, so the workers can import it too (`PUSH_RESULTS`). Observations on the hot path
are one counter increment or one histogram observation, never I/O.

Several server processes (`andon serve --workers N`) each have their own metric values. They are
aggregated with prometheus_client's multiprocess mode: `andon serve` points
`PROMETHEUS_MULTIPROC_DIR` at a fresh directory before any process imports prometheus_client,
every process writes its values to memory-mapped files there, and a scrape, whichever process
answers it, merges all of them. Counters and histograms of exited processes stay in the sum (a
counter must not go backwards); gauges are "live" ones, from running processes only.

Values that are the same whichever process reads them (outbox lag, Celery queue lengths) are
read from PostgreSQL and Redis at scrape time, with a short timeout.
"""

from __future__ import annotations

import asyncio
import contextlib
import glob
import logging
import os
from collections.abc import Iterable, Sequence
from typing import Any

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    values,
)
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.multiprocess import MultiProcessCollector, mark_process_dead
from redis.asyncio import Redis
from sqlalchemy import text

from api.domain.core.db import Database
from api.domain.core.procs import pid_alive

log = logging.getLogger(__name__)

CONTENT_TYPE = CONTENT_TYPE_LATEST

SCRAPE_TIMEOUT = 1.0

_LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)

# ---------------------------------------------------------------------------- observed where it happens

MESSAGES_PERSISTED = Counter(
    "andon_messages_persisted", "Chat messages committed to PostgreSQL (rate() gives messages/s)"
)
REPLICA_READS = Counter(
    "andon_replica_reads", "Reads routed by DATABASE_REPLICA_URL, by the server that served them", ["server"]
)
MESSAGE_BATCHES = Counter("andon_message_batches", "Group-commit transactions that stored messages")
BATCH_SECONDS = Histogram(
    "andon_message_batch_seconds",
    "One group commit: from taking the batch to its transaction committed",
    buckets=_LATENCY_BUCKETS,
)
ACK_LATENCY = Histogram(
    "andon_ack_latency_seconds",
    "From a message frame received to its ack queued on the sender's socket",
    buckets=_LATENCY_BUCKETS,
)
FANOUT_LATENCY = Histogram(
    "andon_fanout_latency_seconds",
    "From a batch's commit to its frames queued on this process's sockets (wall clocks of two processes)",
    buckets=_LATENCY_BUCKETS,
)
PUSH_RESULTS = Counter(
    "andon_push_results",
    "Web Push sends by outcome (for example delivered, gone, retry, failed)",
    ["outcome"],
)

# ---------------------------------------------------------------------------- sampled per process

OPEN_CONNECTIONS = Gauge("andon_ws_connections", "Open WebSocket connections", multiprocess_mode="livesum")
SEND_QUEUE_FRAMES = Gauge(
    "andon_ws_send_queue_frames",
    "Frames waiting in the sockets' outgoing queues, summed over sockets",
    multiprocess_mode="livesum",
)
SEND_QUEUE_MAX = Gauge(
    "andon_ws_send_queue_max_frames",
    "The longest outgoing queue of any one socket",
    multiprocess_mode="livemax",
)
EVENT_LOOP_TASKS = Gauge(
    "andon_event_loop_tasks",
    "asyncio tasks alive in the process (an idle, parked WebSocket holds none)",
    multiprocess_mode="livesum",
)
DB_POOL_CHECKED_OUT = Gauge(
    "andon_db_pool_checked_out", "Database connections in use", multiprocess_mode="livesum"
)
DB_POOL_SIZE = Gauge("andon_db_pool_size", "Configured pool size (DB_POOL_SIZE)", multiprocess_mode="livesum")
DB_POOL_OVERFLOW = Gauge(
    "andon_db_pool_overflow", "Connections open beyond the pool size", multiprocess_mode="livesum"
)
DB_POOL_CAPACITY = Gauge(
    "andon_db_pool_capacity",
    "Most connections the pools may open (DB_POOL_SIZE + DB_MAX_OVERFLOW)",
    multiprocess_mode="livesum",
)


def sample_process(queue_lengths: Sequence[int], pool: Any, pool_capacity: int) -> None:
    """Set this process's gauges from its sockets' queue lengths, its event loop and its connection pool."""
    OPEN_CONNECTIONS.set(len(queue_lengths))
    SEND_QUEUE_FRAMES.set(sum(queue_lengths))
    SEND_QUEUE_MAX.set(max(queue_lengths, default=0))
    with contextlib.suppress(RuntimeError):  # called outside a running loop: nothing to count
        EVENT_LOOP_TASKS.set(len(asyncio.all_tasks()))
    checkedout = getattr(pool, "checkedout", None)
    size = getattr(pool, "size", None)
    overflow = getattr(pool, "overflow", None)
    if callable(checkedout) and callable(size) and callable(overflow):
        DB_POOL_CHECKED_OUT.set(checkedout())
        DB_POOL_SIZE.set(size())
        # QueuePool counts overflow from -size upwards; below zero means "within the pool".
        DB_POOL_OVERFLOW.set(max(0, overflow()))
        DB_POOL_CAPACITY.set(pool_capacity)


# How often each process sets its own gauges (a scrape of /metrics samples the scraped process
# at once, so only the other processes' gauges are this old). A sample walks every socket's
# queue: every second, that walk was ~6 % of an idle server's CPU at 19,000 sockets.
PROCESS_SAMPLE_SECONDS = 5.0


async def sample_forever(sample: Any, interval: float = PROCESS_SAMPLE_SECONDS) -> None:
    """Call `sample()` every `interval` seconds (gauges of other processes stay this fresh)."""
    failing: str | None = None
    while True:
        try:
            sample()
            failing = None
        except Exception as exc:
            # Each interval: say it once per kind of failure, not every time. The gauges keep
            # their last values meanwhile.
            if type(exc).__name__ != failing:
                failing = type(exc).__name__
                log.warning("sampling the process metrics failed", exc_info=True)
        await asyncio.sleep(interval)


def retire_process(pid: int | None = None) -> None:
    """Drop this (or an exited) process's live gauges from the aggregate."""
    path = multiprocess_dir()
    if path is not None:
        mark_process_dead(pid if pid is not None else os.getpid(), path)


# ---------------------------------------------------------------------------- the scrape


def multiprocess_dir() -> str | None:
    """The directory shared by this server's processes, when multiprocess mode is on."""
    if not getattr(values.ValueClass, "_multiprocess", False):
        return None
    path = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    return path if path and os.path.isdir(path) else None


def _prune_dead(path: str) -> None:
    """A process that crashed left its live gauges behind: drop them."""
    pids: set[int] = set()
    for name in glob.glob(os.path.join(path, "gauge_live*_*.db")):
        stem = os.path.basename(name)[: -len(".db")]
        with contextlib.suppress(ValueError):
            pids.add(int(stem.rsplit("_", 1)[1]))
    for pid in pids:
        if not pid_alive(pid):
            mark_process_dead(pid, path)


def broker_queue_key(redis_prefix: str, queue: str) -> str:
    """The Redis list holding a Celery queue's messages: the workers' broker keeps its keys under
    `<ANDON_REDIS_PREFIX>:celery:` (kombu's `global_keyprefix`, see workers.celery_app)."""
    return f"{redis_prefix}:celery:{queue}"


async def read_shared(
    db: Database,
    redis: Redis,
    redis_prefix: str,
    queues: Sequence[str],
    timeout: float = SCRAPE_TIMEOUT,  # noqa: ASYNC109
) -> list[Metric]:
    """Scrape-time values that do not depend on the process: outbox lag and Celery queue lengths.

    `queues` names the Celery queues to measure (`api.domain.outbox.jobs.QUEUES`: passed in, so this
    module stays below every context). Each source is bounded by `timeout`; a source that does not
    answer is reported as `andon_metrics_source_up{source} 0` rather than failing the scrape.
    """
    up = GaugeMetricFamily(
        "andon_metrics_source_up", "Whether a scrape-time source answered in time", labels=["source"]
    )
    families: list[Metric] = []
    for source, read in (
        ("database", lambda: _outbox_lag(db, timeout)),
        ("redis", lambda: _queue_lengths(redis, redis_prefix, queues, timeout)),
    ):
        try:
            families.extend(await read())
            up.add_metric([source], 1)
        except Exception as exc:
            log.warning("metrics scrape: %s did not answer (%s)", source, type(exc).__name__)
            up.add_metric([source], 0)
    families.append(up)
    return families


async def _outbox_lag(db: Database, timeout: float) -> list[Metric]:  # noqa: ASYNC109
    async with asyncio.timeout(timeout):
        async with db.read() as conn:
            await conn.execute(text(f"SET LOCAL statement_timeout = {int(timeout * 1000)}"))
            row = (
                await conn.execute(
                    text(
                        "SELECT (SELECT EXTRACT(EPOCH FROM now() - created_at) FROM outbox "
                        "WHERE done_at IS NULL ORDER BY outbox_id LIMIT 1) AS age, "
                        "(SELECT count(*) FROM outbox WHERE done_at IS NULL) AS pending"
                    )
                )
            ).one()
    return [
        GaugeMetricFamily(
            "andon_outbox_lag_seconds",
            "Age of the oldest outbox row whose side effects have not all run (0 when none)",
            value=max(0.0, float(row.age)) if row.age is not None else 0.0,
        ),
        GaugeMetricFamily("andon_outbox_pending_rows", "Outbox rows not done yet", value=int(row.pending)),
    ]


async def _queue_lengths(
    redis: Redis, redis_prefix: str, queues: Sequence[str], timeout: float  # noqa: ASYNC109
) -> list[Metric]:
    async with asyncio.timeout(timeout):
        pipe = redis.pipeline(transaction=False)
        for queue in queues:
            pipe.llen(broker_queue_key(redis_prefix, queue))
        lengths = await pipe.execute()
    family = GaugeMetricFamily(
        "andon_celery_queue_length",
        "Tasks waiting in a Celery queue (broker list length)",
        labels=["queue"],
    )
    for queue, length in zip(queues, lengths, strict=True):
        family.add_metric([queue], int(length))
    return [family]


class _Fixed:
    def __init__(self, families: Sequence[Metric]) -> None:
        self._families = families

    def collect(self) -> Iterable[Metric]:
        return iter(self._families)


def render(shared: Sequence[Metric]) -> bytes:
    """The exposition text: every process's metrics (merged in multiprocess mode) plus `shared`."""
    path = multiprocess_dir()
    if path is not None:
        _prune_dead(path)
        registry = CollectorRegistry()
        MultiProcessCollector(registry, path=path)
        body = generate_latest(registry)
    else:
        body = generate_latest(REGISTRY)
    extra = CollectorRegistry()
    extra.register(_Fixed(shared))
    return body + generate_latest(extra)
