"""Resume without a gap or a duplicate (CONTRACT §3: `since` on connect, and the `sync` frame).

The socket is registered with its room first, so live frames start buffering in it
(`Connection.syncing`); then the stored messages after `since` are replayed from PostgreSQL in
pages (with back-pressure), then (with `since_time`) the changes made meanwhile to older
messages, then the buffer is flushed skipping every number already sent.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from api.domain.core.timefmt import parse_iso
from api.domain.events import (
    Message,
    acknowledged_frame,
    deleted_frame,
    edited_frame_bytes,
    message_frame_bytes,
    reaction_frame,
    sync_complete_frame,
)
from api.domain.messages.read import changed_since, latest_reactions, messages_in_range
from api.domain.messages.sequencing import room_positions
from api.ws.connection import Connection
from api.ws.room_stream import REPLAY_PAGE

# A read connection within the hub's database slots (`Hub.db_read`): a resume storm queues there.
Reader = Callable[[], AbstractAsyncContextManager[AsyncConnection]]


def begin_sync(conn: Connection) -> None:
    """A `sync` frame on an open socket: buffer live frames until the replay is done."""
    conn.syncing = True
    conn.sync_buffer = []


async def resume(
    read: Reader, conn: Connection, since: int | None, since_time: datetime | None, attached_at: int
) -> None:
    """Replay after `since` (or start live at `attached_at`), then flush what arrived meanwhile."""
    if since is None:
        _go_live(conn, attached_at)
        return
    room_uuid = uuid.UUID(conn.room_id)
    async with read() as db:
        last = (await room_positions(db, [conn.room_id])).get(conn.room_id, 0)
    cursor = max(0, min(since, last))
    since_point = cursor
    while not conn.closed:
        async with read() as db:
            rows = await messages_in_range(db, room_uuid, cursor, None, limit=REPLAY_PAGE)
        for msg in rows:
            conn.push(message_frame_bytes(msg))
            cursor = msg.sequence_number
        if len(rows) < REPLAY_PAGE:
            break
        await conn.wait_room()
    if since_time is not None and not conn.closed:
        await _replay_changes(read, conn, room_uuid, since_time, since_point)
    conn.push(sync_complete_frame(cursor))
    _go_live(conn, cursor)


async def _replay_changes(
    read: Reader, conn: Connection, room_uuid: uuid.UUID, since_time: datetime, up_to: int
) -> None:
    """Edits, deletions, reaction changes and urgent acknowledgements made after `since_time` to
    messages up to `up_to` (each of them moves the message's `updated_at`)."""
    async with read() as db:
        changed = await changed_since(db, room_uuid, since_time, up_to)
        latest = await latest_reactions(db, [msg.message_id for msg, _row in changed])
    for msg, row in changed:
        if row["deleted_at"] is not None:
            if row["deleted_at"] > since_time:
                conn.push(deleted_frame(msg, row["deleted_by"]))
            continue
        if row["edited_at"] is not None and row["edited_at"] > since_time:
            conn.push(edited_frame_bytes(msg))
        if row["reactions_at"] is not None and row["reactions_at"] > since_time:
            conn.push(_reactions_frame(msg, latest.get(msg.message_id)))
        for ack in _acknowledged_since(msg, since_time):
            conn.push(ack)


def _reactions_frame(msg: Message, last: Any) -> bytes:
    # The aggregated counts are the state; emoji/user name the latest remaining reaction.
    return reaction_frame(
        msg.message_id,
        msg.reactions,
        added=bool(msg.reactions),
        emoji=last.emoji if last else None,
        user_id=last.user_id if last else None,
    )


def _acknowledged_since(msg: Message, since_time: datetime) -> list[bytes]:
    """`urgent_acknowledged` frames of the message's acknowledgements at or after `since_time`.

    At or after: both times are cut to milliseconds, and an acknowledgement sent twice is
    harmless (it names the same person and time), one left out is not.
    """
    if not msg.acknowledgements:
        return []
    return [
        acknowledged_frame(ack, message_id=msg.message_id, room_id=msg.room_id)
        for ack in msg.acknowledgements
        if parse_iso(ack.at) >= since_time
    ]


def _go_live(conn: Connection, last_sent: int) -> None:
    buffered = sorted(conn.sync_buffer, key=lambda x: x[0])
    conn.sync_buffer = []
    conn.last_seq_sent = last_sent
    conn.syncing = False
    for seq, frame, wire in buffered:
        conn.push_sequenced(seq, frame, wire)
