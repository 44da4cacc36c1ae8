"""The per-room, hash-chained audit log of edits and deletions.

Each entry's `hash` is SHA-256 over a canonical JSON of the entry (room, position, outbox id,
action, message, actor, body, time) including `prev_hash`, the hash of the entry before it in
the same room (64 zeros for the first). Changing, removing or reordering any entry therefore
breaks the link to the next one, and :func:`verify_chain` names the first link that does not
hold. Bodies carry only strings, integers and nulls (structured content is stored as its
canonical JSON text), so an entry reads back from `jsonb` exactly as it was hashed.

Entries are appended by the worker from outbox rows (`message.edited`, `message.deleted`), in
the transaction that records the job as done: one entry per outbox row (`outbox_id` is unique).
"""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from api.domain import outbox
from api.domain.outbox import jobs
from api.domain.outbox.job_state import OutboxRow

GENESIS_HASH = "0" * 64
ACTIONS = {outbox.MESSAGE_EDITED: "edit", outbox.MESSAGE_DELETED: "delete"}
# pg_advisory_xact_lock(int4, int4): this class id ("AUDT") keeps the lock apart from others.
_LOCK_CLASS = 0x41554454
_PAGE = 1000


def canonical_json(value: Any) -> bytes:
    """Sorted keys, no whitespace, UTF-8: one byte string per value, whoever encodes it."""
    return json.dumps(
        value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    ).encode()


def _stamp(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="microseconds")


def _stamp_or_none(moment: datetime | None) -> str | None:
    return None if moment is None else _stamp(moment)


def _json_text(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, str):
        value = json.loads(value)
    return canonical_json(value).decode()


def entry_hash(
    *,
    room_id: str,
    chain_index: int,
    outbox_id: int | None,
    action: str,
    message_id: str | None,
    actor_id: str,
    body: Mapping[str, Any],
    created_at: datetime,
    prev_hash: str,
) -> str:
    """SHA-256 (hex) of the canonical JSON of an entry, `prev_hash` included."""
    fields = {
        "room_id": room_id,
        "chain_index": chain_index,
        "outbox_id": outbox_id,
        "action": action,
        "message_id": message_id,
        "actor_id": actor_id,
        "body": dict(body),
        "created_at": _stamp(created_at),
        "prev_hash": prev_hash,
    }
    return hashlib.sha256(canonical_json(fields)).hexdigest()


_MESSAGE = text(
    """
    SELECT message_id, room_id, sequence_number, sender_id, message_type, content, data,
           created_at, edited_at, deleted_at, deleted_by
    FROM messages WHERE message_id = :m
    """
)
# The edit transaction inserted the replaced version and the outbox row together, so both carry
# that transaction's now(): this finds exactly the version this outbox row replaced.
_REPLACED = text(
    """
    SELECT edit_id, content, data, version_at, version_by
    FROM message_edits WHERE message_id = :m AND replaced_at = :at
    ORDER BY edit_id LIMIT 1
    """
)
_NEXT_VERSION = text(
    "SELECT content, data, version_at FROM message_edits WHERE message_id = :m AND edit_id > :e ORDER BY edit_id LIMIT 1"
)


async def _edit_body(conn: AsyncConnection, message: Any, row: OutboxRow) -> dict[str, Any]:
    replaced = (await conn.execute(_REPLACED, {"m": message.message_id, "at": row.created_at})).first()
    body: dict[str, Any] = {
        "sequence_number": int(message.sequence_number),
        "sender_id": message.sender_id,
        "message_type": message.message_type,
    }
    if replaced is None:
        # Not expected (the version is written in the edit's own transaction); record what is
        # known now rather than nothing, and say so.
        body.update(
            before=None,
            after={
                "content": message.content,
                "data": _json_text(message.data),
                "at": _stamp_or_none(message.edited_at),
            },
            note="replaced version not found; 'after' is the message as it was when audited",
        )
        return body
    following = (await conn.execute(_NEXT_VERSION, {"m": message.message_id, "e": replaced.edit_id})).first()
    if following is not None:
        after = {
            "content": following.content,
            "data": _json_text(following.data),
            "at": _stamp(following.version_at),
        }
    else:
        after = {
            "content": message.content,
            "data": _json_text(message.data),
            "at": _stamp_or_none(message.edited_at),
        }
    body.update(
        before={
            "content": replaced.content,
            "data": _json_text(replaced.data),
            "at": _stamp(replaced.version_at),
            "by": replaced.version_by,
        },
        after=after,
    )
    return body


