"""What a room list shows of each room: unread counts, unread mentions and the newest message.

Read for the user stream (`/ws`) and `GET /api/rooms`. Counts can be bounded by a sequence
number (`upto`): the user stream reads them at the position its ordered room stream has
reached, then adds what that stream delivers after it, so a count is never off by a message
committed while the query ran.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Sequence
from typing import Any

import msgspec
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from api.domain.core.timefmt import iso

PREVIEW_CHARS = 140

_enc = msgspec.json.Encoder()

# A message counts as unread for user u when it is after u's read marker, not deleted, and
# sent by someone else (system events always count): CONTRACT's `unread_count`.
_UNREAD = "x.deleted_at IS NULL AND (x.sender_id <> m.user_id OR x.message_type = 'system')"

# The fragments below expect `m` (a room_members row, or a row with `room_id`) and `p.upto`
# (the sequence bound) in scope.
# The newest undeleted message of each room at or below its bound.
PREVIEW_JOIN = """
    LEFT JOIN LATERAL (
        SELECT x.message_id, x.sender_id, xu.display_name AS sender_display_name,
               COALESCE(xu.is_bot, false) AND x.message_type <> 'system' AS sender_is_bot,
               x.message_type, x.content, x.data, x.created_at, xt.display_name AS user_display_name
        FROM messages x LEFT JOIN tr_users xu ON xu.user_id = x.sender_id
        -- A system event stored before events carried names: its person's current name.
        LEFT JOIN tr_users xt ON x.message_type = 'system' AND x.data->>'user_display_name' IS NULL
                              AND xt.user_id = x.data->>'user_id'
        WHERE x.room_id = m.room_id AND x.sequence_number <= p.upto AND x.deleted_at IS NULL
        ORDER BY x.sequence_number DESC LIMIT 1
    ) pv ON true
"""

PREVIEW_COLUMNS = """
    pv.message_id AS pv_id, pv.sender_id AS pv_sender, pv.sender_display_name AS pv_name, pv.sender_is_bot AS pv_bot,
    pv.message_type AS pv_type, pv.content AS pv_content, pv.data AS pv_data, pv.created_at AS pv_at,
    pv.user_display_name AS pv_user_name
"""

COUNT_COLUMNS = f"""
    (SELECT count(*) FROM messages x WHERE x.room_id = m.room_id
       AND x.sequence_number > m.last_read_seq AND x.sequence_number <= p.upto AND {_UNREAD}) AS unread,
    (SELECT count(*) FROM messages x WHERE x.room_id = m.room_id
       AND x.sequence_number > m.last_read_seq AND x.sequence_number <= p.upto AND {_UNREAD}
       AND x.mentions @> ARRAY[m.user_id]::varchar[]) AS unread_mentions
