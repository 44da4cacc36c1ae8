"""History page latency from the primary vs from a streaming replica (issue 19, item 5).

Starts a private primary and a `pg_basebackup -R` replica (tests.support.pg_replica, Debian's
PostgreSQL binaries) on free loopback ports, fills the primary with `bench/gen_corpus.py`
(small by default), waits for the replica, and then, for each target, times history pages
(`api.domain.messages.read.history_page`: the newest page and pages at random
`before_sequence` cursors) from `--readers` concurrent readers while a writer inserts into the
primary at `--write-rate` rows/s (WAL to stream and replay, the load a replica takes reads off):

* `primary`: every read on the primary (`Database.read`);
* `replica`: every read through `Replica.read` (the replay-position check, then the page on the
  replica); readers who "wrote" (a remembered WAL position) are a share `--writer-share` of them.

Prints one JSON object: per target p50/p95/p99 in ms, pages/s, how many reads the replica served,
and the CPU seconds each server spent per page. Both servers and the generator share this
machine's cores, so the replica adds no hardware here: the figures show the cost of routing and
of the LSN check, not the relief of a primary on its own host.

    python bench/replica_bench.py --seconds 10 --messages 60000
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from redis.asyncio import Redis  # noqa: E402
from sqlalchemy import text  # noqa: E402

from api.domain.core.db import Database, create_engine  # noqa: E402
from api.domain.core.replica import Replica  # noqa: E402
from api.domain.core.settings import Settings  # noqa: E402
from api.domain.messages.read import history_page  # noqa: E402
from bench.history_bench import summary  # noqa: E402
from tests.support.pg_replica import PrimaryAndReplica  # noqa: E402

DATABASE = "andon_replica_bench"


def cpu_seconds(pid: int) -> float:
    """utime + stime of a process and its reaped children (PostgreSQL's backends are children)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    ticks = sum(int(fields[i]) for i in (11, 12, 13, 14))
    return ticks / os.sysconf("SC_CLK_TCK")


def tree_cpu(pid: int) -> float:
    """CPU seconds of a server: the postmaster (with the backends it reaped) and its live backends."""
    total = cpu_seconds(pid)
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
            if int(fields[1]) == pid:
                total += cpu_seconds(int(stat.parent.name))
        except (FileNotFoundError, ProcessLookupError, ValueError, IndexError):
            pass  # a backend that exited meanwhile: its time is in the postmaster's children fields
    return total


async def rooms_of(db: Database) -> list[tuple[uuid.UUID, int]]:
    async with db.read() as conn:
        rows = (await conn.execute(text("SELECT room_id, last_seq FROM incident_rooms WHERE last_seq > 100"))).all()
    return [(r.room_id, int(r.last_seq)) for r in rows]


async def writer(pair: PrimaryAndReplica, rate: float, stop: asyncio.Event) -> int:
    """Rows into a scratch table on the primary at `rate`/s until `stop` (WAL for the replica)."""
    import asyncpg

    conn = await asyncpg.connect(pair.primary.admin_url.rsplit("/", 1)[0] + f"/{DATABASE}")
    await conn.execute("CREATE TABLE IF NOT EXISTS bench_writes (id bigserial PRIMARY KEY, body text)")
    written, start = 0, time.monotonic()
    try:
        while not stop.is_set():
            await conn.execute("INSERT INTO bench_writes (body) VALUES ($1)", "x" * 400)
            written += 1
            ahead = written / rate - (time.monotonic() - start)
            if ahead > 0:
                await asyncio.sleep(ahead)
    finally:
        await conn.close()
    return written


async def reader(read: Any, rooms: list[tuple[uuid.UUID, int]], until: float, seed: int) -> list[float]:
    r = random.Random(seed)
    took: list[float] = []
    while time.monotonic() < until:
        room_id, last = r.choice(rooms)
        before = None if r.random() < 0.3 else r.randint(60, last)
        t0 = time.perf_counter()
        async with read() as conn:
            await history_page(conn, room_id, limit=50, before_sequence=before)
        took.append((time.perf_counter() - t0) * 1000)
    return took


async def measure(args: argparse.Namespace, pair: PrimaryAndReplica, target: str) -> dict[str, Any]:
    settings = Settings(db_pool_size=args.readers + 2, db_max_overflow=0)
    db = Database(create_engine(settings, pair.primary.url(DATABASE)))
    replica_engine = create_engine(settings, pair.replica.url(DATABASE))
    redis = Redis.from_url(args.redis_url)
    prefix = f"replicabench{uuid.uuid4().hex[:6]}"
    replica = Replica(db, replica_engine, redis, prefix)
    rooms = await rooms_of(db)
    writers = [f"w{i}" for i in range(max(1, round(args.readers * args.writer_share)))]
    await replica.note_write(writers)
    served = {"replica": 0, "primary": 0}

    def router(user: str | None) -> Any:
        if target == "primary":
            return db.read
        def read() -> Any:
            return replica.read(user)
        return read

    stop = asyncio.Event()
    write_task = asyncio.create_task(writer(pair, args.write_rate, stop))
    cpu0 = {"primary": tree_cpu(pair.primary.proc.pid), "replica": tree_cpu(pair.replica.proc.pid)}  # type: ignore[union-attr]
    until = time.monotonic() + args.seconds
    users = [writers[i] if i < len(writers) else None for i in range(args.readers)]
    results = await asyncio.gather(*(reader(router(u), rooms, until, i) for i, u in enumerate(users)))
    stop.set()
    written = await write_task
    cpu1 = {"primary": tree_cpu(pair.primary.proc.pid), "replica": tree_cpu(pair.replica.proc.pid)}  # type: ignore[union-attr]
    took = [t for r in results for t in r]
    from api.domain.core import metrics

    for label in served:
        served[label] = int(metrics.REPLICA_READS.labels(label)._value.get())
    await redis.aclose()
    await replica_engine.dispose()
    await db.dispose()
    return {
        "target": target,
        "pages": len(took),
        "pages_per_s": round(len(took) / args.seconds, 1),
        "latency_ms": summary(took),
        "rows_written": written,
        "cpu_ms_per_page": {k: round((cpu1[k] - cpu0[k]) * 1000 / max(1, len(took)), 3) for k in cpu0},
        "replica_reads_counter": served,
    }


def fill(pair: PrimaryAndReplica, args: argparse.Namespace) -> None:
    url = pair.primary.url(DATABASE)
    subprocess.run(
        [
            sys.executable, str(ROOT / "bench" / "gen_corpus.py"), "--url", url, "--create", "--quiet",
            "--messages", str(args.messages), "--rooms", "20", "--big-room", str(args.messages // 4),
            "--users", "200", "--rooms-per-user", "5", "--workers", "1",
        ],
        check=True,
        stdout=subprocess.DEVNULL,
        timeout=600,
    )


async def run(args: argparse.Namespace) -> dict[str, Any]:
    pair = await asyncio.to_thread(PrimaryAndReplica.start)  # it waits with asyncio.run of its own
    try:
        started = time.monotonic()
        await asyncio.to_thread(fill, pair, args)
        await pair.caught_up(300)
        out: dict[str, Any] = {"messages": args.messages, "setup_s": round(time.monotonic() - started, 1)}
        for target in args.targets:
            out[target] = await measure(args, pair, target)
        out["settings"] = {k: v for k, v in vars(args).items() if k != "redis_url"}
        return out
    finally:
        pair.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--messages", type=int, default=60_000)
    parser.add_argument("--readers", type=int, default=8)
    parser.add_argument("--writer-share", type=float, default=0.25, help="share of readers with a remembered write")
    parser.add_argument("--write-rate", type=float, default=200.0, help="rows/s inserted into the primary meanwhile")
    parser.add_argument("--targets", nargs="+", default=["primary", "replica"], choices=["primary", "replica"])
    parser.add_argument("--redis-url", default=os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0"))
    print(json.dumps(asyncio.run(run(parser.parse_args())), indent=2))


if __name__ == "__main__":
    main()
