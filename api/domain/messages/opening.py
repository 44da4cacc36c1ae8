"""A room socket's opening in one statement: the token, the room access, its position, the replay.

A client resuming (`/ws/{room_id}?since=N`) needs its token checked, its membership and role
in the room, the room's last sequence number and the stored messages after N. Asked one at a
time that was four round trips, each with its own pooled connection and statement overhead:
after a server process dies, a thousand clients do it at once on the survivors, and these
round trips were a quarter of a survivor's CPU (py-spy, docs/big-rooms.md "Resume storms").

Here it is one statement. Its checks are the same as `access_token` and `access_room` (a
revoked or expired token is no user; no room; not a member and not an admin), judged in that
order, and the messages are read only for a user who passes them. The room's position and the
messages come from the same snapshot: a room's number and its messages are written by one
statement (`api.domain.messages.sequencing`), so every message up to that position is there.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from api.domain.auth.credentials import token_digest
from api.domain.auth.sessions import AuthUser
from api.domain.core.errors import Forbidden, NotFound, Unauthorized
from api.domain.events import Message
from api.domain.messages.read import message_object, select_messages

# One row per replayed message (or one row with NULL message columns: none to replay, or no
# room, or no access); no row at all when the token is not valid.
_OPENING = text(
    f"""
    WITH who AS (
        SELECT u.user_id, u.display_name, u.is_admin, t.expires_at
        FROM auth_tokens t JOIN tr_users u ON u.user_id = t.user_id
        WHERE t.token_hash = :h AND t.revoked_at IS NULL AND t.expires_at > now()
    ), room AS (
        SELECT rr.room_id, rr.last_seq, mb.role
        FROM who
        JOIN incident_rooms rr ON rr.room_id = CAST(:r AS uuid)
        LEFT JOIN room_members mb ON mb.room_id = rr.room_id AND mb.user_id = who.user_id
    )
    SELECT who.user_id AS open_user_id, who.display_name AS open_display_name,
           who.is_admin AS open_is_admin, who.expires_at AS open_expires_at,
           room.room_id AS open_room_id, room.last_seq AS open_last_seq, room.role AS open_role,
           page.*
    FROM who
    LEFT JOIN room ON true
    LEFT JOIN LATERAL (
        {select_messages()}
        WHERE CAST(:since AS bigint) IS NOT NULL
          AND (room.role IS NOT NULL OR who.is_admin)
          AND m.room_id = room.room_id
          AND m.sequence_number > LEAST(CAST(:since AS bigint), room.last_seq)
          AND m.sequence_number <= room.last_seq
        ORDER BY m.sequence_number
        LIMIT :n
    ) page ON true
    ORDER BY page.sequence_number
    """
)


@dataclass(frozen=True, slots=True)
class Opening:
    """What one statement established for a socket opening in a room."""

    user: AuthUser
    room_id: str
    # The user's effective role (OWNER for a system admin).
    role: str
    # The room's last sequence number when read.
    last_seq: int
    # With `since`: the first messages after min(since, last_seq), up to last_seq, in order, at
    # most `limit` of them (the replay's first page); empty without `since`.
    replay: list[Message]


def _room_uuid(room_id: object) -> uuid.UUID | None:
    if isinstance(room_id, uuid.UUID):
        return room_id
    try:
        return uuid.UUID(str(room_id))
    except ValueError:
        return None


async def open_room(
    conn: AsyncConnection, token: str, room_id: object, since: int | None, limit: int
) -> Opening:
    """Sign in with `token`, check access to the room, read its position and the replay's first page.

    Unauthorized (no such valid token), then NotFound (no such room, or not a room id), then
    Forbidden (neither a member nor an admin): the order of `access_token` and `access_room`.
    """
    if not token or len(token) > 512:
        raise Unauthorized("invalid token")
    digest = token_digest(token)
    params = {"h": digest, "r": _room_uuid(room_id), "since": since, "n": limit}
    rows = (await conn.execute(_OPENING, params)).all()
    if not rows:
        raise Unauthorized("invalid or expired token")
    head = rows[0]
    user = AuthUser(
        head.open_user_id, head.open_display_name, bool(head.open_is_admin), digest, head.open_expires_at
    )
    if head.open_room_id is None:
        raise NotFound("no such room")
    role = head.open_role
    if role is None and not user.is_admin:
        raise Forbidden("you are not a member of this room")
    replay = [message_object(r) for r in rows if r.message_id is not None]
    return Opening(
        user=user,
        room_id=str(head.open_room_id),
        role="OWNER" if user.is_admin else role,
        last_seq=int(head.open_last_seq),
        replay=replay,
    )
