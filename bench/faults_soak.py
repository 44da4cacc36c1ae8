"""Fault soak: longer outages, more traffic, repeated, against a private PostgreSQL and Redis.

The same parts as `tests/faults` (`tests.support.fault_stack`, `tests.support.fault_checker`):
two `andon serve` processes and an `andon worker`, checker clients sending with client ids over
room sockets and resuming with `since`. Faults, in turn until the time budget is spent:

* `redis`: Redis stopped for `--outage` seconds, started empty;
* `postgres`: PostgreSQL fast shutdown for `--outage` seconds, started again;
* `api_kill`: the API process holding more of the clients SIGKILLed (they move to the other); the
  soak starts a new process on the same port before the next fault, so later faults again have
  two;
* `worker_kill`: the worker SIGKILLed and a new one started; recovery = every outbox row of
  messages committed before the kill done.

Recovery per fault: `sends_s`, from the service being back (or the kill) until every client had
an ack again; `max_ack_wait_s`, the longest wait for an ack among the sends acked from the
fault's start until that recovery. At the end traffic stops, every stream catches up, and the
store is checked against every ack.

Prints one JSON object on stdout (progress on stderr)::

    python bench/faults_soak.py --duration 150 --outage 6 --clients 12 --interval 0.05
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from collections.abc import Awaitable, Callable
from functools import partial
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import asyncpg  # noqa: E402

from tests.support.clients import Api  # noqa: E402
from tests.support.fault_checker import CheckerClient, verify_store  # noqa: E402
from tests.support.fault_stack import FaultStack, fault_stack, private_services  # noqa: E402

FAULTS = ("redis", "postgres", "api_kill", "worker_kill")


def log(*args: Any) -> None:
    print(*args, file=sys.stderr, flush=True)


async def wait_for(check: Callable[[], Awaitable[bool]], timeout: float, what: str) -> float:
    """Poll `check` every 50 ms; seconds it took; raises after `timeout`."""
    start = time.monotonic()
    while not await check():
        if time.monotonic() - start > timeout:
            raise TimeoutError(f"{what} not within {timeout}s")
        await asyncio.sleep(0.05)
    return time.monotonic() - start


def first_acks_after(clients: list[CheckerClient], at: float) -> float | None:
    firsts = []
    for c in clients:
        after = [a.acked_at for a in c.acked() if a.acked_at is not None and a.acked_at > at]
        if not after:
            return None
        firsts.append(min(after))
    return max(firsts) - at


async def soak(args: argparse.Namespace, stack: FaultStack) -> dict[str, Any]:
    api = Api(stack.servers[0].base_url, stack.database_url)
    pg_url = stack.database_url.replace("postgresql+asyncpg://", "postgresql://")
    try:
        owner = await api.user("owner")
        users = [owner] + [await api.user(f"u{i}") for i in range(1, args.clients)]
        room_id = await api.room_with(owner, *((u, "EDITOR") for u in users[1:]))
    finally:
        await api.aclose()
    ack_times: dict[int, float] = {}
    clients = [
        CheckerClient(f"c{i}", u, room_id, stack.ws_bases, home=i, ack_times=ack_times)
        for i, u in enumerate(users)
    ]
    for c in clients:
        await c.ensure_connected()
    stop = asyncio.Event()
    senders = [asyncio.create_task(c.send_for(args.duration + 60, args.interval, stop)) for c in clients]
    faults: list[dict[str, Any]] = []
    started = time.monotonic()

    async def healthy() -> bool:
        for task in senders:
            if task.done():
                await task  # a sender gave up: raise its error
        return True

    async def sending_since(at: float) -> bool:
        await healthy()
        return first_acks_after(clients, at) is not None

    try:
        await wait_for(lambda: sending_since(started), 30, "traffic flowing")
        n = 0
        # Leave time for the last fault's recovery and the final catch-up.
        while time.monotonic() - started < args.duration - args.outage - 15:
            kind = FAULTS[n % len(FAULTS)]
            n += 1
            await asyncio.sleep(args.calm)  # traffic between faults (deliberate)
            fault_at = time.monotonic()
            record: dict[str, Any] = {"fault": kind, "at_s": round(fault_at - started, 1)}
            reconnects_before = sum(len(c.reconnects) for c in clients)
            if kind == "redis":
                await asyncio.to_thread(stack.services.redis.stop)
                await asyncio.sleep(args.outage)
                await asyncio.to_thread(stack.services.redis.start)
                back = time.monotonic()
            elif kind == "postgres":
                await asyncio.to_thread(stack.services.pg.stop)
                await asyncio.sleep(args.outage)
                await asyncio.to_thread(stack.services.pg.start)
                back = time.monotonic()
            elif kind == "api_kill":
                # The process with more of the clients (after a kill they all sit on one).
                on = [sum(1 for c in clients if c.url == s.ws_url) for s in stack.servers]
                victim = on.index(max(on))
                await asyncio.to_thread(stack.servers[victim].kill)
                back = time.monotonic()
            else:
                conn = await asyncpg.connect(pg_url, timeout=10)
                try:
                    await asyncio.to_thread(stack.worker.kill)
                    back = time.monotonic()
                    last_id = await conn.fetchval("SELECT max(outbox_id) FROM outbox")
                    await asyncio.to_thread(stack.replace_worker)
                    await wait_for(partial(_outbox_done, conn, last_id), args.recovery_timeout, "outbox drained")
                    # From the kill: includes starting the new worker.
                    record["outbox_done_s"] = round(time.monotonic() - back, 3)
                finally:
                    await conn.close()
            await wait_for(partial(sending_since, back), args.recovery_timeout, f"{kind} recovery")
            record["sends_s"] = round(first_acks_after(clients, back) or 0.0, 3)
            if kind == "api_kill":
                await asyncio.to_thread(stack.restart_server, victim)
            record["reconnects"] = sum(len(c.reconnects) for c in clients) - reconnects_before
            waits = [
                a.acked_at - a.first_sent_at
                for c in clients
                for a in c.acked()
                if a.acked_at is not None and a.acked_at >= fault_at
            ]
            record["max_ack_wait_s"] = round(max(waits, default=0.0), 3)
            faults.append(record)
            log(json.dumps(record))
        stop.set()
        async with asyncio.timeout(60):
            await asyncio.gather(*senders)
    finally:
        stop.set()
        for task in senders:
            task.cancel()
        await asyncio.gather(*senders, return_exceptions=True)
    conn = await asyncpg.connect(pg_url, timeout=10)
    try:
        last = int(await conn.fetchval("SELECT last_seq FROM incident_rooms WHERE room_id = $1::uuid", room_id))
    finally:
        await conn.close()
    await asyncio.gather(*(c.catch_up(last, timeout=60) for c in clients))
    report = await verify_store(stack.database_url, room_id, clients)
    lags = [lag for c in clients for lag in c.delivery_lags()]
    lags.sort()
    for c in clients:
        await c.close()
    stack.assert_alive(except_pids=tuple(p.pid for p in stack.extra))
    sent = sum(len(c.sent) for c in clients)
    return {
        "duration_s": round(time.monotonic() - started, 1),
        "clients": len(clients),
        "outage_s": args.outage,
        "messages_sent": sent,
        "messages_acked": report.acked,
        "messages_stored": report.stored,
        "send_attempts": sum(a.tries for c in clients for a in c.sent),
        "lost": len(report.lost),
        "duplicated": len(report.duplicated),
        "mismatched": len(report.mismatched),
        "stream_gaps": sum(len(c.gaps) for c in clients),
        "stream_duplicates": sum(len(c.duplicates) for c in clients),
        "streams_complete": all(c.received == list(range(1, last + 1)) for c in clients),
        "frames_received": sum(len(c.received) for c in clients),
        "ack_timeouts": sum(c.ack_timeouts for c in clients),
        "errors": sum(len(c.errors) for c in clients),
        "delivery_lag_ms": {
            "p50": round(lags[len(lags) // 2] * 1000, 1) if lags else None,
            "p99": round(lags[int(len(lags) * 0.99)] * 1000, 1) if lags else None,
            "max": round(lags[-1] * 1000, 1) if lags else None,
        },
        "faults": faults,
        "ok": report.ok and not any(c.gaps or c.duplicates for c in clients),
    }


async def _outbox_done(conn: asyncpg.Connection, last_id: int | None) -> bool:
    if last_id is None:
        return True
    pending = await conn.fetchval(
        "SELECT count(*) FROM outbox WHERE outbox_id <= $1 AND done_at IS NULL", last_id
    )
    return int(pending) == 0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--duration", type=float, default=150, help="time budget for traffic, seconds")
    parser.add_argument("--outage", type=float, default=6, help="seconds Redis / PostgreSQL stay down")
    parser.add_argument("--calm", type=float, default=4, help="seconds of plain traffic before each fault")
    parser.add_argument("--clients", type=int, default=12)
    parser.add_argument("--interval", type=float, default=0.05, help="pause after each ack, per client")
    parser.add_argument("--recovery-timeout", type=float, default=45)
    args = parser.parse_args()
    with private_services() as services, fault_stack(services) as stack:
        log(f"stack up: servers {[s.pid for s in stack.servers]}, worker {stack.worker.pid}")
        result = asyncio.run(soak(args, stack))
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
