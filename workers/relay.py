"""The outbox relay's Celery side: publishing jobs by name, and running the relay in the worker.

The relay itself (`api.domain.outbox.relay`) is framework-free; this module gives it an
`enqueue` that publishes through the worker's Celery app, starts it in every worker process that
consumes the `outbox` queue (see `workers.celery_app`), and registers `outbox.drain`, a task
that drains the outbox once (for `celery call`, beat, or a worker started without the relay).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
from collections.abc import Sequence
from typing import Any

from celery import Celery

from api.domain.core.settings import Settings
from api.domain.outbox import jobs
from api.domain.outbox.relay import Enqueue

# Publishing is retried briefly and then fails: the relay rolls its claim back and tries the
# whole batch again later, rather than blocking while Redis is away.
PUBLISH_RETRY_POLICY = {"max_retries": 2, "interval_start": 0.1, "interval_step": 0.2, "interval_max": 0.5}


def publish(app: Celery, batch: Sequence[jobs.Job]) -> None:
    """Publish jobs by task name over one producer connection (blocking)."""
    with app.producer_or_acquire() as producer:
        for job in batch:
            app.send_task(
                job.name,
                args=list(job.args),
                queue=job.queue,
                producer=producer,
                retry=True,
                retry_policy=PUBLISH_RETRY_POLICY,
                ignore_result=True,
            )


def celery_enqueue(app: Celery, executor: concurrent.futures.Executor | None = None) -> Enqueue:
    """An `enqueue` that publishes in `executor` (the loop's default one if None), off the loop."""

    async def enqueue(batch: Sequence[jobs.Job]) -> None:
        await asyncio.get_running_loop().run_in_executor(executor, publish, app, list(batch))

    return enqueue


def start_relay(app: Celery) -> None:
    """Run the relay in this worker process (from the worker's start-up step)."""
    from workers.runtime import get_runtime

    get_runtime(app).start_relay()


def stop_relay(app: Celery) -> None:
    """Stop this process's relay, if it runs."""
    runtime = getattr(app, "andon_runtime", None)
    if runtime is not None:
        runtime.stop_relay()


def register(app: Celery, settings: Settings) -> None:
    """Register `outbox.drain`."""
    from workers.runtime import get_runtime

    @app.task(name=jobs.OUTBOX_DRAIN, bind=True, shared=False, max_retries=0)
    def drain(self: Any) -> int:
        """Queue every due outbox row and push delivery now; returns how many jobs."""
        return get_runtime(self.app).run(get_runtime(self.app).relay.drain())
