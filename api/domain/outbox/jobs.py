"""Celery task names, their queues and their id-only arguments: all the API side knows of tasks.

Nothing here imports Celery. The relay (`api.domain.outbox.relay`) turns outbox rows into
:class:`Job` values and hands them to an `enqueue` callable that the worker process supplies;
the worker registers its tasks under exactly these names. Arguments are ids only, so a task
always reads the current state from PostgreSQL and a repeated task is a no-op.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from api.domain.outbox.write import MESSAGE_DELETED, MESSAGE_EDITED, MESSAGES_CREATED

# Decide who is notified of new messages and plan one push per (message, subscription).
NOTIFY_MESSAGES = "mentions.notify_messages"
# Send planned Web Pushes (rows of push_deliveries), each claimed and recorded on its own.
PUSH_SEND = "push.send"
# Deliveries per push.send message: one message per push would cost more to queue than to send.
PUSH_BATCH = 10
# Run the due round of an urgent page (docs/alerts.md): (page id, rounds already sent).
URGENT_PAGE = "push.urgent_page"
# Bring the search index in line with the messages of an outbox row (create, edit, delete).
INDEX_MESSAGES = "index.messages"
# Append an edit or a deletion to the room's hash-chained audit log.
AUDIT_APPEND = "audit.append"
# Drain the outbox now (the relay does this on its own; the task serves operators and beat).
OUTBOX_DRAIN = "outbox.drain"

# Outbox rows per job, for the tasks that take several: a backlog (a burst, or the rows written
# while the workers were away) is worked off in a few tasks instead of one per row. The audit
# takes one row per task, so each entry waits only for the changes committed before it.
OUTBOX_BATCH = 50
BATCHED = frozenset({NOTIFY_MESSAGES, INDEX_MESSAGES})

QUEUES = ("outbox", "push", "index", "mentions", "audit")

# Which jobs each outbox kind stands for. A row is done when every one of them has finished.
JOBS_BY_KIND: dict[str, tuple[str, ...]] = {
    MESSAGES_CREATED: (NOTIFY_MESSAGES, INDEX_MESSAGES),
    MESSAGE_EDITED: (INDEX_MESSAGES, AUDIT_APPEND),
    MESSAGE_DELETED: (INDEX_MESSAGES, AUDIT_APPEND),
}


def queue_of(task_name: str) -> str:
    """The queue a task is routed to: the first part of its dotted name."""
    queue = task_name.split(".", 1)[0]
    if queue not in QUEUES:
        raise ValueError(f"task {task_name!r} has no queue")
    return queue


def jobs_for(kind: str) -> tuple[str, ...]:
    """The task names an outbox row of `kind` stands for (empty for a kind with no side effect)."""
    return JOBS_BY_KIND.get(kind, ())


@dataclass(frozen=True, slots=True)
class Job:
    """One task to enqueue: its name, its JSON arguments (ids only) and its queue."""

    name: str
    args: tuple[int, ...]
    queue: str


def outbox_jobs(task_name: str, outbox_ids: Sequence[int]) -> list[Job]:
    """Jobs running `task_name` for these outbox rows: up to `OUTBOX_BATCH` rows per job for the
    tasks that take several, one row per job for the others."""
    ids = [int(i) for i in outbox_ids]
    size = OUTBOX_BATCH if task_name in BATCHED else 1
    return [
        Job(task_name, tuple(ids[start : start + size]), queue_of(task_name))
        for start in range(0, len(ids), size)
    ]


def urgent_page_jobs(pages: Sequence[tuple[int, int]]) -> list[Job]:
    """One job per due page round: (page id, the rounds it had sent when published)."""
    return [Job(URGENT_PAGE, (int(page), int(sent)), queue_of(URGENT_PAGE)) for page, sent in pages]


def push_send_jobs(delivery_ids: Sequence[int]) -> list[Job]:
    """Jobs sending these planned pushes, at most `PUSH_BATCH` per job."""
    ids = [int(i) for i in delivery_ids]
    return [
        Job(PUSH_SEND, tuple(ids[start : start + PUSH_BATCH]), queue_of(PUSH_SEND))
        for start in range(0, len(ids), PUSH_BATCH)
    ]
