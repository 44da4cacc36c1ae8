"""A report is streamed: its memory does not grow with the room. The same report of a room four
times larger peaks at about the same Python allocation (tracemalloc), because the timeline is
read in pages and written out piece by piece. The 100,000-message figures are in
bench/report_bench.py (docs/reports.md)."""

from __future__ import annotations

import tracemalloc

import asyncpg
import pytest

from api.domain import reports
from api.domain.core.db import Database, create_engine
from api.domain.core.settings import Settings
from bench.report_bench import fill_room

pytestmark = [pytest.mark.asyncio(loop_scope="session"), pytest.mark.timeout(300)]


async def _peak(db: Database, room_id: str, fmt: str) -> tuple[int, int]:
    """(peak traced bytes, output bytes) of one report, written to nowhere."""
    tracemalloc.reset_peak()
    base, _ = tracemalloc.get_traced_memory()
    prepared = await reports.prepare(
        db, None, room_id, None, base_url="http://andon.test", timezone="Asia/Taipei"
    )
    size = 0
    async for chunk in reports.stream_report(prepared, fmt):
        size += len(chunk)
    _, peak = tracemalloc.get_traced_memory()
    return peak - base, size


@pytest.mark.parametrize("fmt", ["html", "json"])
async def test_a_four_times_larger_room_needs_no_more_memory(database_url: str, fmt: str) -> None:
    pg = await asyncpg.connect(database_url.replace("postgresql+asyncpg://", "postgresql://"))
    try:
        small = await fill_room(pg, 2_000, "small")
        large = await fill_room(pg, 8_000, "large")
    finally:
        await pg.close()
    db = Database(create_engine(Settings(db_pool_size=2, db_max_overflow=0), database_url))
    tracemalloc.start()
    try:
        await _peak(db, small, fmt)  # warm-up: imports, statement caches
        small_peak, small_size = await _peak(db, small, fmt)
        large_peak, large_size = await _peak(db, large, fmt)
    finally:
        tracemalloc.stop()
        await db.dispose()
    assert large_size > 3.5 * small_size  # the output does grow with the room …
    # … the memory does not: a report that held its timeline would need ~4× (and MiBs more).
    assert large_peak < small_peak * 1.5 + 512 * 1024, (small_peak, large_peak)
