"""`andon search reindex`: indexes every live message, resumes from its cursor, reconciles."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid

import asyncpg

from tests.support.clients import Api
from tests.support.servers import ROOT


def _run(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    full = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL", "MEILI_URL")}
    full.update(env)
    return subprocess.run(
        [sys.executable, "-m", "api.cli", "search", "reindex", *args],
        cwd=ROOT,
        env=full,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )


async def test_reindex_then_search_and_reconcile(
    api: Api, base_env: dict[str, str], database_url: str, tmp_path
) -> None:
    alice = await api.user("alice")
    room = await api.room(alice)
    ws = await api.connect(alice, room)
    keep = await ws.send_message("conveyor belt misaligned on line 7")
    drop = await ws.send_message("conveyor jam cleared")
    env = dict(base_env, ANDON_DATA_DIR=str(tmp_path))
    done = _run(env, "--batch", "2")
    assert done.returncode == 0, done.stderr
    assert "indexed" in done.stdout and "indexing [" in done.stderr
    assert not (tmp_path / "search-reindex.cursor").exists()
    hits = (
        await api.http.get("/api/search/messages", params={"q": "conveyor"}, headers=alice.headers)
    ).json()
    assert {h["message_id"] for h in hits["hits"]} >= {keep["message_id"], drop["message_id"]}
    # Deleted behind the index's back (no worker here): the reconcile pass removes the entry.
    conn = await asyncpg.connect(database_url.replace("+asyncpg", ""))
    try:
        await conn.execute(
            "UPDATE messages SET deleted_at = now() WHERE message_id = $1", uuid.UUID(drop["message_id"])
        )
        # A saved cursor past every message: the indexing pass resumes there and indexes nothing new.
        last = await conn.fetchval("SELECT max(message_id::text) FROM messages")
        indexed = await conn.fetchval(
            "SELECT count(*) FROM search_documents WHERE message_id = $1 AND NOT deleted",
            uuid.UUID(drop["message_id"]),
        )
        assert indexed == 1
    finally:
        await conn.close()
    (tmp_path / "search-reindex.cursor").write_text(last)
    again = _run(env)
    assert again.returncode == 0, again.stderr
    assert "reconcile removed" in again.stdout and "reconcile removed 0" not in again.stdout
    conn = await asyncpg.connect(database_url.replace("+asyncpg", ""))
    try:
        left = await conn.fetchval(
            "SELECT count(*) FROM search_documents WHERE message_id = $1 AND NOT deleted",
            uuid.UUID(drop["message_id"]),
        )
    finally:
        await conn.close()
    assert left == 0
