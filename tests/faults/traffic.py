"""Traffic around a fault, and the checks every fault test makes afterwards."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

import asyncpg

from tests.support.fault_checker import CheckerClient, StoreReport, verify_store
from tests.workers.conftest import eventually

# Each client sends its next message this long after the previous ack (about 10 msg/s each).
SEND_INTERVAL = 0.1


@dataclass
class Outcome:
    report: StoreReport
    fault_at: float
    restored_at: float
    last_seq: int


def acks_after(clients: Sequence[CheckerClient], at: float) -> list[int]:
    return [sum(1 for a in c.acked() if a.acked_at is not None and a.acked_at > at) for c in clients]


async def traffic_with_fault(
    clients: Sequence[CheckerClient],
    database_url: str,
    room_id: str,
    fault: Callable[[], Awaitable[tuple[float, float]]],
    *,
    warmup_acks: int = 30,
    acks_after_fault: int = 10,
    recovery_timeout: float = 30.0,
) -> Outcome:
    """Clients send; once traffic flows the fault is injected (`fault` returns when it began and
    when the service was back); traffic goes on until every client has had `acks_after_fault`
    acks since, then stops and every stream catches up with the room's last sequence number."""
    for client in clients:
        await client.ensure_connected()
    stop = asyncio.Event()
    senders = [asyncio.create_task(c.send_for(300, SEND_INTERVAL, stop)) for c in clients]
    try:

        async def warmed_up() -> bool:
            failed = [t for t in senders if t.done()]
            if failed:
                await failed[0]  # raises the sender's error
            return sum(len(c.acked()) for c in clients) >= warmup_acks

        await eventually(warmed_up, timeout=30, what="traffic flowing")
        fault_at, restored_at = await fault()

        async def recovered() -> bool:
            failed = [t for t in senders if t.done()]
            if failed:
                await failed[0]
            return min(acks_after(clients, restored_at)) >= acks_after_fault

        await eventually(recovered, timeout=recovery_timeout, what="every client sending again")
        stop.set()
        async with asyncio.timeout(30):
            await asyncio.gather(*senders)
    finally:
        stop.set()
        for task in senders:
            task.cancel()
        await asyncio.gather(*senders, return_exceptions=True)
    conn = await asyncpg.connect(database_url.replace("postgresql+asyncpg://", "postgresql://"), timeout=10)
    try:
        last = int(await conn.fetchval("SELECT last_seq FROM incident_rooms WHERE room_id = $1::uuid", room_id))
    finally:
        await conn.close()
    await asyncio.gather(*(c.catch_up(last, timeout=20) for c in clients))
    report = await verify_store(database_url, room_id, clients)
    return Outcome(report, fault_at, restored_at, last)


def assert_lossless(clients: Sequence[CheckerClient], outcome: Outcome) -> None:
    """Every ack stored exactly once; every stream exactly 1..last, in order; no send refused."""
    report = outcome.report
    assert report.ok, report
    assert report.acked == sum(len(c.acked()) for c in clients) > 0
    for client in clients:
        assert client.gaps == [], (client.name, client.gaps)
        assert client.duplicates == [], (client.name, client.duplicates)
        assert client.received == list(range(1, outcome.last_seq + 1)), client.name
        assert client.errors == [], (client.name, client.errors)


def max_delivery_lag(clients: Sequence[CheckerClient]) -> float:
    return max((lag for c in clients for lag in c.delivery_lags()), default=0.0)


def max_ack_wait(clients: Sequence[CheckerClient]) -> float:
    return max(c.max_ack_wait() for c in clients)


def first_ack_after(clients: Sequence[CheckerClient], at: float) -> float:
    """Seconds from `at` until every client had an ack after it (sends recovered everywhere)."""
    firsts = [min((a.acked_at for a in c.acked() if a.acked_at and a.acked_at > at), default=time.monotonic()) for c in clients]
    return max(firsts) - at


def summary(clients: Sequence[CheckerClient], outcome: Outcome) -> dict[str, object]:
    """The figures of one run (printed by the tests, so `pytest -s` shows them)."""
    return {
        "acked": outcome.report.acked,
        "stored": outcome.report.stored,
        "last_seq": outcome.last_seq,
        "reconnects": sum(len(c.reconnects) for c in clients),
        "close_codes": sorted({r.close_code or 0 for c in clients for r in c.reconnects}),
        "ack_timeouts": sum(c.ack_timeouts for c in clients),
        "first_ack_after_restore_s": round(first_ack_after(clients, outcome.restored_at), 3),
        "max_ack_wait_s": round(max_ack_wait(clients), 3),
        "max_delivery_lag_s": round(max_delivery_lag(clients), 3),
    }
