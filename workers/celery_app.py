"""The Celery app of `andon worker`, built from Settings (never from the environment at import).

Choices, and why:

* **JSON only**, results ignored: tasks take ids (`api.domain.outbox.jobs`) and report through the
  database, so nothing needs pickle or a result backend.
* **acks_late + reject_on_worker_lost, prefetch 1**: a message is acknowledged after its task
  ran, so a worker that dies mid-task leaves it to be delivered again (after the broker's
  visibility timeout) and holds at most one unstarted message per thread meanwhile.
* **Queues by the first part of the task name** (`push`, `index`, `mentions`, `audit`,
  `outbox`), published to the anonymous exchange: Redis then needs no binding keys, which a
  Redis restart would lose, silently dropping every message published afterwards.
* **The broker is one Redis**, `CELERY_BROKER_URL` (default: `REDIS_URL`). kombu's Redis transport
  has no Redis Cluster support: a queue is a list plus the `unacked` hash and index, moved between
  in MULTI/EXEC and Lua across keys that a cluster would put on different shards, and it speaks to
  one connection, not a cluster client. With `REDIS_CLUSTER_NODES` the broker therefore points at a
  single Redis beside the cluster (a cluster node answers MOVED for keys of other shards), which
  holds only queued task ids: small, and its loss
  is repaired by the outbox relay and the broker watch (docs/deployment.md).
* **Keys under `ANDON_REDIS_PREFIX`** (`global_keyprefix`), so several deployments or test runs
  share one Redis without taking each other's tasks.
* **The threads pool.** Every task waits on the network (PostgreSQL, Redis, a push service), so
  threads give the concurrency without a process each; they share one asyncio loop, one
  database pool and one Redis pool (`workers.runtime`), which prefork children would each have
  to rebuild after the fork. Celery's time limits do not apply to threads; none is needed,
  because every wait a task makes is bounded on its own (the push timeout, the database pool
  and statement timeouts, bounded Redis calls). A worker killed outright loses nothing: every
  worker's heartbeat lists the messages it holds, and the broker watch beside each relay puts a
  dead worker's messages back in their queues within seconds (`workers.broker_watch`); the
  visibility timeout and the outbox relay's sweep remain the last resort.

Run with `andon worker` (see :func:`run_worker`) or `celery -A workers.celery_app worker`.
"""

from __future__ import annotations

import functools
import logging
import os
import socket
import warnings
from typing import Any
from urllib.parse import urlsplit

from celery import Celery, bootsteps
from kombu import Queue

from api.domain.core.settings import Settings, get_settings
from api.domain.outbox import jobs

log = logging.getLogger(__name__)

def broker_url(redis_url: str) -> str:
    """The Celery broker URL for a REDIS_URL; `unix:///path` becomes kombu's `redis+socket://`."""
    parts = urlsplit(redis_url)
    if parts.scheme == "unix":
        return f"redis+socket://{parts.path}" + (f"?{parts.query}" if parts.query else "")
    if parts.scheme in ("redis", "rediss", "redis+socket"):
        return redis_url
    raise ValueError(f"REDIS_URL must be redis://, rediss:// or unix://, not {parts.scheme}://")


def _route(
    name: str, args: Any, kwargs: Any, options: Any, task: Any = None, **kw: Any
) -> dict[str, str] | None:
    try:
        return {"queue": jobs.queue_of(name)}
    except ValueError:
        return None  # Not an Andon task name: Celery's own routing (the default queue) applies.


class _RelayStep(bootsteps.StartStopStep):
    """Runs the outbox relay in the worker process when it consumes the `outbox` queue."""

    requires = {"celery.worker.components:Pool"}

    def start(self, worker: Any) -> None:
        from workers.relay import start_relay
        from workers.runtime import get_runtime

        # Every worker announces what it holds, so a watch can tell its messages from a dead one's.
        get_runtime(worker.app).start_heartbeat(worker.hostname)
        consumed = set(worker.app.amqp.queues.consume_from or ())
        if "outbox" in consumed:
            start_relay(worker.app)

    def stop(self, worker: Any) -> None:
        from workers.relay import stop_relay

        stop_relay(worker.app)

    def shutdown(self, worker: Any) -> None:
        from workers.runtime import close_runtime

        close_runtime(worker.app)


