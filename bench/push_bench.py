"""Push fan-out throughput and outbox lag, through a real `andon worker` process.

Sets up its own database (created, migrated, dropped at the end) and Redis prefix, starts a
worker subprocess and a loopback push service, subscribes S users who want every message
(`push: all`) in one room, then commits M messages through the real send path
(`MessageWriter`, with the outbox wake-up) at R messages/s. Every message fans out to S pushes.

Printed as one JSON object on stdout (progress on stderr):

* `pushes_per_s`: pushes accepted by the push service / (last accepted - first commit);
* `outbox_lag_ms`: commit (the send returned) → the notify task's transaction began
  (`push_deliveries.created_at`), p50/p99/max over the messages;
* `push_latency_ms`: commit → that push recorded as sent, p50/p99 over every push.

By default the push service decrypts every body and verifies every VAPID token (the tests'
`FakePushService`), which costs CPU on this machine that a real push service would not;
`--sink` answers 201 without looking, to see the worker's own ceiling.

    python bench/push_bench.py --subscribers 200 --messages 50 --rate 10 --concurrency 8
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import asyncpg  # noqa: E402
from redis.asyncio import Redis  # noqa: E402

from api.domain.auth.sessions import AuthUser  # noqa: E402
from api.domain.core.bus import Bus  # noqa: E402
from api.domain.core.db import Database, create_engine  # noqa: E402
from api.domain.core.services import Services  # noqa: E402
from api.domain.core.settings import Settings  # noqa: E402
from api.domain.messages.send import MessageWriter, SendRequest  # noqa: E402
from api.domain.messages.validate import check_draft  # noqa: E402
from api.domain.outbox.relay import OutboxKicker  # noqa: E402
from tests.support.fake_push_service import FakePushService  # noqa: E402
from tests.support.servers import start_server  # noqa: E402
from tests.support.workers import fresh_database, start_worker  # noqa: E402


def log(*parts: Any) -> None:
    print(*parts, file=sys.stderr, flush=True)


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of a process so far (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def percentile(values: list[float], p: float) -> float | None:
    """Nearest-rank percentile (None for no values)."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, min(len(ordered), int(-(-p * len(ordered) // 100))))
    return round(ordered[rank - 1], 2)


class _Sink(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        self.rfile.read(length)
        self.send_response(201)
        self.send_header("Content-Length", "0")
        self.end_headers()
        self.server.count += 1  # type: ignore[attr-defined]

    def log_message(self, format: str, *args: Any) -> None:
        pass


class SinkService:
    """A push 'service' that accepts everything unread (to find the worker's own ceiling)."""

    def __enter__(self) -> SinkService:
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), _Sink)
        self.server.count = 0  # type: ignore[attr-defined]
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.server.shutdown()
        self.server.server_close()

    def endpoint(self, token: str) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host!s}:{port}/push/{token}"


def browser_keys() -> tuple[str, str]:
    """A p256dh/auth pair as a browser makes them (the sink never decrypts; the worker encrypts)."""
    import base64

    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    point = (
        ec.generate_private_key(ec.SECP256R1())
        .public_key()
        .public_bytes(serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint)
    )

    def b64(data: bytes) -> str:
        return base64.urlsafe_b64encode(data).rstrip(b"=").decode()

    return b64(point), b64(os.urandom(16))


def serve_push(kind: str, count: int) -> int:
    """Child-process mode: run the push service, print `count` subscriptions as one JSON line,
    serve until stdin closes, then print what arrived. A separate process, so its CPU (decrypting
    every push) does not slow the driver's event loop and skew the latencies it measures.

    It stands in for a browser vendor's push service, which runs on other machines: at the lowest
    CPU priority (set before its threads start, so they inherit it), its decryption does not
    count against Andon's own processes on this shared host."""
    os.nice(19)
    if kind == "sink":
        with SinkService() as sink:
            subs = [(sink.endpoint(uuid.uuid4().hex), *browser_keys()) for _ in range(count)]
            print(json.dumps(subs), flush=True)
            sys.stdin.read()
            count_seen = sink.server.count  # type: ignore[attr-defined]
            print(json.dumps({"attempts": count_seen, "delivered": count_seen, "problems": 0}))
        return 0
    with FakePushService() as service:
        minted = [service.mint_subscription() for _ in range(count)]
        print(json.dumps([(m.endpoint, m.p256dh, m.auth) for m in minted]), flush=True)
        sys.stdin.read()
        attempts = service.attempts()
        print(
            json.dumps(
                {
                    "attempts": len(attempts),
                    "delivered": len(service.deliveries()),
                    "problems": sum(1 for a in attempts if a.problems),
                }
            )
        )
    return 0


