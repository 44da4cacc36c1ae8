"""`mentions.notify_messages`: decide who is pushed for new messages and plan the pushes.

The task keeps its historical name (queued messages and the `mentions` queue use it), but it
plans every push, not only mentions. The mention frames themselves went out live from the send
path right after commit; this job is what reaches users who are not looking: for an outbox row
`messages.created` it applies the rules of `api.domain.push.planning`, writes one
`push_deliveries` row per (message, subscription) and records the job as done, all in one
transaction with the outbox row locked, so a rerun plans nothing twice. Then it queues the
sends; if it dies before that, the relay's sweep queues them instead.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Sequence
from typing import Any

from celery import Celery

from api.domain.core.settings import Settings
from api.domain.outbox import jobs
from api.domain.outbox.job_state import load_for_job, mark_job_done
from api.domain.push.planning import plan_deliveries, plan_recipients
from api.domain.push.urgent_rounds import plan_pages
from workers.runtime import WorkerRuntime, get_runtime
from workers.task_policy import task_options

log = logging.getLogger(__name__)


async def notify_messages(runtime: WorkerRuntime, outbox_id: int) -> int | None:
    """Plan the pushes of one `messages.created` row; None when it was done already."""
    async with runtime.services.db.transaction() as uow:
        row = await load_for_job(uow.conn, outbox_id, jobs.NOTIFY_MESSAGES, lock=True)
        if row is None or row.job_done:
            return None
        room_id = uuid.UUID(str(row.payload["room_id"]))
        message_ids = [str(m) for m in row.payload.get("message_ids") or ()]
        recipients = await plan_recipients(uow.conn, room_id, message_ids, runtime.presence.focused_among)
        # Urgent messages page their recipients instead (round 1 at once, then repeats): no
        # second, ordinary push to the same person for the same message.
        paged = await plan_pages(uow.conn, runtime.settings, room_id, message_ids)
        if paged:
            recipients = [r for r in recipients if (str(r.message_id), r.user_id) not in paged]
        await plan_deliveries(uow.conn, row.outbox_id, recipients)
        await mark_job_done(uow.conn, row, jobs.NOTIFY_MESSAGES)
        return len(recipients)


async def queue_planned(runtime: WorkerRuntime, outbox_ids: Sequence[int]) -> int:
    """Queue the rows' planned pushes that are not queued yet."""
    queued = 0
    while True:
        batch = await runtime.task_relay.relay_deliveries(outbox_ids)
        queued += batch
        if batch < runtime.task_relay.batch:
            return queued


def register(app: Celery, settings: Settings) -> None:
    """Register `mentions.notify_messages`."""

    @app.task(name=jobs.NOTIFY_MESSAGES, bind=True, shared=False, **task_options(settings))
    def notify(self: Any, *outbox_ids: int) -> int:
        runtime = get_runtime(self.app)
        ids = [int(i) for i in outbox_ids]
        for outbox_id in ids:
            # One transaction per row, each with its row locked (see notify_messages).
            planned = runtime.run(notify_messages(runtime, outbox_id))
            if planned is not None:
                log.debug("outbox %s: %s recipients", outbox_id, planned)
        # Also after a rerun: the first run may have died between its commits and this.
        queued = runtime.run(queue_planned(runtime, ids))
        # Urgent pages planned just now are due at once: publish their first round now rather
        # than at the relay's next pass.
        runtime.run(runtime.task_relay.relay_pages())
        return queued
