"""`index.messages`: bring the search index in line with the messages of an outbox row.

One task serves creation, edits and deletions alike: it reads each message as it is now and
indexes it, or removes it when it is deleted (or gone with its room). Documents carry
`updated_at` as their version and the backend never lets a lower version replace a higher one
or revive a removed message, so reruns and out-of-order tasks cannot make the index older.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

from celery import Celery
from sqlalchemy import text

from api.domain.core.settings import Settings
from api.domain.outbox import jobs
from api.domain.outbox.job_state import load_many_for_job, mark_job_done
from search.base import SearchDocument
from search.documents import document_from_message
from workers.runtime import WorkerRuntime, get_runtime
from workers.task_policy import task_options

_MESSAGES = text(
    """
    SELECT m.message_id, m.room_id, m.sender_id, m.message_type, m.content, m.data, m.created_at,
           m.edited_at, m.updated_at, m.deleted_at, m.sequence_number, u.display_name AS sender_display_name
    FROM messages m LEFT JOIN tr_users u ON u.user_id = m.sender_id
    WHERE m.message_id = ANY(CAST(:ids AS uuid[]))
    """
)


def message_ids_of(payload: dict[str, Any]) -> list[str]:
    """The message ids an outbox payload names (`message_ids` or `message_id`)."""
    raw = payload.get("message_ids")
    ids = list(raw) if isinstance(raw, list) else [payload["message_id"]] if payload.get("message_id") else []
    return [str(uuid.UUID(str(m))) for m in ids]


async def index_outbox(runtime: WorkerRuntime, outbox_ids: Sequence[int]) -> tuple[int, int] | None:
    """Index or remove the rows' messages; (indexed, removed), or None when all were done."""
    db = runtime.services.db
    async with db.read() as conn:
        rows = [r for r in await load_many_for_job(conn, outbox_ids, jobs.INDEX_MESSAGES) if not r.job_done]
        if not rows:
            return None
        ids = list(dict.fromkeys(m for row in rows for m in message_ids_of(row.payload)))
        found = (await conn.execute(_MESSAGES, {"ids": ids})).all() if ids else []
    docs: list[SearchDocument] = []
    present = {str(r.message_id) for r in found}
    removed: list[str] = [m for m in ids if m not in present]
    for message in found:
        mapping = dict(message._mapping)
        doc = document_from_message(mapping, mapping.pop("sender_display_name"))
        if doc is not None:
            docs.append(doc)
        elif message.deleted_at is not None:
            removed.append(str(message.message_id))
    backend = await runtime.search_backend()
    if docs:
        await backend.index(docs)
    if removed:
        await backend.delete(removed)
    async with db.transaction() as uow:
        for row in rows:
            await mark_job_done(uow.conn, row, jobs.INDEX_MESSAGES)
    return len(docs), len(removed)


def register(app: Celery, settings: Settings) -> None:
    """Register `index.messages`."""

    @app.task(name=jobs.INDEX_MESSAGES, bind=True, shared=False, **task_options(settings))
    def index_messages(self: Any, *outbox_ids: int) -> list[int] | None:
        runtime = get_runtime(self.app)
        done = runtime.run(index_outbox(runtime, [int(i) for i in outbox_ids]))
        return None if done is None else list(done)
