"""Fan-out through one Redis vs a three-master Redis Cluster (issue 19, item 4).

For each configuration it starts its own Redis (`redis-server` on a free loopback port, or a
three-master cluster from `tests.support.redis_cluster`), two `andon serve` processes on one
database (so every room has members on both processes and its traffic crosses Redis), and runs
`bench/ws_load.py` scenario c (scenario b across two processes) with a shortened window. It
prints one JSON object: per configuration fan-out and ack latency, persisted messages/s,
integrity, and CPU per message of the servers and of the Redis processes.

Generator, servers, PostgreSQL and Redis share this machine's cores: the cluster adds no
hardware here, so the figures show what sharded pub/sub costs or saves per message, not what
three Redis hosts would carry.

    python bench/redis_cluster_bench.py --duration 8 --connections 400 --rooms 20 --rate 100
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
import uuid
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import asyncpg  # noqa: E402

from api.domain.core.db import migrate  # noqa: E402
from tests.support.private_services import PrivateRedis  # noqa: E402
from tests.support.redis_cluster import RedisCluster  # noqa: E402
from tests.support.servers import ServerProcess, start_server  # noqa: E402

ADMIN = os.environ.get("ANDON_BENCH_PG_ADMIN", "postgresql://postgres@127.0.0.1:5432/postgres")


async def _admin(sql: str) -> None:
    conn = await asyncpg.connect(ADMIN)
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


def _db_url(name: str) -> str:
    return ADMIN.rsplit("/", 1)[0].replace("postgresql://", "postgresql+asyncpg://") + f"/{name}"


def _load(args: argparse.Namespace, env: dict[str, str], servers: list[ServerProcess], redis_pids: list[int]) -> dict[str, Any]:
    out = Path(tempfile.mkstemp(prefix="andon-cluster-bench-", suffix=".json")[1])
    command = [
        sys.executable, str(ROOT / "bench" / "ws_load.py"), "--scenario", "c",
        "--connections", str(args.connections), "--rooms", str(args.rooms), "--senders", str(args.senders),
        "--users", str(args.users),
        "--rate", str(args.rate), "--duration", str(args.duration), "--max-seconds", str(args.duration + 240),
        "--andon-cmd", str(Path(sys.executable).parent / "andon"), "--output", str(out),
    ]
    for server in servers:
        command += ["--url", server.base_url, "--server-pid", str(server.pid)]
    for pid in redis_pids:
        command += ["--aux-pid", str(pid)]
    try:
        subprocess.run(command, env={**os.environ, **env}, check=False, stdout=subprocess.DEVNULL, timeout=args.duration + 300)
        report: dict[str, Any] = json.loads(out.read_text() or "{}")
    finally:
        out.unlink(missing_ok=True)
    return report


def _summary(report: dict[str, Any]) -> dict[str, Any]:
    persisted = report.get("persisted_per_second") or 0
    cpu = report.get("cpu_during_run") or {}
    acked = (report.get("send") or {}).get("acked") or 0

    def per_message(key: str) -> float | None:
        used = cpu.get(f"{key}_cpu_seconds")
        return round(used * 1000 / acked, 3) if used is not None and acked else None

    return {
        "persisted_per_second": persisted,
        "fanout_all_latency_ms": report.get("fanout_all_latency_ms"),
        "ack_latency_ms": report.get("ack_latency_ms"),
        "integrity_all_zero": (report.get("integrity") or {}).get("all_zero"),
        "missing_pairs": (report.get("delivery") or {}).get("missing_pairs"),
        "acked": acked,
        "server_cpu_ms_per_message": per_message("server"),
        "redis_cpu_ms_per_message": per_message("aux"),
    }


def run_config(kind: str, args: argparse.Namespace, database_url: str) -> dict[str, Any]:
    single: PrivateRedis | None = None
    cluster: RedisCluster | None = None
    servers: list[ServerProcess] = []
    data = tempfile.mkdtemp(prefix="andon-cluster-bench-data-")
    env = {
        "DATABASE_URL": database_url,
        "ANDON_REDIS_PREFIX": f"clusterbench{uuid.uuid4().hex[:6]}",
        "ANDON_DATA_DIR": data,
        "RATE_LIMIT_PER_SECOND": "100000",
        "RATE_LIMIT_BURST": "100000",
        # The generator signs its users in, creating the missing ones: first attempts fail.
        "LOGIN_FAILURES_PER_ADDRESS": "100000",
        "LOGIN_FAILURES_PER_ACCOUNT": "100000",
        "DB_POOL_SIZE": "10",
        "DB_MAX_OVERFLOW": "10",
        "LOG_LEVEL": "WARNING",
    }
    try:
        if kind == "single":
            single = PrivateRedis.create()
            single.start()
            env["REDIS_URL"] = single.url
            pids = [single.proc.pid] if single.proc else []
        else:
            cluster = RedisCluster.start()
            env.update(REDIS_CLUSTER_NODES=cluster.nodes, CELERY_BROKER_URL=os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0"))
            pids = [p.pid for p in cluster.procs]
        servers = [start_server(env) for _ in range(2)]
        return _summary(_load(args, env, servers, pids))
    finally:
        for server in servers:
            if args.keep_logs:
                print(f"--- {kind} server {server.pid}\n{server.log()[-args.keep_logs:]}", file=sys.stderr)
            server.stop()
        if single is not None:
            single.destroy()
        if cluster is not None:
            cluster.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--duration", type=float, default=8.0)
    parser.add_argument("--connections", type=int, default=400)
    parser.add_argument("--rooms", type=int, default=20)
    parser.add_argument("--senders", type=int, default=40)
    parser.add_argument("--rate", type=float, default=100.0)
    parser.add_argument("--keep-logs", type=int, default=0, help="print the last N characters of each server's log")
    parser.add_argument("--users", type=int, default=40, help="distinct users (created once, by the CLI)")
    parser.add_argument("--configs", nargs="+", default=["single", "cluster"], choices=["single", "cluster"])
    args = parser.parse_args()
    name = f"andon_cluster_bench_{uuid.uuid4().hex[:8]}"
    asyncio.run(_admin(f'CREATE DATABASE "{name}"'))
    try:
        migrate(_db_url(name))
        out: dict[str, Any] = {"settings": vars(args)}
        for kind in args.configs:
            out[kind] = run_config(kind, args, _db_url(name))
        print(json.dumps(out, indent=2))
    finally:
        asyncio.run(_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


if __name__ == "__main__":
    main()
