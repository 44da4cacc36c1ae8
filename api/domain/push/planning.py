"""Who is pushed for new messages, and what the push says (CONTRACT §4).

A member is pushed for a new message when their preference for the room says so (the room's
override, else their global `push`, else `mentions`): `all` for every message, `mentions` only
when the message mentions them, `none` never. Never for their own messages, and not while one
of their connections is focused on the room (`Presence.is_focused`). The mention frames of
CONTRACT §3 are published by the send path itself; this module only plans pushes.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from api.domain.messages.plain_text import plain_text
from api.domain.push.prefs import effective_level

PREVIEW_CHARS = 140
# Push services take 4096 encrypted bytes; encryption adds 86, the rest is headroom.
PAYLOAD_LIMIT = 3072
# A mention stays worth delivering for a day; a plain message is stale after an hour.
# An urgent page repeats until acknowledged: a round not delivered within the hour is stale.
TTL_SECONDS = {"mention": 24 * 3600, "message": 3600, "urgent": 3600}
URGENCY = {"mention": "high", "message": "normal", "urgent": "high"}


@dataclass(frozen=True, slots=True)
class Recipient:
    """One user to push one message to, and whether as a mention."""

    message_id: uuid.UUID
    user_id: str
    kind: str  # "mention" | "message"


def preview_of(message_type: str, content: str | None, data: Any) -> str:
    """At most 140 characters of what the message says: its words without their Markdown (a
    notification shows no formatting), the JSON text for incident data."""
    if message_type == "incident_data":
        textual = json.dumps(data, ensure_ascii=False, separators=(",", ":")) if data is not None else ""
    elif content:
        textual = plain_text(content)
    else:
        textual = {"image_ref": "[image]", "file_ref": "[file]"}.get(message_type, "")
    textual = " ".join(textual.split())
    return textual if len(textual) <= PREVIEW_CHARS else textual[: PREVIEW_CHARS - 1] + "…"


def notice_of(row: Any) -> dict[str, Any]:
    """What a push and an urgent page say of a message, from a row with the message's room_id,
    room_title, message_id, sequence_number, sender_display_name, message_type, content and data."""
    return {
        "room_id": str(row.room_id),
        "room_title": row.room_title,
        "message_id": str(row.message_id),
        "sequence_number": int(row.sequence_number),
        "sender_display_name": row.sender_display_name,
        "preview": preview_of(row.message_type, row.content, row.data),
    }


def _size(payload: dict[str, Any]) -> int:
    return len(json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode())


def push_payload(
    *,
    kind: str,
    room_id: str,
    room_title: str,
    message_id: str,
    sequence_number: int,
    sender_display_name: str,
    preview: str,
) -> dict[str, Any]:
    """The push payload of CONTRACT §4, trimmed to fit in `PAYLOAD_LIMIT` bytes of JSON.

    Only the free-text fields can be long (a 200-character title and a 100-character name in
    four-byte characters): they are shortened, never the ids the client navigates by.
    """
    payload: dict[str, Any] = {
        "kind": kind,
        "room_id": room_id,
        "room_title": room_title,
        "message_id": message_id,
        "sequence_number": sequence_number,
        "sender_display_name": sender_display_name,
        "preview": preview[:PREVIEW_CHARS],
        "url": f"/rooms/{room_id}?seq={sequence_number}",
    }
    for key in ("room_title", "sender_display_name", "preview"):
        while _size(payload) > PAYLOAD_LIMIT and payload[key]:
            payload[key] = payload[key][: max(0, len(payload[key]) // 2 - 1)] + "…"
            if payload[key] == "…":
                payload[key] = ""
    return payload


_MESSAGES = text(
    """
    SELECT message_id, sender_id, message_type, mentions, deleted_at
    FROM messages WHERE room_id = :r AND message_id = ANY(CAST(:ids AS uuid[]))
    ORDER BY sequence_number
    """
)
# Only members with somewhere to push to are worth deciding about.
_CANDIDATES = text(
    """
    SELECT m.user_id, p.push AS global_level, p.rooms ->> CAST(:rs AS text) AS room_level
    FROM room_members m
    LEFT JOIN notification_prefs p ON p.user_id = m.user_id
    WHERE m.room_id = :r AND EXISTS (SELECT 1 FROM push_subscriptions s WHERE s.user_id = m.user_id)
    """
)


async def plan_recipients(
    conn: AsyncConnection,
    room_id: uuid.UUID,
    message_ids: Sequence[str],
    focused_among: Callable[[str, list[str]], Awaitable[set[str]]],
) -> list[Recipient]:
    """Everyone to push for these new messages of one room, per the rules above.

    Deleted and system messages push nobody. `focused_among(room_id, user_ids)` (see
    `Presence.focused_among`) is asked once, about everyone who would otherwise be pushed.
    """
    ids = [str(uuid.UUID(str(m))) for m in message_ids]
    if not ids:
        return []
    messages = (await conn.execute(_MESSAGES, {"r": room_id, "ids": ids})).all()
    candidates = (await conn.execute(_CANDIDATES, {"r": room_id, "rs": str(room_id)})).all()
    if not messages or not candidates:
        return []
    levels = {row.user_id: effective_level(row.global_level, row.room_level) for row in candidates}
    planned: list[Recipient] = []
    for msg in messages:
        if msg.deleted_at is not None or msg.message_type == "system":
            continue
        mentioned = set(msg.mentions or ())
        for user_id, level in levels.items():
            if user_id == msg.sender_id or level == "none":
                continue
            if user_id in mentioned:
                planned.append(Recipient(msg.message_id, user_id, "mention"))
            elif level == "all":
                planned.append(Recipient(msg.message_id, user_id, "message"))
    if not planned:
        return []
    focused = await focused_among(str(room_id), sorted({r.user_id for r in planned}))
    return [r for r in planned if r.user_id not in focused]


_PLAN = text(
    """
    INSERT INTO push_deliveries (outbox_id, message_id, subscription_id, user_id, kind)
    SELECT :o, r.message_id, s.subscription_id, s.user_id, r.kind
    FROM unnest(CAST(:mids AS uuid[]), CAST(:uids AS varchar[]), CAST(:kinds AS varchar[]))
         AS r(message_id, user_id, kind)
    JOIN push_subscriptions s ON s.user_id = r.user_id
    ON CONFLICT (message_id, subscription_id, page_round) DO NOTHING
    """
)


async def plan_deliveries(
    conn: AsyncConnection, outbox_id: int | None, recipients: Sequence[Recipient]
) -> None:
    """One `push_deliveries` row per (message, subscription) of each recipient; repeats add nothing."""
    if not recipients:
        return
    await conn.execute(
        _PLAN,
        {
            "o": outbox_id,
            "mids": [r.message_id for r in recipients],
            "uids": [r.user_id for r in recipients],
            "kinds": [r.kind for r in recipients],
        },
    )