class PushServiceProcess:
    """The push service in a child process (see :func:`serve_push`)."""

    def __init__(self, kind: str, count: int) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, __file__, "--serve-push", kind, "--subscribers", str(count)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self.proc.stdout is not None
        self.subscriptions: list[tuple[str, str, str]] = [
            tuple(x) for x in json.loads(self.proc.stdout.readline())
        ]

    def finish(self) -> dict[str, Any]:
        """Stop it and return what it received."""
        out, _ = self.proc.communicate(input="", timeout=60)
        summary: dict[str, Any] = json.loads(out.strip().splitlines()[-1])
        return summary


async def seed(pg: asyncpg.Connection, subscriptions: list[tuple[str, str, str]]) -> tuple[uuid.UUID, str]:
    """A room with a sender and one member per subscription, every member on `push: all`."""
    run = uuid.uuid4().hex[:8]
    sender = f"bench-sender-{run}@bench.andon.test"
    users = [f"bench-push-{run}-{i:05d}@bench.andon.test" for i in range(len(subscriptions))]
    room = uuid.uuid4()
    await pg.executemany(
        "INSERT INTO tr_users (user_id, display_name) VALUES ($1, $2)",
        [(sender, "Bench Sender")] + [(u, f"Bench {i}") for i, u in enumerate(users)],
    )
    await pg.execute(
        "INSERT INTO incident_rooms (room_id, title, created_by) VALUES ($1, 'push bench', $2)", room, sender
    )
    await pg.executemany(
        "INSERT INTO room_members (room_id, user_id, role) VALUES ($1, $2, $3)",
        [(room, sender, "OWNER")] + [(room, u, "VIEWER") for u in users],
    )
    await pg.executemany(
        "INSERT INTO notification_prefs (user_id, push) VALUES ($1, 'all')", [(u,) for u in users]
    )
    await pg.executemany(
        "INSERT INTO push_subscriptions (user_id, endpoint, p256dh, auth) VALUES ($1, $2, $3, $4)",
        [(user, *sub) for user, sub in zip(users, subscriptions, strict=True)],
    )
    return room, sender


def ws_load(server_url: str, env: dict[str, str], seconds: float, rate: float, prefix: str) -> dict[str, Any]:
    """Run bench/ws_load.py against the server: 20 connections in one room, `rate` msg/s."""
    cmd = [
        sys.executable, str(ROOT / "bench" / "ws_load.py"), "--url", server_url, "--scenario", "custom",
        "--connections", "20", "--rooms", "1", "--senders", "10", "--users", "20", "--rate", str(rate),
        "--duration", str(seconds), "--user-prefix", prefix, "--max-seconds", "600",
    ]  # fmt: skip
    full_env = {**os.environ, **env}
    proc = subprocess.run(cmd, cwd=str(ROOT), env=full_env, capture_output=True, text=True, timeout=900)
    try:
        out = json.loads(proc.stdout.strip().splitlines()[-1])
    except (IndexError, ValueError):
        return {"ok": False, "error": proc.stderr[-2000:]}
    return {
        "ack_latency_ms": {k: out["ack_latency_ms"].get(k) for k in ("p50", "p95", "p99")},
        "fanout_latency_ms": {k: (out.get("fanout_latency_ms") or {}).get(k) for k in ("p50", "p99")},
        "persisted_per_second": out.get("persisted_per_second"),
        "ok": out.get("ok"),
    }