def _delete_body(message: Any) -> dict[str, Any]:
    # The content stays in the messages row for exactly this: it reaches no reader but the audit.
    return {
        "sequence_number": int(message.sequence_number),
        "sender_id": message.sender_id,
        "message_type": message.message_type,
        "content": message.content,
        "data": _json_text(message.data),
        "created_at": _stamp(message.created_at),
        "deleted_at": _stamp_or_none(message.deleted_at),
        "deleted_by": message.deleted_by,
    }


def _lock_key(room_id: uuid.UUID) -> int:
    # Any stable 32-bit value: two rooms sharing one only wait for each other.
    return int.from_bytes(room_id.bytes[:4], "big", signed=True)


# An edit or deletion of this room queued earlier whose entry is not written yet: it goes first,
# so the chain follows the order in which the changes were committed.
_EARLIER_PENDING = text(
    """
    SELECT outbox_id FROM outbox
    WHERE done_at IS NULL AND outbox_id < :o AND kind = ANY(CAST(:kinds AS varchar[]))
      AND payload->>'room_id' = :r AND NOT (CAST(:job AS varchar) = ANY(done_jobs))
    LIMIT 1
    """
)
_LAST = text("SELECT chain_index, hash FROM audit_log WHERE room_id = :r ORDER BY chain_index DESC LIMIT 1")
_EXISTS = text("SELECT chain_index FROM audit_log WHERE outbox_id = :o")
_INSERT = text(
    """
    INSERT INTO audit_log (room_id, chain_index, outbox_id, action, message_id, actor_id, body, created_at,
                           prev_hash, hash)
    VALUES (:r, :i, :o, :a, :m, :actor, CAST(:body AS jsonb), :at, :prev, :hash)
    """
)


class EarlierEntryPending(Exception):
    """An earlier edit or deletion of the room has no entry yet; append this one after it."""


async def _take_turn(conn: AsyncConnection, row: OutboxRow, room_id: uuid.UUID) -> None:
    """Lock the room's chain for this transaction; raise if an earlier change waits for its entry."""
    # Serialises appends per room so two workers never take the same chain index.
    await conn.execute(
        text("SELECT pg_advisory_xact_lock(:c, :k)"), {"c": _LOCK_CLASS, "k": _lock_key(room_id)}
    )
    earlier = (
        await conn.execute(
            _EARLIER_PENDING,
            {"o": row.outbox_id, "kinds": list(ACTIONS), "r": str(room_id), "job": jobs.AUDIT_APPEND},
        )
    ).first()
    if earlier is not None:
        raise EarlierEntryPending(f"outbox row {earlier.outbox_id} first")


async def append_from_outbox(conn: AsyncConnection, row: OutboxRow) -> int | None:
    """Append the entry for an edit/delete outbox row; returns its chain index.

    Idempotent by outbox id (an existing entry's index is returned). None when the message no
    longer exists (its room was deleted with it) or the row is of another kind. Raises
    :class:`EarlierEntryPending` while an edit or deletion of the same room committed before
    this one still waits for its entry. Call it inside the transaction that records the job as
    done.
    """
    action = ACTIONS.get(row.kind)
    if action is None:
        return None
    existing = (await conn.execute(_EXISTS, {"o": row.outbox_id})).first()
    if existing is not None:
        return int(existing.chain_index)
    room_id = uuid.UUID(str(row.payload["room_id"]))
    message_id = uuid.UUID(str(row.payload["message_id"]))
    actor_id = str(row.payload.get("actor_id") or "")
    message = (await conn.execute(_MESSAGE, {"m": message_id})).first()
    if message is None:
        return None
    await _take_turn(conn, row, room_id)
    body = await _edit_body(conn, message, row) if action == "edit" else _delete_body(message)
    last = (await conn.execute(_LAST, {"r": room_id})).first()
    chain_index = 0 if last is None else int(last.chain_index) + 1
    prev_hash = GENESIS_HASH if last is None else str(last.hash)
    created_at = datetime.now(UTC)
    digest = entry_hash(
        room_id=str(room_id),
        chain_index=chain_index,
        outbox_id=row.outbox_id,
        action=action,
        message_id=str(message_id),
        actor_id=actor_id,
        body=body,
        created_at=created_at,
        prev_hash=prev_hash,
    )
    await conn.execute(
        _INSERT,
        {
            "r": room_id,
            "i": chain_index,
            "o": row.outbox_id,
            "a": action,
            "m": message_id,
            "actor": actor_id,
            "body": canonical_json(body).decode(),
            "at": created_at,
            "prev": prev_hash,
            "hash": digest,
        },
    )
    return chain_index


