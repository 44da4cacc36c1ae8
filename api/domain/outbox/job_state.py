"""The task side of the outbox: read a row for a job, and record that the job finished.

A job is done for a row when its name is in `outbox.done_jobs`; the row itself is done
(`done_at`) once every job of its kind is. Tasks check first and record last, so a task that
runs twice (a redelivery, a sweep) finds its name there and does nothing.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from api.domain.outbox import jobs


@dataclass(frozen=True, slots=True)
class OutboxRow:
    """One outbox row as a job sees it."""

    outbox_id: int
    kind: str
    payload: dict[str, Any]
    created_at: datetime
    job_done: bool


_LOAD = text(
    """
    SELECT outbox_id, kind, payload, created_at, CAST(:name AS varchar) = ANY(done_jobs) AS job_done
    FROM outbox WHERE outbox_id = :id
    """
)
_LOAD_MANY = text(
    """
    SELECT outbox_id, kind, payload, created_at, CAST(:name AS varchar) = ANY(done_jobs) AS job_done
    FROM outbox WHERE outbox_id = ANY(CAST(:ids AS bigint[]))
    ORDER BY outbox_id
    """
)
_LOAD_LOCKED = text(
    """
    SELECT outbox_id, kind, payload, created_at, CAST(:name AS varchar) = ANY(done_jobs) AS job_done
    FROM outbox WHERE outbox_id = :id
    FOR UPDATE
    """
)
_MARK = text(
    """
    UPDATE outbox
    SET done_jobs = CASE WHEN CAST(:name AS varchar) = ANY(done_jobs) THEN done_jobs
                         ELSE array_append(done_jobs, CAST(:name AS varchar)) END,
        done_at = COALESCE(done_at,
                           CASE WHEN CAST(:all AS varchar[]) <@ array_append(done_jobs, CAST(:name AS varchar))
                                THEN now() END)
    WHERE outbox_id = :id
    """
)


async def load_for_job(
    conn: AsyncConnection, outbox_id: int, job_name: str, *, lock: bool = False
) -> OutboxRow | None:
    """The row and whether `job_name` already finished for it; None if the row is gone.

    With `lock`, the row stays locked until the caller's transaction ends: a job that does its
    work and records it in that one transaction then runs exactly once, however often queued.
    """
    query = _LOAD_LOCKED if lock else _LOAD
    row = (await conn.execute(query, {"id": outbox_id, "name": job_name})).first()
    return None if row is None else _row(row)


def _row(row: Any) -> OutboxRow:
    payload = row.payload
    if isinstance(payload, str | bytes):
        # The asyncpg dialect decodes jsonb itself; a raw driver hands back text.
        payload = json.loads(payload)
    return OutboxRow(int(row.outbox_id), row.kind, dict(payload or {}), row.created_at, bool(row.job_done))


async def load_many_for_job(
    conn: AsyncConnection, outbox_ids: Sequence[int], job_name: str
) -> list[OutboxRow]:
    """Like :func:`load_for_job` (unlocked) for several rows at once; missing rows are left out."""
    rows = (await conn.execute(_LOAD_MANY, {"ids": [int(i) for i in outbox_ids], "name": job_name})).all()
    return [_row(r) for r in rows]


async def mark_job_done(conn: AsyncConnection, row: OutboxRow, job_name: str) -> None:
    """Record that `job_name` finished for the row, closing the row when it was the last job."""
    await conn.execute(
        _MARK, {"id": row.outbox_id, "name": job_name, "all": list(jobs.jobs_for(row.kind)) or [job_name]}
    )
