"""Publishing jobs by task name through the worker's Celery app: the relay's `enqueue`.

Its own module so the runtime (which builds the relays) and `workers.relay` (which runs them in a
worker) both import it without importing each other.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
from collections.abc import Sequence

from celery import Celery

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
