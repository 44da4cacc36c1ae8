"""Incident-report cost for a large room (issue 17): wall time and peak RSS of
`andon report ROOM --format F` for a room of N messages (default 100,000), per format.

Fills a database of its own straight with SQL (five users, one room; every 10th message
incident data with three fields, every 50th a mention, an edit and a deletion per 1,000, a role
change), then runs the command once per format as a child process and reads the child's own
peak RSS from `wait4`. A small room (`--small`, default 1,000) is measured the same way: a
streamed report's peak should not grow with the room. Prints one JSON object.

    python bench/report_bench.py [--messages 100000] [--formats html,md,csv,json] [--pdf-messages 2000]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import asyncpg

ROOT = Path(__file__).resolve().parent.parent
USERS = [(f"bench{i}@report.bench", f"Bench User {i} 測試") for i in range(5)]


async def fill_room(conn: asyncpg.Connection, messages: int, title: str = "Bench 產線 outage") -> str:
    """A room of `messages` messages written straight into the tables; returns its id."""
    room_id = str(uuid.uuid4())
    await conn.executemany(
        "INSERT INTO tr_users (user_id, display_name) VALUES ($1, $2) ON CONFLICT (user_id) DO NOTHING", USERS
    )
    await conn.execute(
        "INSERT INTO incident_rooms (room_id, title, created_by, last_seq) VALUES ($1, $2, $3, $4)",
        room_id,
        title,
        USERS[0][0],
        messages,
    )
    await conn.executemany(
        "INSERT INTO room_members (room_id, user_id, role) VALUES ($1, $2, $3)",
        [(room_id, uid, "OWNER" if i == 0 else "EDITOR") for i, (uid, _) in enumerate(USERS)],
    )
    await conn.execute(
        """
        INSERT INTO messages (message_id, room_id, sequence_number, sender_id, message_type, content, data,
                              mentions, created_at, edited_at, deleted_at, deleted_by)
        SELECT gen_random_uuid(), $1, g, 'bench' || (g % 5) || '@report.bench',
               CASE WHEN g = 2 THEN 'system' WHEN g % 10 = 0 THEN 'incident_data' ELSE 'text' END,
               CASE WHEN g = 2 OR g % 10 = 0 THEN NULL
                    WHEN g % 50 = 1 THEN '@Bench User 1 測試 please look at step ' || g
                    ELSE 'message ' || g || ': 烤箱溫度 oven zone ' || (g % 7) || ' reading normal, conveyor speed steady' END,
               CASE WHEN g = 2 THEN jsonb_build_object('event', 'member_role_changed', 'user_id', 'bench1@report.bench',
                                                       'actor_id', 'bench0@report.bench', 'role', 'EDITOR')
                    WHEN g % 10 = 0 THEN jsonb_build_object('temp_c', 200 + (g % 97), 'pressure',
                                                            jsonb_build_object('kpa', 100 + (g % 13) / 10.0), 'line', 'L3',
                                                            'defects', g % 4) END,
               CASE WHEN g % 50 = 1 THEN ARRAY['bench1@report.bench']::varchar[] ELSE '{}'::varchar[] END,
               now() - interval '3 days' + g * interval '2 seconds',
               CASE WHEN g % 1000 = 3 THEN now() - interval '3 days' + g * interval '2 seconds' + interval '1 minute' END,
               CASE WHEN g % 1000 = 7 THEN now() - interval '3 days' + g * interval '2 seconds' + interval '1 minute' END,
               CASE WHEN g % 1000 = 7 THEN 'bench0@report.bench' END
        FROM generate_series(1, $2::bigint) g
        """,
        room_id,
        messages,
    )
    await conn.execute(
        """
        INSERT INTO message_edits (message_id, room_id, content, version_at, version_by, replaced_at)
        SELECT message_id, room_id, 'earlier version of ' || sequence_number, created_at, sender_id, edited_at
        FROM messages WHERE room_id = $1 AND edited_at IS NOT NULL
        """,
        room_id,
    )
    return room_id


def run_report(env: dict[str, str], room_id: str, fmt: str, out: str) -> dict[str, Any]:
    """One `andon report` child: wall time, its own peak RSS (wait4), output size."""
    started = time.perf_counter()
    proc = subprocess.Popen(
        [sys.executable, "-m", "api.cli", "report", room_id, "--format", fmt, "--output", out, "--quiet"],
        cwd=str(ROOT),
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    _, status, usage = os.wait4(proc.pid, 0)
    elapsed = time.perf_counter() - started
    proc.returncode = os.waitstatus_to_exitcode(status)
    err = proc.stderr.read().decode() if proc.stderr else ""
    if proc.returncode != 0:
        raise RuntimeError(f"andon report {fmt} failed: {err[-2000:]}")
    return {
        "seconds": round(elapsed, 2),
        "peak_rss_mib": round(usage.ru_maxrss / 1024, 1),
        "output_mib": round(os.path.getsize(out) / 2**20, 2),
    }


async def _admin(admin: str, sql: str, *args: Any) -> None:
    conn = await asyncpg.connect(admin)
    try:
        await conn.execute(sql, *args)
    finally:
        await conn.close()


async def measure(args: argparse.Namespace, url: str) -> dict[str, Any]:
    db = await asyncpg.connect(url)
    try:
        t0 = time.perf_counter()
        big = await fill_room(db, args.messages)
        fill_seconds = time.perf_counter() - t0
        small = await fill_room(db, args.small, "small room")
        pdf_room = await fill_room(db, args.pdf_messages, "PDF room 產線") if args.pdf_messages else None
        await db.execute("ANALYZE")
    finally:
        await db.close()
    env = dict(os.environ)
    env.pop("REDIS_URL", None)
    env["DATABASE_URL"] = url.replace("postgresql://", "postgresql+asyncpg://")
    env.setdefault("ANDON_DATA_DIR", tempfile.mkdtemp(prefix="andon-report-bench-"))
    results: dict[str, Any] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for fmt in [f for f in args.formats.split(",") if f]:
            results[fmt] = {
                f"{args.small}_messages": run_report(env, small, fmt, f"{tmp}/small.{fmt}"),
                f"{args.messages}_messages": run_report(env, big, fmt, f"{tmp}/big.{fmt}"),
            }
        if pdf_room is not None:
            results["pdf"] = {
                f"{args.small}_messages": run_report(env, small, "pdf", f"{tmp}/small.pdf"),
                f"{args.pdf_messages}_messages": run_report(env, pdf_room, "pdf", f"{tmp}/pdf.pdf"),
            }
    return {
        "benchmark": "incident report (andon report)",
        "messages": args.messages,
        "fill_seconds": round(fill_seconds, 1),
        "cpu_count": os.cpu_count(),
        "results": results,
    }


def run(args: argparse.Namespace) -> dict[str, Any]:
    from api.domain.core.db import migrate

    admin = args.admin_url
    name = f"andon_report_bench_{uuid.uuid4().hex[:8]}"
    asyncio.run(_admin(admin, f'CREATE DATABASE "{name}"'))
    url = f"{admin.rsplit('/', 1)[0]}/{name}"
    try:
        migrate(url.replace("postgresql://", "postgresql+asyncpg://"))
        return asyncio.run(measure(args, url))
    finally:
        asyncio.run(
            _admin(
                admin,
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()",
                name,
            )
        )
        asyncio.run(_admin(admin, f'DROP DATABASE IF EXISTS "{name}"'))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--admin-url", default="postgresql://postgres@127.0.0.1:5432/postgres")
    parser.add_argument("--messages", type=int, default=100_000)
    parser.add_argument("--small", type=int, default=1_000)
    parser.add_argument("--formats", default="html,md,csv,json")
    parser.add_argument("--pdf-messages", type=int, default=2_000, help="PDF room size (0: skip the PDF)")
    args = parser.parse_args()
    print(json.dumps(run(args), indent=2))


if __name__ == "__main__":
    main()
