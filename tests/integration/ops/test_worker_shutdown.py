"""`andon worker` stops on SIGTERM (Celery's warm shutdown) within the compose stop grace period."""

from __future__ import annotations

import os
import signal
import time
import uuid

from tests.conftest import admin_url
from tests.support.workers import fresh_database, start_worker

STOP_BOUND = 30.0  # compose: the worker's stop_grace_period is 60 s, the api's 30 s


def test_worker_exits_on_sigterm_within_its_bound(base_env: dict[str, str]) -> None:
    # Its own database and Redis prefix: it must not take other tests' outbox rows or tasks.
    with fresh_database(admin_url()) as url:
        env = {
            **base_env,
            "DATABASE_URL": url,
            "ANDON_REDIS_PREFIX": f"andonstop{uuid.uuid4().hex[:8]}",
            "DB_POOL_SIZE": "2",
            "DB_MAX_OVERFLOW": "2",
        }
        worker = start_worker(env, concurrency=2)
        try:
            started = time.monotonic()
            os.killpg(worker.pid, signal.SIGTERM)
            worker.proc.wait(STOP_BOUND)
            assert time.monotonic() - started < STOP_BOUND
            assert worker.proc.returncode == 0, worker.log()[-3000:]
        finally:
            worker.stop()
