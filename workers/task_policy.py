"""How tasks retry: bounded, exponential, jittered, and never past the broker's visibility timeout.

Its own module so the task modules and the Celery app both import it without importing each other.
"""

from __future__ import annotations

from typing import Any

from api.domain.core.settings import Settings

# Celery-level retries of a task that raised (the database or Redis unreachable, say): bounded,
# exponential, jittered. The outbox sweep takes over after the last one.
MAX_RETRIES = 8
RETRY_BACKOFF_MAX = 300.0


def retry_backoff_max(settings: Settings) -> float:
    """The longest retry countdown: a retry held longer than half the visibility timeout would be
    handed to a second worker while the first still waits to run it."""
    return max(1.0, min(RETRY_BACKOFF_MAX, settings.worker_visibility_timeout / 2))


def task_options(settings: Settings) -> dict[str, Any]:
    """Retry options for tasks whose failures are exceptions (a store unreachable, say)."""
    return {
        "autoretry_for": (Exception,),
        "retry_backoff": 2,
        "retry_backoff_max": int(retry_backoff_max(settings)),
        "retry_jitter": True,
        "max_retries": MAX_RETRIES,
    }
