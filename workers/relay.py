"""The outbox relay's Celery side: running the relay in the worker, and the `outbox.drain` task.

The relay itself (`api.domain.outbox.relay`) is framework-free and publishes through the
`enqueue` of `workers.publish`; this module starts it in every worker process that consumes the
`outbox` queue (see `workers.celery_app`), and registers `outbox.drain`, a task that drains the
outbox once (for `celery call`, beat, or a worker started without the relay).
"""

from __future__ import annotations

from typing import Any

from celery import Celery

from api.domain.core.settings import Settings
from api.domain.outbox import jobs
from workers.runtime import get_runtime


def start_relay(app: Celery) -> None:
    """Run the relay in this worker process (from the worker's start-up step)."""
    get_runtime(app).start_relay()


def stop_relay(app: Celery) -> None:
    """Stop this process's relay, if it runs."""
    runtime = getattr(app, "andon_runtime", None)
    if runtime is not None:
        runtime.stop_relay()


def register(app: Celery, settings: Settings) -> None:
    """Register `outbox.drain`."""

    @app.task(name=jobs.OUTBOX_DRAIN, bind=True, shared=False, max_retries=0)
    def drain(self: Any) -> int:
        """Queue every due outbox row and push delivery now; returns how many jobs."""
        return get_runtime(self.app).run(get_runtime(self.app).relay.drain())
