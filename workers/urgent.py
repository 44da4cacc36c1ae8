"""`push.urgent_page`: one round of an urgent page (docs/alerts.md).

The relay publishes a page when its `next_at` has come, with the number of rounds it had sent
then. The task locks the page, and when that round is still the one due it plans the round's
pushes (one per subscription of the paged user) and schedules the next round, in one
transaction (`api.domain.push.urgent_rounds.run_round`). A repeated or stale copy of the task finds
another round count, or the page done, and does nothing. After commit it queues the pushes and
publishes the in-app `urgent_page` frame to the user's sockets (room sockets and `/ws`).
"""

from __future__ import annotations

import logging
from typing import Any

from celery import Celery

from api.domain.core.settings import Settings
from api.domain.outbox import jobs
from api.domain.push.urgent_rounds import Round, run_round
from workers.runtime import WorkerRuntime, get_runtime
from workers.task_policy import task_options

log = logging.getLogger(__name__)


async def page_round(runtime: WorkerRuntime, page_id: int, published_round: int) -> Round | None:
    async with runtime.services.db.transaction() as uow:
        return await run_round(uow.conn, page_id, published_round, runtime.settings)


async def after_round(runtime: WorkerRuntime, done: Round) -> None:
    relay = runtime.task_relay
    while await relay.relay_deliveries() >= relay.batch:
        pass
    if done.escalated_to:
        # The escalation's first round is due now.
        log.info("urgent page escalated to %s member(s)", len(done.escalated_to))
        await relay.relay_pages()
    try:
        await runtime.services.bus.publish_user(done.user_id, done.frame, room_id=done.room_id)
    except Exception as exc:
        # The push is planned; only the in-app alert of this round is lost.
        log.warning("urgent page frame publish failed (%s)", type(exc).__name__)


def register(app: Celery, settings: Settings) -> None:
    """Register `push.urgent_page`."""

    @app.task(name=jobs.URGENT_PAGE, bind=True, shared=False, **task_options(settings))
    def urgent_page(self: Any, page_id: int, published_round: int) -> bool:
        runtime = get_runtime(self.app)
        done = runtime.run(page_round(runtime, int(page_id), int(published_round)))
        if done is None:
            return False
        runtime.run(after_round(runtime, done))
        return True
