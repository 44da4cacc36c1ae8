"""Assigning per-room sequence numbers and inserting messages, under the room's row lock.

`UPDATE incident_rooms SET last_seq = last_seq + k ... RETURNING` takes the room row lock and
reserves k consecutive numbers; the lock is held until COMMIT, so the room's transactions
commit in sequence order and numbers never gap or repeat. `created_at` is stored at the wire's
millisecond precision, so a timestamp a client got back compares exactly as a cursor. Chat messages (in batches, see
`api.domain.messages.send`) and stored system events both go through here.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import msgspec
from msgspec import UNSET
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from api.domain.core.errors import Forbidden, NotFound
from api.domain.core.timefmt import iso
from api.domain.events import Message, split_system_names


@dataclass(slots=True)
class NewMessage:
    """A message about to be stored (validated already)."""

    sender_id: str
    message_type: str
    content: str | None = None
    data: Any = None
    mentions: list[str] = field(default_factory=list)
    file_id: uuid.UUID | None = None
    file_url: str | None = None
    client_id: str | None = None
    priority: str = "normal"
    message_id: uuid.UUID = field(default_factory=uuid.uuid4)


def stored_message(
    room_id: uuid.UUID,
    new: NewMessage,
    sequence_number: int,
    created_at: datetime,
    display_name: str | None,
    is_bot: bool = False,
    file: dict[str, Any] | None = None,
) -> Message:
    """The message object of a message `insert_sequenced` just stored (nothing edited or reacted yet)."""
    content, names = (
        split_system_names(new.data)
        if new.message_type == "system"
        else (new.data if new.message_type == "incident_data" else new.content, UNSET)
    )
    return Message(
        message_id=str(new.message_id),
        room_id=str(room_id),
        sender_id=new.sender_id,
        sender_display_name=display_name or new.sender_id,
        content=content,
        message_type=new.message_type,
        mentions=new.mentions,
        file_id=str(new.file_id) if new.file_id else None,
        file_url=new.file_url,
        client_id=new.client_id,
        created_at=iso(created_at),
        edited_at=None,
        deleted_at=None,
        sequence_number=sequence_number,
        reactions={},
        sender_is_bot=is_bot,
        file=file,
        priority=new.priority,
        acknowledgements=[] if new.priority == "urgent" else UNSET,
        names=names,
    )


@dataclass(frozen=True, slots=True)
class Reserved:
    """The room row as locked for an insert."""

    first_seq: int
    last_seq: int
    status: str
    title: str


# One statement: reserve k numbers (the UPDATE takes the room row lock), insert the messages
# numbered from the reserved block and, optionally, the outbox row for them. Being one
# statement, it is atomic on its own: run in autocommit mode (`Database.autocommit`) it holds
# the room lock only while PostgreSQL executes and commits it, no client round trip, which is
# what the room's next writer, perhaps in another server process, waits for. A data-modifying
# CTE runs even when nothing reads it, so the inserts draw their rows from the reservation: an
# unknown or archived room reserves nothing and inserts nothing.
_RESERVE_AND_INSERT = text(
    """
    WITH reserved AS (
        UPDATE incident_rooms
        SET last_seq = last_seq + :k,
            last_message_at = CASE WHEN :chat THEN clock_timestamp() ELSE last_message_at END
        WHERE room_id = :r AND (status <> 'archived' OR :allow_archived)
        RETURNING last_seq, status, title
    ), inserted AS (
        INSERT INTO messages (message_id, room_id, sequence_number, sender_id, message_type, content, data,
                              mentions, file_id, file_url, client_id, priority, created_at, updated_at)
        SELECT x.id, :r, reserved.last_seq - :k + x.ord, x.sender, x.mtype, x.content, CAST(x.data AS jsonb),
               ARRAY(SELECT jsonb_array_elements_text(CAST(x.mentions AS jsonb))),
               x.file_id, x.file_url, x.client_id, x.priority,
               date_trunc('milliseconds', clock_timestamp()), clock_timestamp()
        FROM reserved,
             unnest(CAST(:ids AS uuid[]), CAST(:senders AS text[]), CAST(:mtypes AS text[]),
                    CAST(:contents AS text[]), CAST(:datas AS text[]), CAST(:mentions AS text[]),
                    CAST(:file_ids AS uuid[]), CAST(:file_urls AS text[]), CAST(:client_ids AS text[]),
                    CAST(:priorities AS text[]))
             WITH ORDINALITY AS x(id, sender, mtype, content, data, mentions, file_id, file_url, client_id,
                                  priority, ord)
        ORDER BY x.ord
        RETURNING message_id, sequence_number, created_at
    ), queued AS (
        INSERT INTO outbox (kind, payload)
        SELECT CAST(:outbox_kind AS text), CAST(:outbox_payload AS jsonb)
        FROM reserved
        WHERE :outbox_kind IS NOT NULL
    )
    SELECT reserved.last_seq, reserved.status, reserved.title,
           inserted.message_id, inserted.sequence_number, inserted.created_at
    FROM reserved JOIN inserted ON true
    """
)
_STATUS = text("SELECT status FROM incident_rooms WHERE room_id = :r")

_enc = msgspec.json.Encoder()


async def insert_sequenced(
    conn: AsyncConnection,
    room_id: uuid.UUID,
    new: list[NewMessage],
    *,
    allow_archived: bool = False,
    outbox_row: tuple[str, dict[str, Any]] | None = None,
) -> tuple[Reserved, list[tuple[NewMessage, int, datetime]]]:
    """Reserve len(new) numbers and insert the messages in order; returns (seq, created_at) each.

    `outbox_row` (kind, payload) is written in the same statement (see `api.domain.outbox.write`).
    Raises NotFound for an unknown room and Forbidden for an archived one (unless allowed),
    having written nothing. Safe in autocommit mode: the one write statement is all or nothing.
    """
    k = len(new)
    params = {
        "k": k,
        "r": room_id,
        "chat": any(n.message_type != "system" for n in new),
        "allow_archived": allow_archived,
        "ids": [n.message_id for n in new],
        "senders": [n.sender_id for n in new],
        "mtypes": [n.message_type for n in new],
        "contents": [n.content for n in new],
        "datas": [None if n.data is None else _enc.encode(n.data).decode() for n in new],
        "mentions": [_enc.encode(n.mentions).decode() for n in new],
        "file_ids": [n.file_id for n in new],
        "file_urls": [n.file_url for n in new],
        "client_ids": [n.client_id for n in new],
        "priorities": [n.priority for n in new],
        "outbox_kind": outbox_row[0] if outbox_row else None,
        "outbox_payload": _enc.encode(outbox_row[1]).decode() if outbox_row else None,
    }
    rows = (await conn.execute(_RESERVE_AND_INSERT, params)).all()
    if not rows:
        if (await conn.execute(_STATUS, {"r": room_id})).first() is None:
            raise NotFound("no such room")
        raise Forbidden("the room is archived (read-only)")
    head = rows[0]
    reserved = Reserved(int(head.last_seq) - k + 1, int(head.last_seq), head.status, head.title)
    by_id = {r.message_id: (int(r.sequence_number), r.created_at) for r in rows}
    if len(by_id) != k:
        raise RuntimeError(f"stored {len(by_id)} of {k} messages")
    return reserved, [(n, *by_id[n.message_id]) for n in new]


async def room_positions(conn: AsyncConnection, room_ids: list[str]) -> dict[str, int]:
    """Each room's last sequence number (rooms that do not exist are left out)."""
    rows = (
        await conn.execute(
            text("SELECT room_id, last_seq FROM incident_rooms WHERE room_id = ANY(CAST(:ids AS uuid[]))"),
            {"ids": [uuid.UUID(r) for r in room_ids]},
        )
    ).all()
    return {str(r.room_id): int(r.last_seq) for r in rows}
