"""Search index lag while messages flow at a steady rate (issue 6: lag p95 < 1 s at 200/s).

Starts `andon serve` and `andon worker` on a fresh database, sends `--rate` messages/s for
`--seconds` over one WebSocket, waits until every message is in the index, then computes the
lag of each one in SQL: `search_documents.indexed_at - messages.created_at` (the commit of the
indexing transaction minus the commit of the message). Prints one JSON object.

    python bench/index_lag_bench.py --rate 200 --seconds 10
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path

import asyncpg
import httpx
import websockets

ROOT = Path(__file__).resolve().parent.parent
ADMIN = os.environ.get("ANDON_BENCH_PG_ADMIN_URL", "postgresql://postgres@127.0.0.1:5432/test")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def run(args: argparse.Namespace) -> dict[str, object]:
    name = f"andon_lag_{uuid.uuid4().hex[:8]}"
    admin = await asyncpg.connect(ADMIN)
    await admin.execute(f'CREATE DATABASE "{name}"')
    await admin.close()
    base_url = ADMIN.rsplit("/", 1)[0] + f"/{name}"
    port = free_port()
    data_dir = Path(f"/tmp/andon-lag-{name}")
    data_dir.mkdir(parents=True, exist_ok=True)
    env = {k: v for k, v in os.environ.items() if k not in ("MEILI_URL",)}
    env.update(
        {
            "DATABASE_URL": base_url.replace("postgresql://", "postgresql+asyncpg://"),
            "REDIS_URL": args.redis,
            "ANDON_REDIS_PREFIX": name,
            "ANDON_PORT": str(port),
            "ANDON_DATA_DIR": str(data_dir),
            "LOG_LEVEL": "WARNING",
            "RATE_LIMIT_PER_SECOND": "100000",
            "RATE_LIMIT_BURST": "100000",
            "DB_POOL_SIZE": "5",
            "DB_MAX_OVERFLOW": "5",
        }
    )
    cli = [sys.executable, "-m", "api.cli"]
    subprocess.run([*cli, "migrate"], cwd=ROOT, env=env, check=True, capture_output=True, timeout=120)
    subprocess.run(
        [*cli, "users", "add", "lag@bench.local", "--name", "Lag", "--password", "lag-bench-pw"],
        cwd=ROOT,
        env=env,
        check=True,
        capture_output=True,
        timeout=120,
    )
    procs = [
        subprocess.Popen(
            [*cli, "serve", "--no-worker"],
            cwd=ROOT,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        ),
        subprocess.Popen(
            [*cli, "worker"],
            cwd=ROOT,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        ),
    ]
    base = f"http://127.0.0.1:{port}"
    try:
        async with httpx.AsyncClient(base_url=base, timeout=20) as client:
            deadline = time.monotonic() + 60
            while True:
                try:
                    if (await client.get("/readyz")).status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                if time.monotonic() > deadline:
                    raise SystemExit("server did not start")
                await asyncio.sleep(0.2)
            token = (
                await client.post(
                    "/api/auth/login", json={"email": "lag@bench.local", "password": "lag-bench-pw"}
                )
            ).json()["token"]
            room = (
                await client.post(
                    "/api/rooms", json={"title": "lag"}, headers={"Authorization": f"Bearer {token}"}
                )
            ).json()["room_id"]
        total = int(args.rate * args.seconds)
        acked = 0
        async with websockets.connect(
            f"ws://127.0.0.1:{port}/ws/{room}", additional_headers={"Authorization": f"Bearer {token}"}
        ) as ws:
            await ws.recv()

            async def reader() -> None:
                nonlocal acked
                while acked < total:
                    frame = json.loads(await asyncio.wait_for(ws.recv(), 30))
                    if frame.get("type") == "ack":
                        acked += 1

            read_task = asyncio.create_task(reader())
            start = time.monotonic()
            for i in range(total):
                # A paced schedule, not sleep drift: message i leaves at start + i / rate.
                delay = start + i / args.rate - time.monotonic()
                if delay > 0:
                    await asyncio.sleep(delay)
                await ws.send(
                    json.dumps(
                        {
                            "type": "message",
                            "content": f"press line {i % 7} pressure reading {i}",
                            "client_id": f"c{i}",
                        }
                    )
                )
            await asyncio.wait_for(read_task, 60)
        conn = await asyncpg.connect(base_url)
        try:
            deadline = time.monotonic() + 120
            while await conn.fetchval("SELECT count(*) FROM search_documents WHERE NOT deleted") < total:
                if time.monotonic() > deadline:
                    raise SystemExit("not every message was indexed within 120 s")
                await asyncio.sleep(0.2)
            row = await conn.fetchrow(
                """
                SELECT count(*) AS n,
                       percentile_cont(0.5) WITHIN GROUP (ORDER BY lag) AS p50,
                       percentile_cont(0.95) WITHIN GROUP (ORDER BY lag) AS p95,
                       percentile_cont(0.99) WITHIN GROUP (ORDER BY lag) AS p99,
                       max(lag) AS max
                FROM (SELECT extract(epoch FROM d.indexed_at - m.created_at) * 1000 AS lag
                      FROM search_documents d JOIN messages m ON m.message_id = d.message_id) x
                """
            )
            outbox = await conn.fetchrow(
                """
                SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM enqueued_at - created_at) * 1000) AS enqueue_p50,
                       percentile_cont(0.95) WITHIN GROUP (ORDER BY extract(epoch FROM enqueued_at - created_at) * 1000) AS enqueue_p95,
                       percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM done_at - created_at) * 1000) AS done_p50,
                       percentile_cont(0.95) WITHIN GROUP (ORDER BY extract(epoch FROM done_at - created_at) * 1000) AS done_p95,
                       count(*) AS rows
                FROM outbox WHERE kind = 'messages.created'
                """
            )
        finally:
            await conn.close()
        p95 = round(float(row["p95"]), 1)
        return {
            "benchmark": "index_lag",
            "rate_per_second": args.rate,
            "messages": int(row["n"]),
            "lag_ms": {k: round(float(row[k]), 1) for k in ("p50", "p95", "p99", "max")},
            "outbox": {k: (round(float(v), 1) if v is not None else None) for k, v in dict(outbox).items()},
            "target": {"metric": "lag_ms.p95", "limit": 1000.0, "met": p95 < 1000.0},
            "loadavg": os.getloadavg(),
        }
    finally:
        for proc in procs:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
        for proc in procs:
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
        admin = await asyncpg.connect(ADMIN)
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rate", type=float, default=200.0)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--redis", default="redis://127.0.0.1:6379/0")
    print(json.dumps(asyncio.run(run(parser.parse_args())), indent=2))


if __name__ == "__main__":
    main()
