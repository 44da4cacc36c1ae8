"""Task names, queues and the outbox kinds they serve."""

from __future__ import annotations

import pytest

from api.domain import outbox
from api.domain.outbox import jobs


def test_every_job_of_every_kind_has_a_queue_named_by_its_prefix() -> None:
    for kind in (outbox.MESSAGES_CREATED, outbox.MESSAGE_EDITED, outbox.MESSAGE_DELETED):
        names = jobs.jobs_for(kind)
        assert names
        for name in names:
            assert jobs.queue_of(name) == name.split(".")[0]
            assert jobs.queue_of(name) in jobs.QUEUES


def test_new_messages_are_notified_and_indexed_edits_and_deletions_indexed_and_audited() -> None:
    assert set(jobs.jobs_for(outbox.MESSAGES_CREATED)) == {jobs.NOTIFY_MESSAGES, jobs.INDEX_MESSAGES}
    assert set(jobs.jobs_for(outbox.MESSAGE_EDITED)) == {jobs.INDEX_MESSAGES, jobs.AUDIT_APPEND}
    assert set(jobs.jobs_for(outbox.MESSAGE_DELETED)) == {jobs.INDEX_MESSAGES, jobs.AUDIT_APPEND}
    assert jobs.jobs_for("something.else") == ()


def test_job_payloads_are_ids_only() -> None:
    assert jobs.outbox_jobs(jobs.AUDIT_APPEND, [7, 8]) == [
        jobs.Job("audit.append", (7,), "audit"),
        jobs.Job("audit.append", (8,), "audit"),
    ]
    index = jobs.outbox_jobs(jobs.INDEX_MESSAGES, range(120))
    assert [len(j.args) for j in index] == [50, 50, 20]
    assert {j.queue for j in index} == {"index"}
    assert jobs.push_send_jobs([9]) == [jobs.Job("push.send", (9,), "push")]


def test_pushes_are_queued_in_batches() -> None:
    batches = jobs.push_send_jobs(range(1, 26))
    assert [len(j.args) for j in batches] == [10, 10, 5]
    assert [i for j in batches for i in j.args] == list(range(1, 26))
    assert jobs.push_send_jobs([]) == []


def test_a_name_outside_the_queues_is_refused() -> None:
    with pytest.raises(ValueError):
        jobs.queue_of("email.send")
