"""History page latency over a large corpus (issue 6: p95 < 10 ms), through a real server.

Uses a database filled by `bench/gen_corpus.py` (1,000,000 messages in 500 rooms, one room of
200,000). Starts `andon serve` on it, mints a sign-in token for an admin (who may read every
room) straight into `auth_tokens`, and times `GET /api/rooms/{id}/messages` pages: the newest
page, and pages at random `before_sequence` cursors, in small rooms and in the big one.
Prints one JSON object.

    python bench/history_bench.py --url postgresql://postgres@127.0.0.1:5432/andon_search_bench
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import os
import random
import secrets
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import asyncpg
import httpx

ROOT = Path(__file__).resolve().parent.parent


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    k = min(len(ordered) - 1, max(0, round(p / 100 * (len(ordered) - 1))))
    return round(ordered[k], 3)


def summary(values: list[float]) -> dict[str, float]:
    return {
        "count": len(values),
        "p50": pct(values, 50),
        "p95": pct(values, 95),
        "p99": pct(values, 99),
        "max": pct(values, 100),
    }


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def prepare(url: str) -> tuple[str, list[tuple[str, int]]]:
    conn = await asyncpg.connect(url)
    try:
        token = secrets.token_urlsafe(32)
        await conn.execute(
            "INSERT INTO tr_users (user_id, display_name, is_admin) VALUES ('bench-admin@andon.local', 'Bench', true) "
            "ON CONFLICT (user_id) DO UPDATE SET is_admin = true"
        )
        await conn.execute(
            "INSERT INTO auth_tokens (token_hash, user_id, expires_at) VALUES ($1, 'bench-admin@andon.local', now() + interval '1 hour')",
            hashlib.sha256(token.encode()).digest(),
        )
        rooms = [
            (str(r["room_id"]), int(r["last_seq"]))
            for r in await conn.fetch("SELECT room_id, last_seq FROM incident_rooms")
        ]
    finally:
        await conn.close()
    return token, rooms


async def run(args: argparse.Namespace) -> dict[str, object]:
    token, rooms = await prepare(args.url)
    big = max(rooms, key=lambda r: r[1])
    small = [r for r in rooms if r != big]
    port = free_port()
    env = {k: v for k, v in os.environ.items() if k not in ("MEILI_URL",)}
    env.update(
        {
            "DATABASE_URL": args.url.replace("postgresql://", "postgresql+asyncpg://"),
            "REDIS_URL": args.redis,
            "ANDON_REDIS_PREFIX": "historybench",
            "ANDON_PORT": str(port),
            "ANDON_DATA_DIR": "/tmp/andon-history-bench",
            "LOG_LEVEL": "WARNING",
            "DB_POOL_SIZE": "4",
            "DB_MAX_OVERFLOW": "4",
        }
    )
    proc = subprocess.Popen(
        [sys.executable, "-m", "api.cli", "serve", "--no-worker"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    base = f"http://127.0.0.1:{port}"
    rng = random.Random(7)
    results: dict[str, list[float]] = {"newest_small": [], "newest_big": [], "deep_small": [], "deep_big": []}
    try:
        async with httpx.AsyncClient(
            base_url=base, headers={"Authorization": f"Bearer {token}"}, timeout=10
        ) as client:
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                try:
                    if (await client.get("/readyz")).status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                await asyncio.sleep(0.2)
            else:
                raise SystemExit("server did not start")
            for _ in range(50):  # warm up caches and the statement cache
                await client.get(f"/api/rooms/{rng.choice(small)[0]}/messages", params={"limit": 50})
            for i in range(args.requests):
                kind = ("newest" if i % 2 == 0 else "deep") + ("_big" if i % 4 in (0, 1) else "_small")
                room_id, last = big if kind.endswith("big") else rng.choice(small)
                params: dict[str, int] = {"limit": 50}
                if kind.startswith("deep"):
                    params["before_sequence"] = rng.randint(2, max(2, last))
                started = time.perf_counter()
                r = await client.get(f"/api/rooms/{room_id}/messages", params=params)
                results[kind].append((time.perf_counter() - started) * 1000)
                if r.status_code != 200:
                    raise SystemExit(f"unexpected status {r.status_code}: {r.text[:200]}")
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(30)
    all_values = [v for vs in results.values() for v in vs]
    return {
        "benchmark": "history_page",
        "rooms": len(rooms),
        "big_room_messages": big[1],
        "page_size": 50,
        "latency_ms": {"all": summary(all_values), **{k: summary(v) for k, v in results.items()}},
        "target": {"metric": "latency_ms.all.p95", "limit": 10.0, "met": pct(all_values, 95) < 10.0},
        "loadavg": os.getloadavg(),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--url", required=True, help="postgresql:// URL of a gen_corpus database")
    parser.add_argument("--redis", default="redis://127.0.0.1:6379/0")
    parser.add_argument("--requests", type=int, default=2000)
    print(json.dumps(asyncio.run(run(parser.parse_args())), indent=2))


if __name__ == "__main__":
    main()
