"""Reading messages: the message object, history pages, and sequence ranges for replay."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

import msgspec
from msgspec import UNSET, UnsetType
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from api.domain.core.errors import Invalid
from api.domain.core.timefmt import iso
from api.domain.events import Acknowledgement, Message, split_system_names

MAX_PAGE = 200

# One select list for every reader, so REST, WebSocket replay and gap filling agree.
_MESSAGE_COLUMNS = """
           m.message_id, m.room_id, m.sender_id,
           COALESCE(u.display_name, m.sender_id) AS sender_display_name, COALESCE(u.is_bot, false) AS sender_is_bot,
           m.content, m.data, m.message_type, m.mentions, m.file_id, m.file_url, m.client_id,
           m.created_at, m.edited_at, m.deleted_at, m.deleted_by, m.sequence_number, m.updated_at, m.reactions_at,
           m.priority,
           CASE WHEN m.priority = 'urgent' THEN COALESCE((
               SELECT jsonb_agg(jsonb_build_object(
                          'user_id', a.user_id, 'display_name', COALESCE(au.display_name, a.user_id),
                          'at', to_char(a.acknowledged_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"'))
                      ORDER BY a.acknowledged_at, a.user_id)
               FROM urgent_acks a LEFT JOIN tr_users au ON au.user_id = a.user_id
               WHERE a.message_id = m.message_id), '[]'::jsonb)::text END AS acknowledgements,
           COALESCE((
               SELECT jsonb_object_agg(x.emoji, x.n ORDER BY x.first_at)
               FROM (SELECT r.emoji, count(*) AS n, min(r.created_at) AS first_at
                     FROM message_reactions r WHERE r.message_id = m.message_id
                     GROUP BY r.emoji) x
           ), '{}'::jsonb)::text AS reactions,
           (SELECT jsonb_build_object('filename', f.filename, 'content_type', f.content_type, 'size', f.size)
            FROM uploaded_files f WHERE f.file_id = m.file_id)::text AS file_info"""


def select_messages(extra_columns: str = "", extra_joins: str = "") -> str:
    """`SELECT … FROM messages m` with the message object's columns, plus a reader's own.

    `extra_columns` starts with a comma; `extra_joins` may use `m` (messages) and `u` (sender).
    """
    return (
        f"SELECT {_MESSAGE_COLUMNS}{extra_columns}\n    FROM messages m\n"
        f"    LEFT JOIN tr_users u ON u.user_id = m.sender_id\n{extra_joins}"
    )


SELECT_MESSAGE = select_messages()

# For one reader (REST history): also the emoji this reader has put on each message, so a
# client on any device knows whether a click on a reaction adds it or takes it back.
SELECT_MESSAGE_FOR_VIEWER = select_messages(
    """,
           ARRAY(SELECT r.emoji FROM message_reactions r
                 WHERE r.message_id = m.message_id AND r.user_id = :viewer
                 ORDER BY r.created_at, r.emoji) AS my_reactions,
           COALESCE((
               SELECT jsonb_object_agg(x.emoji, x.who ORDER BY x.first_at)
               FROM (SELECT r.emoji, min(r.created_at) AS first_at,
                            jsonb_agg(jsonb_build_object(
                                'user_id', r.user_id,
                                'display_name', COALESCE(ru.display_name, r.user_id)
                            ) ORDER BY r.created_at, r.user_id) AS who
                     FROM message_reactions r LEFT JOIN tr_users ru ON ru.user_id = r.user_id
                     WHERE r.message_id = m.message_id
                     GROUP BY r.emoji) x
           ), '{}'::jsonb)::text AS reacted_by"""
)


def _json(value: Any) -> Any:
    if isinstance(value, str | bytes):
        return msgspec.json.decode(value)
    return value


def message_object(row: Any) -> Message:
    """The contract's message object from a row of SELECT_MESSAGE (deleted content masked)."""
    r = row._mapping if hasattr(row, "_mapping") else row
    mtype = r["message_type"]
    if r["deleted_at"] is not None:
        content: Any = None
    elif mtype in ("incident_data", "system"):
        content = _json(r["data"])
    else:
        content = r["content"]
    names: dict[str, str] | UnsetType = UNSET
    if mtype == "system":
        content, names = split_system_names(content)
    return Message(
        message_id=str(r["message_id"]),
        room_id=str(r["room_id"]),
        sender_id=r["sender_id"],
        sender_display_name=r["sender_display_name"],
        content=content,
        message_type=mtype,
        mentions=list(r["mentions"] or []),
        file_id=str(r["file_id"]) if r["file_id"] else None,
        file_url=r["file_url"],
        client_id=r["client_id"],
        created_at=iso(r["created_at"]),
        edited_at=iso(r["edited_at"]),
        deleted_at=iso(r["deleted_at"]),
        sequence_number=int(r["sequence_number"]),
        reactions=(_json(r["reactions"]) if r["reactions"] is not None else None) or {},
        sender_is_bot=bool(r["sender_is_bot"]),
        my_reactions=list(r["my_reactions"] or []) if "my_reactions" in r else UNSET,
        # Extensions: the attachment's name, sniffed type and size (null once deleted), and
        # (REST history) who reacted.
        file=_json(r["file_info"]) if r.get("file_info") is not None and r["deleted_at"] is None else None,
        reacted_by=(_json(r["reacted_by"]) or {}) if "reacted_by" in r else UNSET,
        priority=r["priority"],
        acknowledgements=[Acknowledgement(**a) for a in _json(r["acknowledgements"])]
        if r["acknowledgements"] is not None
        else UNSET,
        names=names,
    )


def add_condition(conds: list[str], params: dict[str, Any], clause: str, **given: Any) -> None:
    """Add `clause` and its one parameter (`name=value`) when the value is given (not None)."""
    ((name, value),) = given.items()
    if value is not None:
        conds.append(clause)
        params[name] = value


def clamp_limit(limit: int | None, default: int = 50, maximum: int = MAX_PAGE) -> int:
    """Contract: above the maximum is clamped; below 1 is an error (422)."""
    if limit is None:
        return default
    if limit < 1:
        raise Invalid("limit must be at least 1", code="unprocessable")
    return min(limit, maximum)


async def history_page(
    conn: AsyncConnection,
    room_id: uuid.UUID,
    *,
    limit: int,
    before: datetime | None = None,
    before_sequence: int | None = None,
    after_sequence: int | None = None,
    viewer: str | None = None,
) -> dict[str, Any]:
    """A page of history: newest first (before / before_sequence), or oldest first (after_sequence).

    With `viewer`, each message also carries `my_reactions`: the emoji that user has put on it.
    """
    params: dict[str, Any] = {"r": room_id, "n": limit + 1}
    select = SELECT_MESSAGE
    if viewer is not None:
        select = SELECT_MESSAGE_FOR_VIEWER
        params["viewer"] = viewer
    if after_sequence is not None:
        params["after"] = after_sequence
        sql = (
            select
            + " WHERE m.room_id = :r AND m.sequence_number > :after ORDER BY m.sequence_number ASC LIMIT :n"
        )
    else:
        conds = ["m.room_id = :r"]
        add_condition(conds, params, "m.sequence_number < :bs", bs=before_sequence)
        add_condition(conds, params, "m.created_at < :bt", bt=before)
        sql = select + " WHERE " + " AND ".join(conds) + " ORDER BY m.sequence_number DESC LIMIT :n"
    rows = (await conn.execute(text(sql), params)).all()
    has_more = len(rows) > limit
    page = [message_object(r) for r in rows[:limit]]
    result: dict[str, Any] = {"messages": page, "has_more": has_more}
    if after_sequence is not None:
        result["next_after_sequence"] = page[-1].sequence_number if page else after_sequence
    else:
        last = page[-1] if page else None
        result["next_before"] = last.created_at if last and has_more else None
        result["next_before_sequence"] = last.sequence_number if last and has_more else None
    return result


async def history_around(
    conn: AsyncConnection, room_id: uuid.UUID, sequence: int, *, limit: int, viewer: str | None = None
) -> dict[str, Any]:
    """Message `sequence` with up to half of `limit` before it and the rest after it, oldest first.

    For opening a room at a message (a mention, a search hit): page on from either end with
    `before_sequence` / `after_sequence`.
    """
    before_n = max(0, (limit - 1) // 2)
    older = await history_page(conn, room_id, limit=before_n, before_sequence=sequence, viewer=viewer) if before_n else None
    newer = await history_page(
        conn, room_id, limit=limit - before_n, after_sequence=sequence - 1, viewer=viewer
    )
    before_msgs = list(reversed(older["messages"])) if older else []
    messages = before_msgs + newer["messages"]
    has_before = bool(older["has_more"]) if older else sequence > 1
    return {
        "messages": messages,
        "has_more_before": has_before,
        "has_more_after": newer["has_more"],
        "has_more": has_before or newer["has_more"],
        "next_before_sequence": messages[0].sequence_number if messages and has_before else None,
        "next_after_sequence": messages[-1].sequence_number if messages else sequence - 1,
    }


async def messages_in_range(
    conn: AsyncConnection, room_id: uuid.UUID, after_seq: int, up_to_seq: int | None = None, limit: int = 1000
) -> list[Message]:
    """Messages with after_seq < sequence_number [<= up_to_seq], ascending (replay, gap fill)."""
    params: dict[str, Any] = {"r": room_id, "a": after_seq, "n": limit}
    cond = "m.room_id = :r AND m.sequence_number > :a"
    if up_to_seq is not None:
        cond += " AND m.sequence_number <= :b"
        params["b"] = up_to_seq
    rows = (
        await conn.execute(
            text(SELECT_MESSAGE + f" WHERE {cond} ORDER BY m.sequence_number LIMIT :n"), params
        )
    ).all()
    return [message_object(r) for r in rows]


async def changed_since(
    conn: AsyncConnection, room_id: uuid.UUID, since_time: datetime, up_to_seq: int, limit: int = 5000
) -> list[tuple[Message, Any]]:
    """Messages up to `up_to_seq` changed (edit, delete, reaction) after `since_time`."""
    rows = (
        await conn.execute(
            text(
                SELECT_MESSAGE + " WHERE m.room_id = :r AND m.sequence_number <= :b AND m.updated_at > :t"
                " ORDER BY m.updated_at, m.sequence_number LIMIT :n"
            ),
            {"r": room_id, "b": up_to_seq, "t": since_time, "n": limit},
        )
    ).all()
    return [(message_object(r), r._mapping) for r in rows]


async def load_message(
    conn: AsyncConnection, room_id: uuid.UUID, message_id: uuid.UUID
) -> Message | None:
    row = (
        await conn.execute(
            text(SELECT_MESSAGE + " WHERE m.room_id = :r AND m.message_id = :id"),
            {"r": room_id, "id": message_id},
        )
    ).first()
    return message_object(row) if row else None


async def latest_reactions(conn: AsyncConnection, message_ids: list[str]) -> dict[str, Any]:
    """Per message, its most recent remaining reaction (a row with `emoji` and `user_id`)."""
    if not message_ids:
        return {}
    rows = (
        await conn.execute(
            text(
                "SELECT DISTINCT ON (message_id) message_id, user_id, emoji FROM message_reactions "
                "WHERE message_id = ANY(CAST(:ids AS uuid[])) ORDER BY message_id, created_at DESC"
            ),
            {"ids": message_ids},
        )
    ).all()
    return {str(r.message_id): r for r in rows}
