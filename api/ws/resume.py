"""Resume without a gap or a duplicate (CONTRACT §3: `since` on connect, and the `sync` frame).

The socket is registered with its room first, so live frames start buffering in it
(`Connection.syncing`); then the stored messages after `since` are replayed from PostgreSQL in
pages (with back-pressure; an opening's first page came with its admission), then (with
`since_time`) the changes made meanwhile to older messages, then the buffer is flushed skipping
every number already sent.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
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
from api.ws.room_stream import REPLAY_PAGE, apply_control, control_of

# A read connection within the hub's database slots (`Hub.db_read`): a resume storm queues there.
Reader = Callable[[], AbstractAsyncContextManager[AsyncConnection]]


def begin_sync(conn: Connection) -> None:
    """A `sync` frame on an open socket: buffer live frames until the replay is done."""
    conn.syncing = True
    conn.sync_buffer = []


@dataclass(slots=True)
class Known:
    """What a socket's admission read in its one statement (`api.domain.messages.opening`)."""

    # The room's last sequence number then.
    last: int
    # The stored messages after min(since, last) up to `last`, at most REPLAY_PAGE of them.
    page: list[Message]


async def resume(
    read: Reader,
    conn: Connection,
    since: int | None,
    since_time: datetime | None,
    attached_at: int,
    known: Known | None = None,
) -> None:
    """Replay after `since` (or start live at `attached_at`), then flush what arrived meanwhile.

    `attached_at` is where this process's stream of the room stood when the socket joined it
    (syncing): every later number reaches the socket's buffer, so a replay that covers what is
    stored up to there misses nothing. A socket opening (`known`) brings the room's position
    and the replay's first page from its admission statement, which ran before the socket
    joined: only what that statement could not see is read here, i.e. further pages, and the
    numbers committed after it that this process delivered before the socket joined (when
    `attached_at` is past the admission's position). Usually neither: no read here at all.
    A `sync` frame on an open socket (no `known`) reads the position, then replays to the
    stored tail.
    """
    if since is None:
        if known is not None and attached_at > known.last:
            await _controls_before_joining(read, conn, known.last, attached_at)
        _go_live(conn, attached_at)
        return
    room_uuid = uuid.UUID(conn.room_id)
    up_to: int | None = None
    more = True
    if known is None:
        async with read() as db:
            last = (await room_positions(db, [conn.room_id])).get(conn.room_id, 0)
        cursor = since_point = max(0, min(since, last))
    else:
        last = known.last
        up_to = max(attached_at, last)
        cursor = since_point = max(0, min(since, last))
        page, known.page = known.page, []
        for msg in page:
            conn.push(message_frame_bytes(msg))
            cursor = msg.sequence_number
        if len(page) < REPLAY_PAGE:
            # The page held everything stored after the cursor up to `last`; what is left is
            # what this process's stream delivered before the socket joined it, if anything.
            cursor = max(cursor, last)
            more = cursor < up_to
        else:
            await conn.wait_room()
    while more and not conn.closed:
        async with read() as db:
            rows = await messages_in_range(db, room_uuid, cursor, up_to, limit=REPLAY_PAGE)
        for msg in rows:
            conn.push(message_frame_bytes(msg))
            cursor = msg.sequence_number
            if known is not None and cursor > known.last:
                _own_control(conn, msg)
        if len(rows) < REPLAY_PAGE or (up_to is not None and cursor >= up_to):
            break
        await conn.wait_room()
    if since_time is not None and not conn.closed:
        await _replay_changes(read, conn, room_uuid, since_time, since_point)
    conn.push(sync_complete_frame(cursor))
    _go_live(conn, cursor)


def _own_control(conn: Connection, msg: Message) -> None:
    """A system event committed after the admission and delivered here before the socket joined:
    the room's stream applied it to the sockets it had then, so this one applies it itself
    (removed → closed 4403 right after the event's frame; a new role kept)."""
    control = control_of(msg)
    if control:
        apply_control(conn, control)


async def _controls_before_joining(read: Reader, conn: Connection, admitted_at: int, attached_at: int) -> None:
    """Without a replay: the events between the admission and the join that act on this socket.

    Rare (the room's stream moved in the moment between the two), and one read when it happens;
    without it a member removed in that moment would keep a live socket on the room until the
    periodic validation.
    """
    cursor = admitted_at
    while cursor < attached_at and not conn.closed:
        async with read() as db:
            rows = await messages_in_range(db, uuid.UUID(conn.room_id), cursor, attached_at, limit=REPLAY_PAGE)
        if not rows:
            return
        for msg in rows:
            _own_control(conn, msg)
        cursor = rows[-1].sequence_number


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