async def run(args: argparse.Namespace, db_url: str) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="andon-push-bench-") as data_dir:
        env = {
            "DATABASE_URL": db_url,
            "REDIS_URL": args.redis_url,
            "ANDON_REDIS_PREFIX": f"andonpb{uuid.uuid4().hex[:8]}",
            "ANDON_DATA_DIR": data_dir,
            "PUSH_ALLOW_PRIVATE_ENDPOINTS": "true",
            "DB_POOL_SIZE": "8",
            "DB_MAX_OVERFLOW": "4",
            "LOG_LEVEL": "WARNING",
            "RATE_LIMIT_PER_SECOND": "100000",
            "RATE_LIMIT_BURST": "100000",
        }
        settings = Settings.from_env(env, dotenv=Path("/nonexistent"))
        pg = await asyncpg.connect(db_url.replace("postgresql+asyncpg://", "postgresql://"))
        hot_path: dict[str, Any] = {}
        server = await asyncio.to_thread(start_server, env) if args.hot_path else None
        ws_prefix = f"pb{uuid.uuid4().hex[:6]}"
        if server is not None:
            log(f"hot path without workers: {args.hot_rate} msg/s for {args.hot_seconds}s")
            hot_path["workers_idle"] = await asyncio.to_thread(
                ws_load, server.base_url, env, args.hot_seconds, args.hot_rate, ws_prefix
            )
        # With --push-workers, the general workers leave the push queue to dedicated ones (the
        # deployment docs/workers.md recommends when pushes are many).
        general = "outbox,mentions,index,audit" if args.push_workers else None
        workers = [
            await asyncio.to_thread(
                start_worker, env, queues=general, concurrency=args.concurrency, nice=args.worker_nice
            )
            for _ in range(args.workers)
        ] + [
            await asyncio.to_thread(
                start_worker, env, queues="push", concurrency=args.concurrency, nice=args.worker_nice
            )
            for _ in range(args.push_workers)
        ]
        redis = Redis.from_url(args.redis_url)
        services = Services(
            settings=settings,
            db=Database(create_engine(settings)),
            redis=redis,
            bus=Bus(redis, settings.redis_prefix),
            outbox_kick=OutboxKicker(redis, settings.redis_prefix),
        )
        push_service = await asyncio.to_thread(
            PushServiceProcess, "sink" if args.sink else "verify", args.subscribers
        )
        received: dict[str, Any] = {}
        try:
            subscriptions = push_service.subscriptions
            room, sender_id = await seed(pg, subscriptions)
            sender = AuthUser(sender_id, "Bench Sender", False, b"", datetime.now(UTC) + timedelta(hours=1))
            writer = MessageWriter(services)
            expected = args.subscribers * args.messages
            log(f"sending {args.messages} messages at {args.rate}/s, {args.subscribers} pushes each")
            worker_pids = [w.pid for w in workers]
            cpu_before = sum(cpu_seconds(pid) for pid in worker_pids)
            committed: dict[str, float] = {}
            loaded: asyncio.Future[dict[str, Any]] | None = None
            if server is not None:
                log(f"hot path while the workers fan out: {args.hot_rate} msg/s for {args.hot_seconds}s")
                loaded = asyncio.ensure_future(
                    asyncio.to_thread(
                        ws_load, server.base_url, env, args.hot_seconds, args.hot_rate, ws_prefix
                    )
                )
            start = time.monotonic()
            for i in range(args.messages):
                if args.rate > 0:
                    await asyncio.sleep(max(0.0, start + i / args.rate - time.monotonic()))
                draft = check_draft({"content": f"bench message {i}: line 3 status update"})
                message = await writer.send(SendRequest(room, sender, draft, None))
                committed[message.message_id] = time.time()
            sent_at = time.monotonic()

            async def sent() -> int:
                return int(await pg.fetchval("SELECT count(*) FROM push_deliveries WHERE status = 'sent'"))

            deadline = sent_at + args.timeout
            done = await sent()
            while done < expected and time.monotonic() < deadline:
                await asyncio.sleep(0.1)
                done = await sent()
            worker_cpu = sum(cpu_seconds(pid) for pid in worker_pids) - cpu_before
            if loaded is not None:
                hot_path["workers_busy"] = await loaded
            rows = await pg.fetch(
                "SELECT message_id::text AS m, EXTRACT(EPOCH FROM created_at) AS planned, "
                "EXTRACT(EPOCH FROM finished_at) AS finished, status FROM push_deliveries"
            )
            # When the relay published each message's jobs (its first publication).
            relayed_rows = await pg.fetch(
                "SELECT payload->'message_ids'->>0 AS m, EXTRACT(EPOCH FROM enqueued_at) AS relayed "
                "FROM outbox WHERE kind = 'messages.created' AND attempts = 1"
            )
        finally:
            await services.outbox_kick.aclose()  # type: ignore[attr-defined]
            await services.db.dispose()
            await redis.aclose()
            await pg.close()
            received = await asyncio.to_thread(push_service.finish)
            for w in workers:
                await asyncio.to_thread(w.stop)
            if server is not None:
                await asyncio.to_thread(server.stop)

    first_commit = min(committed.values())
    task_start: dict[str, float] = {}
    latencies: list[float] = []
    finished: list[float] = []
    for row in rows:
        task_start[row["m"]] = min(task_start.get(row["m"], float(row["planned"])), float(row["planned"]))
        if row["status"] == "sent" and row["finished"] is not None:
            finished.append(float(row["finished"]))
            latencies.append((float(row["finished"]) - committed[row["m"]]) * 1000)
    lags = [(task_start[m] - committed[m]) * 1000 for m in committed if m in task_start]
    relayed = {r["m"]: float(r["relayed"]) for r in relayed_rows if r["relayed"] is not None}
    relay_lags = [(relayed[m] - committed[m]) * 1000 for m in committed if m in relayed]
    span = (max(finished) - first_commit) if finished else None
    return {
        "scenario": "push_fanout",
        "push_service": "sink (accepts unread)"
        if args.sink
        else "FakePushService (decrypts + verifies VAPID)",
        "subscribers": args.subscribers,
        "messages": args.messages,
        "rate_per_s": args.rate,
        "worker_processes": args.workers,
        "push_only_worker_processes": args.push_workers,
        "worker_threads_each": args.concurrency,
        "worker_nice": args.worker_nice,
        "pushes_expected": expected,
        "pushes_sent": len(finished),
        "push_service_received": received,
        "duration_s": round(span, 3) if span else None,
        "pushes_per_s": round(len(finished) / span, 1) if span else None,
        "outbox_lag_ms": {
            "p50": percentile(lags, 50),
            "p99": percentile(lags, 99),
            "max": percentile(lags, 100),
        },
        # The part of the lag until the relay had published the jobs (the rest is the queue).
        "relay_publish_ms": {"p50": percentile(relay_lags, 50), "p99": percentile(relay_lags, 99)},
        "push_latency_ms": {"p50": percentile(latencies, 50), "p99": percentile(latencies, 99)},
        "worker_cpu_s": round(worker_cpu, 2),
        "worker_cpu_ms_per_push": round(worker_cpu * 1000 / len(finished), 2) if finished else None,
        "cpus": os.cpu_count(),
        "load_average_1m": round(os.getloadavg()[0], 2),
        "hot_path": _hot_path_summary(hot_path) if hot_path else None,
        "ok": len(finished) == expected and not received.get("problems"),
    }