@dataclass(frozen=True, slots=True)
class ChainReport:
    """The outcome of :func:`verify_chain`: `ok`, how many entries, and the first broken link."""

    room_id: str
    entries: int
    ok: bool
    broken_index: int | None = None
    audit_id: int | None = None
    reason: str | None = None


_PAGE_QUERY = text(
    """
    SELECT audit_id, room_id, chain_index, outbox_id, action, message_id, actor_id, body, created_at,
           prev_hash, hash
    FROM audit_log WHERE room_id = :r AND chain_index > :after
    ORDER BY chain_index LIMIT :n
    """
)
# Edits and deletions whose audit job finished: each must still have its entry.
_AUDITED_OUTBOX = text(
    """
    SELECT o.outbox_id FROM outbox o
    WHERE o.kind = ANY(CAST(:kinds AS varchar[])) AND o.payload->>'room_id' = :r
      AND CAST(:job AS varchar) = ANY(o.done_jobs)
      AND NOT EXISTS (SELECT 1 FROM audit_log a WHERE a.outbox_id = o.outbox_id)
      AND EXISTS (SELECT 1 FROM messages m WHERE m.message_id = CAST(o.payload->>'message_id' AS uuid))
    ORDER BY o.outbox_id LIMIT 1
    """
)


def _link_fault(entry: Any, index: int, prev_hash: str) -> str | None:
    """Why this entry does not continue the chain after `prev_hash`, or None when it does."""
    if entry.prev_hash != prev_hash:
        if index:
            return f"prev_hash of entry {index} is not the hash of entry {index - 1}"
        return "prev_hash of entry 0 is not the genesis hash"
    body = entry.body if isinstance(entry.body, dict) else json.loads(entry.body)
    recomputed = entry_hash(
        room_id=str(entry.room_id),
        chain_index=index,
        outbox_id=None if entry.outbox_id is None else int(entry.outbox_id),
        action=entry.action,
        message_id=None if entry.message_id is None else str(entry.message_id),
        actor_id=entry.actor_id,
        body=body,
        created_at=entry.created_at,
        prev_hash=entry.prev_hash,
    )
    if recomputed != entry.hash:
        return f"entry {index} does not match its hash (altered)"
    return None


async def verify_chain(conn: AsyncConnection, room_id: uuid.UUID) -> ChainReport:
    """Recompute the room's chain and report the first link that does not hold.

    A link breaks when an entry's position is not the next one (an entry removed or moved),
    its `prev_hash` is not the previous entry's hash, or its hash is not that of its contents.
    Finally every edit or deletion whose audit job is recorded as done must have its entry,
    which catches entries removed from the end of the chain.
    """
    rid = str(room_id)
    expected_index = 0
    prev_hash = GENESIS_HASH
    after = -1
    count = 0
    while True:
        rows = (await conn.execute(_PAGE_QUERY, {"r": room_id, "after": after, "n": _PAGE})).all()
        for entry in rows:
            index = int(entry.chain_index)
            if index != expected_index:
                return ChainReport(
                    rid, count, False, expected_index, None, f"entry {expected_index} is missing"
                )
            reason = _link_fault(entry, index, prev_hash)
            if reason is not None:
                return ChainReport(rid, count, False, index, int(entry.audit_id), reason)
            prev_hash = entry.hash
            expected_index += 1
            count += 1
            after = index
        if len(rows) < _PAGE:
            break
    orphan = (
        await conn.execute(_AUDITED_OUTBOX, {"kinds": list(ACTIONS), "r": rid, "job": jobs.AUDIT_APPEND})
    ).first()
    if orphan is not None:
        return ChainReport(
            rid,
            count,
            False,
            expected_index,
            None,
            f"the entry for outbox row {orphan.outbox_id} is missing (removed from the log)",
        )
    return ChainReport(rid, count, True)
