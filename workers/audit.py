"""`audit.append`: append an edit or a deletion to the room's hash-chained audit log.

The entry and the record that the job is done are written in one transaction with the outbox
row locked (and `audit_log.outbox_id` is unique), so each edit or deletion is in the chain
exactly once however often the task runs.
"""

from __future__ import annotations

import random
from typing import Any

from celery import Celery

from api.domain.audit import EarlierEntryPending, append_from_outbox
from api.domain.core.settings import Settings
from api.domain.outbox import jobs
from api.domain.outbox.job_state import load_for_job, mark_job_done
from workers.runtime import WorkerRuntime, get_runtime
from workers.task_policy import task_options

# How many times an entry waits for an earlier one of its room before the sweep takes over.
ORDER_RETRIES = 60


async def append_outbox(runtime: WorkerRuntime, outbox_id: int) -> int | None:
    """Append the row's entry; its chain index, or None when done already or nothing to log."""
    async with runtime.services.db.transaction() as uow:
        row = await load_for_job(uow.conn, outbox_id, jobs.AUDIT_APPEND, lock=True)
        if row is None or row.job_done:
            return None
        index = await append_from_outbox(uow.conn, row)
        await mark_job_done(uow.conn, row, jobs.AUDIT_APPEND)
        return index


def register(app: Celery, settings: Settings) -> None:
    """Register `audit.append`."""

    @app.task(name=jobs.AUDIT_APPEND, bind=True, shared=False, **task_options(settings))
    def append(self: Any, outbox_id: int) -> int | None:
        runtime = get_runtime(self.app)
        try:
            return runtime.run(append_outbox(runtime, int(outbox_id)))
        except EarlierEntryPending:
            # The earlier change's task is queued or running: look again shortly. Bounded; after
            # that the relay's sweep brings the row back.
            raise self.retry(countdown=0.5 + random.random(), max_retries=ORDER_RETRIES) from None
