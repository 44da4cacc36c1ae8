"""The worker appends every edit and deletion to the room's hash chain; `andon audit verify`
recomputes it and names the first broken link."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from typing import Any

import asyncpg
import pytest

from tests.support.clients import Api, WsClient
from tests.support.servers import ROOT
from tests.workers.conftest import Stack, eventually

pytestmark = pytest.mark.asyncio(loop_scope="session")


async def _verify(stack: Stack, room_id: str) -> tuple[int, str]:
    env = dict(os.environ)
    env.pop("REDIS_URL", None)
    env["DATABASE_URL"] = stack.database_url
    env["ANDON_DATA_DIR"] = stack.env["ANDON_DATA_DIR"]
    proc = await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-m", "api.cli", "audit", "verify", room_id],
        cwd=str(ROOT),
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    return proc.returncode, proc.stdout + proc.stderr


async def _entries(pg: asyncpg.Connection, room_id: str, count: int) -> list[asyncpg.Record]:
    async def enough() -> list[asyncpg.Record]:
        rows = await pg.fetch("SELECT * FROM audit_log WHERE room_id = $1 ORDER BY chain_index", room_id)
        return rows if len(rows) >= count else []

    return await eventually(enough, what=f"{count} audit entries")


async def _edit(ws: WsClient, message_id: str, content: str) -> dict[str, Any]:
    await ws.send({"type": "edit_message", "message_id": message_id, "content": content})
    return await ws.next("message_edited")


async def _delete(ws: WsClient, message_id: str) -> dict[str, Any]:
    await ws.send({"type": "delete_message", "message_id": message_id})
    return await ws.next("message_deleted")


async def _room_with_history(client: Api) -> tuple[str, list[str]]:
    """A room where a message was edited twice and another deleted, in quick succession."""
    alice = await client.user("alice")
    room = await client.room_with(alice)
    ws = await client.connect(alice, room)
    first = await ws.send_message("oven zone 4: 250°C")
    second = await ws.send_message("wrong room, sorry")
    await _edit(ws, first["message_id"], "oven zone 4: 255°C")
    await _edit(ws, first["message_id"], "oven zone 4: 260°C")
    await _delete(ws, second["message_id"])
    await ws.close()
    return room, [first["message_id"], second["message_id"]]


async def test_edits_and_deletions_are_chained_in_commit_order_and_verify_passes(
    stack: Stack, client: Api, pg: asyncpg.Connection
) -> None:
    room, (first, second) = await _room_with_history(client)

    entries = await _entries(pg, room, 3)

    assert [(e["chain_index"], e["action"], str(e["message_id"])) for e in entries] == [
        (0, "edit", first),
        (1, "edit", first),
        (2, "delete", second),
    ]
    bodies = [e["body"] if isinstance(e["body"], dict) else json.loads(e["body"]) for e in entries]
    assert (bodies[0]["before"]["content"], bodies[0]["after"]["content"]) == (
        "oven zone 4: 250°C",
        "oven zone 4: 255°C",
    )
    assert (bodies[1]["before"]["content"], bodies[1]["after"]["content"]) == (
        "oven zone 4: 255°C",
        "oven zone 4: 260°C",
    )
    # The deleted text reaches nobody any more, except through the audit trail.
    assert bodies[2]["content"] == "wrong room, sorry"
    assert entries[0]["prev_hash"] == "0" * 64
    assert [e["prev_hash"] for e in entries[1:]] == [e["hash"] for e in entries[:-1]]
    code, out = await _verify(stack, room)
    assert code == 0, out
    assert out.startswith("OK") and "3 audit entries" in out


async def test_verify_names_an_altered_entry(stack: Stack, client: Api, pg: asyncpg.Connection) -> None:
    room, _ = await _room_with_history(client)
    await _entries(pg, room, 3)

    # someone rewrites what an edit said, leaving the hashes as they were
    await pg.execute(
        "UPDATE audit_log SET body = jsonb_set(body, '{after,content}', '\"oven zone 4: 200°C\"') "
        "WHERE room_id = $1 AND chain_index = 1",
        room,
    )

    code, out = await _verify(stack, room)
    assert code == 1, out
    assert "BROKEN" in out and "entry 1 " in out and "altered" in out


async def test_verify_names_the_link_after_an_entry_rewritten_with_a_fresh_hash(
    stack: Stack, client: Api, pg: asyncpg.Connection
) -> None:
    room, _ = await _room_with_history(client)
    await _entries(pg, room, 3)

    # a more careful forger also recomputes the altered entry's own hash
    await pg.execute(
        "UPDATE audit_log SET actor_id = 'someone-else@example.com', hash = repeat('a', 64) "
        "WHERE room_id = $1 AND chain_index = 0",
        room,
    )
    code, out = await _verify(stack, room)
    assert code == 1, out
    assert "entry 0 " in out  # its hash no longer matches its contents

    # ... and the hash as the chain's own rule computes it: then the next link gives it away
    from api.domain.audit import entry_hash

    row = await pg.fetchrow("SELECT * FROM audit_log WHERE room_id = $1 AND chain_index = 0", room)
    body = row["body"] if isinstance(row["body"], dict) else json.loads(row["body"])
    forged = entry_hash(
        room_id=room,
        chain_index=0,
        outbox_id=row["outbox_id"],
        action=row["action"],
        message_id=str(row["message_id"]),
        actor_id=row["actor_id"],
        body=body,
        created_at=row["created_at"],
        prev_hash=row["prev_hash"],
    )
    await pg.execute("UPDATE audit_log SET hash = $2 WHERE room_id = $1 AND chain_index = 0", room, forged)
    code, out = await _verify(stack, room)
    assert code == 1, out
    assert "entry 1 " in out and "prev_hash" in out


async def test_verify_notices_an_entry_removed_from_the_end(
    stack: Stack, client: Api, pg: asyncpg.Connection
) -> None:
    room, _ = await _room_with_history(client)
    await _entries(pg, room, 3)

    await pg.execute("DELETE FROM audit_log WHERE room_id = $1 AND chain_index = 2", room)

    code, out = await _verify(stack, room)
    assert code == 1, out
    assert "entry 2" in out and "missing" in out


async def test_verify_refuses_an_unknown_room(stack: Stack) -> None:
    code, out = await _verify(stack, "5b0c8a40-0000-4000-8000-000000000000")
    assert code == 2
    assert "no room" in out
