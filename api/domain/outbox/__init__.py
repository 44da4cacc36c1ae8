"""The transactional outbox: side effects promised in the same transaction as the change.

Use cases write rows through this package's face (`outbox.add`, `outbox.add_and_kick` and the
row kinds, from `write`). The rest is for whoever runs the jobs: `jobs` (task names, queues,
id-only arguments), `job_state` (a task reads its row and records that it is done) and `relay`
(hands rows to the queue after commit and sweeps what was missed).

May import `api.domain.core` only.
"""

from api.domain.outbox.write import MESSAGE_DELETED, MESSAGE_EDITED, MESSAGES_CREATED, add, add_and_kick

__all__ = ["MESSAGES_CREATED", "MESSAGE_DELETED", "MESSAGE_EDITED", "add", "add_and_kick"]