"""

_ENTRIES = text(
    f"""
    SELECT m.room_id, r.title, r.description, r.status, r.created_at, m.role, r.last_message_at, p.upto,
           {COUNT_COLUMNS}, {PREVIEW_COLUMNS}
    FROM unnest(CAST(:rooms AS uuid[]), CAST(:upto AS bigint[])) AS p(room_id, upto)
    JOIN room_members m ON m.room_id = p.room_id AND m.user_id = :u
    JOIN incident_rooms r ON r.room_id = m.room_id
    {PREVIEW_JOIN}
    ORDER BY COALESCE(pv.created_at, r.last_message_at, r.created_at) DESC
    """
)

# Several members of one room at once (after a deletion or an edit: counts and preview re-read).
_MEMBER_COUNTS = text(
    f"""
    SELECT m.user_id, {COUNT_COLUMNS}
    FROM room_members m CROSS JOIN (SELECT CAST(:upto AS bigint) AS upto) p
    WHERE m.room_id = :r AND m.user_id = ANY(CAST(:users AS text[]))
    """
)
_ROOM_PREVIEW = text(
    f"""
    SELECT {PREVIEW_COLUMNS}
    FROM (SELECT CAST(:r AS uuid) AS room_id) m CROSS JOIN (SELECT CAST(:upto AS bigint) AS upto) p
    {PREVIEW_JOIN}
    """
)
_MEMBERSHIPS = text("SELECT room_id, role FROM room_members WHERE user_id = :u")
_ALL_MEMBERSHIPS = text(
    "SELECT user_id, room_id, role FROM room_members WHERE user_id = ANY(CAST(:users AS text[]))"
)


# One short row per user instead of one per membership: the periodic check compares these.
_MEMBERSHIP_DIGESTS = text(
    "SELECT user_id, md5(string_agg(room_id::text || ':' || role, ',' ORDER BY room_id)) AS digest "
    "FROM room_members WHERE user_id = ANY(CAST(:users AS text[])) GROUP BY user_id"
)


def membership_digest(roles: dict[str, str]) -> str | None:
    """The digest `membership_digests` computes, for a room id → role map (None when empty)."""
    if not roles:
        return None
    joined = ",".join(f"{room_id}:{roles[room_id]}" for room_id in sorted(roles))
    return hashlib.md5(joined.encode(), usedforsecurity=False).hexdigest()


async def membership_digests(conn: AsyncConnection, user_ids: Sequence[str]) -> dict[str, str]:
    """Per user, a digest of their memberships (users with none are absent)."""
    rows = (await conn.execute(_MEMBERSHIP_DIGESTS, {"users": list(user_ids)})).all()
    return {r.user_id: r.digest for r in rows}


def _cut(value: str) -> str:
    return value if len(value) <= PREVIEW_CHARS else value[: PREVIEW_CHARS - 1] + "…"


# Keys of the live `system` frame that are the message's, not the event's.
_FRAME_KEYS = frozenset({"type", "message_id", "sequence_number", "timestamp", "room_id"})
# An alert's body: the timeline shows it; a list line has the title.
_LONG_KEYS = frozenset({"text"})


def system_fields(
    event: dict[str, Any], *, user_name: str | None = None, actor_name: str | None = None
) -> dict[str, Any]:
    """`preview.system`: a system event's own fields (scalars, strings cut to 140 characters),
    with `user_display_name` / `actor_display_name` for the people it names.

    The event's stored names win (the names at the time of the event); `user_name` and
    `actor_name` stand in for events stored before events carried names. A live `system`
    frame may be passed as it is: the message's own keys are left out.
    """
    out: dict[str, Any] = {}
    for key, value in event.items():
        if key in _FRAME_KEYS or key in _LONG_KEYS or value is None:
            continue
        if isinstance(value, str):
            out[key] = _cut(value)
        elif isinstance(value, bool | int | float):
            out[key] = value
    for id_key, name_key, name in (("user_id", "user_display_name", user_name), ("actor_id", "actor_display_name", actor_name)):
        if name_key not in out and name and isinstance(out.get(id_key), str):
            out[name_key] = _cut(name)
    return out


def _who(event: dict[str, Any], person: str) -> str | None:
    """A person the event names, by name (by id when it has no name); None when it names none."""
    name = event.get(f"{person}_display_name")
    ident = event.get(f"{person}_id")
    return name if isinstance(name, str) and name else ident if isinstance(ident, str) and ident else None


def _system_line(event: dict[str, Any]) -> str:
    """A system event in English with people's names, for clients that do not read `preview.system`."""
    kind = event.get("event")
    user = _who(event, "user") or "someone"
    actor = _who(event, "actor")
    by = f" by {actor}" if actor else ""
    role = event.get("role") if isinstance(event.get("role"), str) else None
    if kind == "member_added":
        return f"{user} was added{f' as {role}' if role else ''}{by}"
    if kind == "member_removed":
        return f"{user} was removed{by}"
    if kind == "member_role_changed":
        return f"{user} is now {role or 'a new role'}{f' (changed by {actor})' if actor else ''}"
    if kind == "room_status_changed":
        return f"{actor or user} changed the room status from {event.get('old_status')} to {event.get('new_status')}"
    if kind == "alert_resolved":
        return f"Resolved: {event.get('title') or 'alert'}"
    if kind in ("user_joined", "user_left"):
        return f"{user} {kind.removeprefix('user_')}"
    return f"{str(kind or 'event').replace('_', ' ')}{by}"


def preview_text(message_type: str, content: Any) -> str:
    """A one-line label of a message for lists and notifications (at most 140 characters)."""
    if message_type == "text":
        return _cut(content if isinstance(content, str) else "")
    if message_type in ("image_ref", "file_ref"):
        caption = content.strip() if isinstance(content, str) else ""
        return _cut(caption) if caption else ("[image]" if message_type == "image_ref" else "[file]")
    if message_type == "incident_data":
        if isinstance(content, dict):
            parts = [f"{k}: {v if isinstance(v, str | int | float) else _enc.encode(v).decode()}" for k, v in content.items()]
            return _cut("[incident data] " + ", ".join(parts))
        return "[incident data]"
    if message_type == "system" and isinstance(content, dict):
        return _cut(_system_line(content))
    return ""


