"""The worker keeps the search index in line with messages: indexed on create, re-indexed on
edit, removed on delete, and never set back by a task that runs again later."""

from __future__ import annotations

import asyncpg
import pytest

from tests.support.clients import Api
from tests.workers.conftest import eventually

pytestmark = pytest.mark.asyncio(loop_scope="session")


async def _doc(pg: asyncpg.Connection, message_id: str) -> asyncpg.Record | None:
    return await pg.fetchrow(
        "SELECT content, version, deleted, sender_display_name FROM search_documents WHERE message_id = $1",
        message_id,
    )


async def test_created_edited_and_deleted_messages_reach_the_index(
    client: Api, pg: asyncpg.Connection
) -> None:
    alice = await client.user("alice", display_name="Alice Chen")
    room = await client.room_with(alice)
    ws = await client.connect(alice, room)

    ack = await ws.send_message("reflow oven zone 4 overheating 迴焊爐")
    created = await eventually(lambda: _doc(pg, ack["message_id"]), what="document indexed")
    assert created["content"] == "reflow oven zone 4 overheating 迴焊爐"
    assert created["sender_display_name"] == "Alice Chen" and not created["deleted"]

    await ws.send(
        {"type": "edit_message", "message_id": ack["message_id"], "content": "zone 4 back to normal"}
    )
    await ws.next("message_edited")

    async def edited() -> asyncpg.Record | None:
        doc = await _doc(pg, ack["message_id"])
        return doc if doc is not None and doc["content"] == "zone 4 back to normal" else None

    after_edit = await eventually(edited, what="document re-indexed")
    assert after_edit["version"] > created["version"]

    # when the creation's index job runs again (a redelivery), the edited document stays
    outbox_id = await pg.fetchval(
        "SELECT outbox_id FROM outbox WHERE kind = 'messages.created' AND payload->'message_ids' ? $1",
        ack["message_id"],
    )
    await pg.execute(
        "UPDATE outbox SET done_at = NULL, done_jobs = '{mentions.notify_messages}', enqueued_at = NULL "
        "WHERE outbox_id = $1",
        outbox_id,
    )
    await eventually(
        lambda: pg.fetchval("SELECT done_at IS NOT NULL FROM outbox WHERE outbox_id = $1", outbox_id),
        what="index job run again",
    )
    again = await _doc(pg, ack["message_id"])
    assert again is not None and (again["content"], again["version"]) == (
        "zone 4 back to normal",
        after_edit["version"],
    )

    await ws.send({"type": "delete_message", "message_id": ack["message_id"]})
    await ws.next("message_deleted")

    async def removed() -> asyncpg.Record | None:
        doc = await _doc(pg, ack["message_id"])
        return doc if doc is not None and doc["deleted"] else None

    tombstone = await eventually(removed, what="document removed")
    assert tombstone["content"] is None
    await ws.close()