def _hot_path_summary(hot: dict[str, Any]) -> dict[str, Any]:
    idle, busy = hot.get("workers_idle") or {}, hot.get("workers_busy") or {}
    out = dict(hot)
    try:
        out["ack_p50_rise_pct"] = round(
            100 * (busy["ack_latency_ms"]["p50"] / idle["ack_latency_ms"]["p50"] - 1), 1
        )
        out["ack_p99_rise_pct"] = round(
            100 * (busy["ack_latency_ms"]["p99"] / idle["ack_latency_ms"]["p99"] - 1), 1
        )
    except (KeyError, TypeError, ZeroDivisionError):
        pass
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--subscribers", type=int, default=200)
    parser.add_argument("--messages", type=int, default=50)
    parser.add_argument(
        "--rate", type=float, default=10.0, help="messages per second (0: as fast as possible)"
    )
    parser.add_argument("--concurrency", type=int, default=8, help="threads per worker process")
    parser.add_argument("--workers", type=int, default=1, help="worker processes")
    parser.add_argument(
        "--push-workers", type=int, default=0, help="extra worker processes serving only the push queue"
    )
    parser.add_argument("--sink", action="store_true", help="a push service that accepts without decrypting")
    parser.add_argument("--timeout", type=float, default=300.0)
    parser.add_argument(
        "--hot-path",
        action="store_true",
        help="also run bench/ws_load.py against a server, first with no worker, then during the fan-out",
    )
    parser.add_argument(
        "--worker-nice",
        type=int,
        default=None,
        help="`andon worker --nice N` (default: the worker's own default, 10; 0 = no renice)",
    )
    parser.add_argument("--hot-rate", type=float, default=100.0, help="hot-path messages/s")
    parser.add_argument("--hot-seconds", type=float, default=15.0, help="hot-path send window")
    parser.add_argument(
        "--admin-url",
        default=os.environ.get("ANDON_BENCH_PG_ADMIN_URL", "postgresql://postgres@127.0.0.1:5432/postgres"),
    )
    parser.add_argument(
        "--redis-url", default=os.environ.get("ANDON_BENCH_REDIS_URL", "redis://127.0.0.1:6379/0")
    )
    parser.add_argument("--serve-push", choices=["sink", "verify"], help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve_push:
        return serve_push(args.serve_push, args.subscribers)
    with fresh_database(args.admin_url) as db_url:
        result = asyncio.run(run(args, db_url))
    print(json.dumps(result))
    return 0 if result["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