def _preview(
    *,
    message_id: str,
    sender_id: str,
    sender_name: str | None,
    sender_is_bot: bool,
    message_type: str,
    content: Any,
    created_at: str | None,
    user_name: str | None = None,
) -> dict[str, Any]:
    """The one shape of `preview`, whichever path read the message.

    A system event (extension `preview.system`, docs/user-stream.md) carries its fields with
    the names of the people it names; its `content` is an English line with those names and
    its `sender_display_name` the actor's name (empty when unknown, never an id).
    """
    preview: dict[str, Any] = {
        "message_id": message_id,
        "sender_id": sender_id,
        "sender_display_name": sender_name or sender_id,
        "sender_is_bot": message_type != "system" and sender_is_bot,
        "message_type": message_type,
        "content": preview_text(message_type, content),
        "created_at": created_at,
    }
    if message_type == "system" and isinstance(content, dict):
        actor_name = sender_name if content.get("actor_id") == sender_id else None
        event = system_fields(content, user_name=user_name, actor_name=actor_name)
        preview["sender_display_name"] = event.get("actor_display_name", "")
        preview["content"] = preview_text("system", event)
        preview["system"] = event
    return preview


def preview_of(message: dict[str, Any]) -> dict[str, Any]:
    """The `preview` object of a message object (or a live message or `system` frame).

    `sender_is_bot` (an extension, docs/user-stream.md): the sender is a bot, an incoming
    webhook's; always false for system events, which a room list shows without a sender.
    """
    if message.get("type") == "system":
        # A live `system` frame: the event's fields are the frame's own.
        return _preview(
            message_id=message["message_id"],
            sender_id=message.get("actor_id") or "",
            sender_name=None,
            sender_is_bot=False,
            message_type="system",
            content=message,
            created_at=message.get("timestamp"),
        )
    return _preview(
        message_id=message["message_id"],
        sender_id=message["sender_id"],
        sender_name=message.get("sender_display_name"),
        sender_is_bot=bool(message.get("sender_is_bot")),
        message_type=message["message_type"],
        content=message.get("content"),
        created_at=message["created_at"],
    )


def preview_from_row(r: Any) -> dict[str, Any] | None:
    if r.pv_id is None:
        return None
    mtype = r.pv_type
    content = r.pv_data if mtype in ("incident_data", "system") else r.pv_content
    if isinstance(content, str | bytes) and mtype in ("incident_data", "system"):
        content = msgspec.json.decode(content)
    return _preview(
        message_id=str(r.pv_id),
        sender_id=r.pv_sender,
        sender_name=r.pv_name,
        sender_is_bot=bool(r.pv_bot),
        message_type=mtype,
        content=content,
        created_at=iso(r.pv_at),
        user_name=r.pv_user_name,
    )


async def memberships(conn: AsyncConnection, user_id: str) -> dict[str, str]:
    """The user's rooms and role in each (room id → role)."""
    rows = (await conn.execute(_MEMBERSHIPS, {"u": user_id})).all()
    return {str(r.room_id): r.role for r in rows}


async def memberships_of(conn: AsyncConnection, user_ids: Sequence[str]) -> dict[str, dict[str, str]]:
    """Rooms and roles of several users at once (user id → room id → role)."""
    out: dict[str, dict[str, str]] = {u: {} for u in user_ids}
    for r in (await conn.execute(_ALL_MEMBERSHIPS, {"users": list(user_ids)})).all():
        out.setdefault(r.user_id, {})[str(r.room_id)] = r.role
    return out


async def room_entries(
    conn: AsyncConnection, user_id: str, upto: dict[str, int], *, admin: bool = False
) -> list[dict[str, Any]]:
    """Room-list entries of `user_id` for the rooms in `upto`, counted up to each bound.

    Most recently active first; a room the user is no longer a member of is left out.
    """
    if not upto:
        return []
    rooms = list(upto)
    rows = (
        await conn.execute(
            _ENTRIES,
            {"u": user_id, "rooms": [uuid.UUID(r) for r in rooms], "upto": [upto[r] for r in rooms]},
        )
    ).all()
    return [
        {
            "room_id": str(r.room_id),
            "title": r.title,
            "description": r.description,
            "status": r.status,
            "created_at": iso(r.created_at),
            "role": "OWNER" if admin else r.role,
            "last_sequence_number": int(r.upto),
            "unread_count": int(r.unread),
            "unread_mentions": int(r.unread_mentions),
            "last_message_at": iso(r.last_message_at),
            "preview": preview_from_row(r),
        }
        for r in rows
    ]


async def member_counts(
    conn: AsyncConnection, room_id: str, user_ids: Sequence[str], upto: int
) -> tuple[dict[str, tuple[int, int]], dict[str, Any] | None]:
    """Unread and unread-mention counts of several members, and the room's preview, up to `upto`."""
    params = {"r": uuid.UUID(room_id), "users": list(user_ids), "upto": upto}
    counts = {
        r.user_id: (int(r.unread), int(r.unread_mentions))
        for r in (await conn.execute(_MEMBER_COUNTS, params)).all()
    }
    row = (await conn.execute(_ROOM_PREVIEW, params)).first()
    return counts, (preview_from_row(row) if row is not None else None)
