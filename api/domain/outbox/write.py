"""The transactional outbox: side effects written in the same transaction as the change.

A row is the promise that a job will run. The relay (`api.domain.outbox.relay`) hands rows
to Celery after commit and sweeps unsent rows periodically; tasks are idempotent by
`outbox_id`, so a repeat only ever repeats a no-op.
"""

from __future__ import annotations

from typing import Any

import msgspec
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from api.domain.core.db import UnitOfWork

_enc = msgspec.json.Encoder()

# Kinds of outbox rows (the relay maps each to Celery task names in api.domain.outbox.jobs).
MESSAGES_CREATED = "messages.created"
MESSAGE_EDITED = "message.edited"
MESSAGE_DELETED = "message.deleted"

_INSERT = text("INSERT INTO outbox (kind, payload) VALUES (:k, CAST(:p AS jsonb)) RETURNING outbox_id")


async def add(conn: AsyncConnection, kind: str, payload: dict[str, Any]) -> int:
    """Write one outbox row in the caller's transaction."""
    row = (await conn.execute(_INSERT, {"k": kind, "p": _enc.encode(payload).decode()})).first()
    assert row is not None
    return int(row.outbox_id)


async def add_and_kick(uow: UnitOfWork, kick: Any, kind: str, payload: dict[str, Any]) -> int:
    """Write a row and wake the relay once the transaction has committed."""
    outbox_id = await add(uow.conn, kind, payload)
    uow.after_commit(kick)
    return outbox_id