def create_app(settings: Settings) -> Celery:
    """A Celery app for these settings, with every Andon task registered."""
    if not settings.broker_url:
        raise ValueError("REDIS_URL must be set (the CLI starts an embedded Redis when it is not)")
    app = Celery("andon", set_as_current=False)
    app.andon_settings = settings  # type: ignore[attr-defined]
    vt = settings.worker_visibility_timeout
    app.conf.update(
        broker_url=broker_url(settings.broker_url),
        broker_transport_options={
            "global_keyprefix": f"{settings.redis_prefix}:celery:",
            "visibility_timeout": vt,
            # How often a worker looks for messages whose worker died (older than the timeout).
            "unacked_restore_interval": max(1.0, min(10.0, vt / 4)),
            "socket_connect_timeout": 5,
            "health_check_interval": 10,
        },
        broker_connection_retry_on_startup=True,
        broker_connection_max_retries=None,
        broker_connection_timeout=5,
        task_serializer="json",
        result_serializer="json",
        accept_content=["json"],
        result_backend=None,
        task_ignore_result=True,
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        worker_prefetch_multiplier=1,
        task_queues=[Queue(name, routing_key=name) for name in jobs.QUEUES],
        task_default_queue="outbox",
        task_create_missing_queues=False,
        task_routes=(_route,),
        worker_hijack_root_logger=False,
        worker_redirect_stdouts=False,
        worker_send_task_events=False,
        task_send_sent_event=False,
        worker_cancel_long_running_tasks_on_connection_loss=False,
        enable_utc=True,
        timezone="UTC",
    )
    app.steps["worker"].add(_RelayStep)

    from workers import audit, indexing, push, push_planning, relay, urgent

    for module in (push_planning, push, indexing, audit, relay, urgent):
        module.register(app, settings)
    return app


def run_worker(
    settings: Settings, queues: str | list[str] = ",".join(jobs.QUEUES), concurrency: int = 2
) -> int:
    """Run a worker in this process until it is told to stop (SIGTERM: warm shutdown)."""
    names = [q.strip() for q in queues.split(",")] if isinstance(queues, str) else list(queues)
    names = [q for q in names if q]
    unknown = sorted(set(names) - set(jobs.QUEUES))
    if not names or unknown:
        raise SystemExit(f"unknown queue(s) {unknown or names}; choose from {', '.join(jobs.QUEUES)}")
    _quiet_known_warnings()
    app = create_app(settings)
    worker = app.Worker(
        hostname=f"andon.{os.getpid()}@{socket.gethostname()}",
        queues=names,
        concurrency=max(1, concurrency),
        pool="threads",
        loglevel=settings.log_level,
        without_gossip=True,
        without_mingle=True,
        without_heartbeat=True,
        optimization="fair",
        quiet=True,
    )
    worker.start()
    return int(worker.exitcode or 0)


def _quiet_known_warnings() -> None:
    # Celery refuses root only with pickle, which is off; its warning would repeat on every
    # start in containers that run as root, so it is said once here instead.
    from celery.exceptions import CPendingDeprecationWarning, SecurityWarning

    warnings.filterwarnings("ignore", category=SecurityWarning)
    # Repeated on every broker connection loss while cancelling is off. It stays off: a thread
    # cannot be cancelled, and a task whose ack was lost with the connection is delivered again
    # after the visibility timeout, which every task tolerates.
    warnings.filterwarnings(
        "ignore", message="(?s).*cancels all currently executed tasks", category=CPendingDeprecationWarning
    )
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        log.warning("the worker runs as root; prefer an unprivileged user")


@functools.cache
def _default_app() -> Celery:
    return create_app(get_settings())


def __getattr__(name: str) -> Any:
    # `celery -A workers.celery_app worker` looks up `app` here: built on first access from the
    # environment, never at import.
    if name in ("app", "celery"):
        return _default_app()
    raise AttributeError(name)
