"""Search latency over the corpus made by bench/gen_corpus.py (issue 6 benchmark, search part).

Each query runs as a real user would: `room_ids` are the rooms one sampled user belongs to
(10 rooms; about 30% of users are in the 200,000-message room), through the same code path the
API uses (`parse_query` -> `SearchQuery` -> `PostgresSearchBackend.search`, highlighting
included), one at a time, with a limit of 20. Query kinds mix what people type in incident
search: part numbers, English words and prefixes, phrases, Chinese words and substrings, mixed
scripts, and operator-only queries (`from:`). Prints JSON: p50/p95/p99 overall, per kind, and
split by whether the user is in the big room.

    python bench/search_bench.py --url postgresql://postgres@127.0.0.1:5432/andon_bench

Two latencies are reported. `wall` is what the client saw. `service` is the CPU time the query
cost: the PostgreSQL backend's (from /proc/PID/schedstat, ns resolution, when the database runs
on this machine) plus the client's own (SQLAlchemy, highlighting). On a shared, oversubscribed
machine wall time is mostly waiting for a CPU; `service` is what an idle server would show
(the data being in memory). The load average and the backend's run-queue wait are printed too.

Not measured here (they need the running server): history page latency and index lag.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import statistics
import sys
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from search.base import SearchQuery
from search.postgres import DEFAULT_RANK_WINDOW, PostgresSearchBackend
from search.query_syntax import parse_query

EN_WORDS = [
    "pump",
    "conveyor",
    "compressor",
    "chiller",
    "spindle",
    "extruder",
    "boiler",
    "overheating",
    "tripped",
    "jammed",
    "leaking",
    "vibration",
    "bearing",
    "sensor",
    "overload",
    "coolant",
    "interlock",
    "servo",
    "encoder",
    "breaker",
    "filter",
    "maintenance",
    "ticket",
    "escalated",
    "isolated",
    "lot",
    "station",
    "welder",
    "kiln",
    "centrifuge",
    "palletizer",
    "labeler",
    "furnace",
    "press",
    "dryer",
    "mixer",
]
EN_PAIRS = [
    "pump overheating",
    "conveyor jammed",
    "bearing noise",
    "pressure drop",
    "motor overload",
    "coolant low",
    "belt slipping",
    "air leak",
    "reset breaker",
    "cleaned filter",
    "servo error",
    "sensor fault",
    "line 12",
    "line 3 pump",
    "robot arm",
    "vacuum pump",
    "hydraulic unit",
    "door interlock",
]
EN_PREFIXES = ["temp", "press", "comp", "vib", "overh", "maint", "escal", "cool", "bear", "conv", "jam"]
PHRASES = [
    '"pressure drop"',
    '"pump tripped"',
    '"reset the breaker"',
    '"called maintenance"',
    '"belt slipping"',
    '"noise from bearing"',
    '"cleaned the filter"',
    '"took a photo"',
    '"lowered the setpoint"',
]
ZH_2 = [
    "溫度",
    "壓力",
    "良率",
    "模具",
    "設備",
    "停機",
    "漏油",
    "異音",
    "馬達",
    "保養",
    "備品",
    "冷卻",
    "報警",
]
ZH_LONG = [
    "溫度上升",
    "壓力異常",
    "冷卻水不足",
    "過載跳脫",
    "感測器故障",
    "皮帶打滑",
    "良率下降",
    "模具需要保養",
    "請確認冷卻水",
    "已通知保養",
    "機械手臂",
    "迴焊爐",
    "空壓機",
    "震動過大",
    "等待備品",
]
MIXED = ["pump 壓力", "line 溫度", "SMT 貼片機", "compressor 空壓機", "LOT 良率", "Bosch 更換"]

KINDS: list[tuple[str, float]] = [
    ("part_number", 0.15),
    ("part_prefix", 0.05),
    ("english_word", 0.12),
    ("english_two_words", 0.10),
    ("english_prefix", 0.08),
    ("phrase", 0.07),
    ("chinese_2", 0.12),
    ("chinese_long", 0.10),
    ("mixed_scripts", 0.08),
    ("part_and_chinese", 0.05),
    ("from_only", 0.04),
    ("word_and_from", 0.04),
]


def make_query(kind: str, r: random.Random, user_ids: list[str]) -> str:
    """A query string of the given kind."""
    if kind == "part_number":
        return f"PJ-{r.randrange(10000):04d}"
    if kind == "part_prefix":
        return f"PJ-{r.randrange(100):02d}"
    if kind == "english_word":
        return r.choice(EN_WORDS)
    if kind == "english_two_words":
        return r.choice(EN_PAIRS)
    if kind == "english_prefix":
        return r.choice(EN_PREFIXES)
    if kind == "phrase":
        return r.choice(PHRASES)
    if kind == "chinese_2":
        return r.choice(ZH_2)
    if kind == "chinese_long":
        return r.choice(ZH_LONG)
    if kind == "mixed_scripts":
        return r.choice(MIXED)
    if kind == "part_and_chinese":
        return f"PJ-{r.randrange(10000):04d} {r.choice(ZH_2)}"
    if kind == "from_only":
        return f"from:{r.choice(user_ids)}"
    if kind == "word_and_from":
        return f"{r.choice(EN_WORDS + ZH_2)} from:{r.choice(user_ids)}"
    raise ValueError(kind)


def estimated_share(flags: list[bool]) -> float:
    """The share of searches whose total was an estimate."""
    return sum(1 for exact in flags if not exact) / max(len(flags), 1)


def percentiles(samples: list[float]) -> dict[str, float]:
    """p50/p95/p99/mean/max in milliseconds."""
    ordered = sorted(samples)

    def pct(p: float) -> float:
        k = min(len(ordered) - 1, max(0, round(p / 100 * len(ordered)) - 1))
        return ordered[k]

    return {
        "n": len(ordered),
        "p50_ms": round(pct(50), 2),
        "p95_ms": round(pct(95), 2),
        "p99_ms": round(pct(99), 2),
        "mean_ms": round(statistics.fmean(ordered), 2),
        "max_ms": round(ordered[-1], 2),
    }


async def run(args: argparse.Namespace) -> dict[str, Any]:
    """Run the benchmark; returns the JSON report."""
    url = args.url.replace("postgresql://", "postgresql+asyncpg://", 1)
    # One connection, so its backend process can be watched.
    engine = create_async_engine(url, pool_size=1, max_overflow=0)
    backend = PostgresSearchBackend(engine, rank_window=args.rank_window)
    await backend.ensure_ready()
    async with engine.connect() as conn:
        backend_pid = int(await conn.scalar(text("SELECT pg_backend_pid()")) or 0)
        rows = (
            await conn.execute(
                text("SELECT user_id, array_agg(room_id::text) AS rooms FROM room_members GROUP BY user_id")
            )
        ).all()
        big_room = await conn.scalar(
            text("SELECT room_id::text FROM search_documents GROUP BY room_id ORDER BY count(*) DESC LIMIT 1")
        )
        corpus = await conn.scalar(text("SELECT count(*) FROM search_documents WHERE NOT deleted"))
    users = {r.user_id: list(r.rooms) for r in rows}
    user_ids = sorted(users)
    r = random.Random(args.seed)
    kinds = [k for k, _ in KINDS]
    weights = [w for _, w in KINDS]

    def schedstat() -> tuple[int, int] | None:
        try:
            with open(f"/proc/{backend_pid}/schedstat", encoding="ascii") as fh:
                on_cpu, waiting, _ = fh.read().split()
            return int(on_cpu), int(waiting)
        except (OSError, ValueError):
            return None

    estimated: list[SearchQuery] = []
    totals_exact_flags: list[bool] = []
    estimates: list[int] = []

    async def one(kind: str) -> tuple[float, float | None, float | None, int, bool]:
        user = r.choice(user_ids)
        rooms = users[user]
        parsed = parse_query(make_query(kind, r, user_ids))
        query = SearchQuery(
            room_ids=rooms,
            terms=parsed.terms,
            sender_ids=list(parsed.from_users) or None,
            message_types=list(parsed.has_types) or None,
            limit=20,
        )
        before = schedstat()
        cpu_started = time.thread_time_ns()
        started = time.perf_counter()
        result = await backend.search(query)
        wall = (time.perf_counter() - started) * 1000
        client_ns = time.thread_time_ns() - cpu_started
        after = schedstat()
        service = queued = None
        if before is not None and after is not None:
            service = (after[0] - before[0] + client_ns) / 1e6
            queued = (after[1] - before[1]) / 1e6
        totals_exact_flags.append(result.total_exact)
        if not result.total_exact and len(estimated) < args.estimate_samples:
            estimated.append(query)
            estimates.append(result.total)
        return wall, service, queued, result.total, big_room in rooms

    for _ in range(args.warmup):
        await one(r.choices(kinds, weights)[0])

    load_before = os.getloadavg()
    all_ms: list[float] = []
    service_ms: list[float] = []
    queued_ms: list[float] = []
    by_kind: dict[str, list[float]] = defaultdict(list)
    service_by_kind: dict[str, list[float]] = defaultdict(list)
    totals: dict[str, list[int]] = defaultdict(list)
    by_scope: dict[str, list[float]] = defaultdict(list)
    service_by_scope: dict[str, list[float]] = defaultdict(list)
    for _ in range(args.queries):
        kind = r.choices(kinds, weights)[0]
        ms, service, queued, total, in_big = await one(kind)
        scope = "with_big_room" if in_big else "without_big_room"
        all_ms.append(ms)
        by_kind[kind].append(ms)
        totals[kind].append(total)
        by_scope[scope].append(ms)
        if service is not None and queued is not None:
            service_ms.append(service)
            queued_ms.append(queued)
            service_by_kind[kind].append(service)
            service_by_scope[scope].append(service)
    load_after = os.getloadavg()
    # How good are the estimated totals? Count those queries exactly (a window of everything).
    counter = PostgresSearchBackend(engine, rank_window=10_000_000)
    errors = []
    for query, estimate in zip(estimated, estimates, strict=True):
        exact = (await counter.search(query)).total
        errors.append(abs(estimate - exact) / max(exact, 1) * 100)
    await engine.dispose()
    return {
        "benchmark": "search",
        "backend": "postgres",
        "corpus_documents": corpus,
        "queries": args.queries,
        "limit": 20,
        "rank_window": args.rank_window,
        "rooms_per_user": round(statistics.fmean(len(v) for v in users.values()), 1),
        "machine": {
            "cpus": os.cpu_count(),
            "load_average_before": [round(x, 1) for x in load_before],
            "load_average_after": [round(x, 1) for x in load_after],
            "backend_run_queue_wait_ms": percentiles(queued_ms) if queued_ms else None,
        },
        "wall": {
            "overall": percentiles(all_ms),
            "by_scope": {k: percentiles(v) for k, v in sorted(by_scope.items())},
            "by_kind": {
                k: {**percentiles(v), "median_total_hits": int(statistics.median(totals[k]))}
                for k, v in sorted(by_kind.items())
            },
        },
        "service": {
            "overall": percentiles(service_ms),
            "by_scope": {k: percentiles(v) for k, v in sorted(service_by_scope.items())},
            "by_kind": {k: percentiles(v) for k, v in sorted(service_by_kind.items())},
        }
        if service_ms
        else None,
        "estimated_totals": {
            "share_of_queries": round(estimated_share(totals_exact_flags), 3),
            "checked": len(errors),
            "median_error_pct": round(statistics.median(errors), 1) if errors else None,
            "p90_error_pct": round(sorted(errors)[int(0.9 * (len(errors) - 1))], 1) if errors else None,
        },
        "target": {
            "p95_ms": 50,
            "wall_met": percentiles(all_ms)["p95_ms"] < 50,
            "service_met": bool(service_ms) and percentiles(service_ms)["p95_ms"] < 50,
        },
        "not_measured": "history page p50/p95 and index lag p95 need the running server (api/workers)",
    }


def main(argv: list[str] | None = None) -> None:
    """Command-line entry point."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--url", required=True, help="the database gen_corpus.py filled")
    parser.add_argument("--queries", type=int, default=2000)
    parser.add_argument("--warmup", type=int, default=200)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--rank-window", type=int, default=DEFAULT_RANK_WINDOW)
    parser.add_argument("--estimate-samples", type=int, default=40, help="estimated totals checked exactly")
    args = parser.parse_args(argv)
    print(json.dumps(asyncio.run(run(args)), ensure_ascii=False, indent=2))


if __name__ == "__main__":
    main()
