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


async def test_a_long_rooms_pdf_is_laid_out_in_parts_and_joined_in_order(
    database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    import io
    import re

    from pypdf import PdfReader

    from api.domain.reports import pdf

    monkeypatch.setattr(pdf, "PART_MESSAGES", 30)
    rendered: list[str] = []
    real_render = pdf._render_part

    async def counting_render(html_path: str, pdf_path: str) -> None:
        rendered.append(html_path)
        await real_render(html_path, pdf_path)

    monkeypatch.setattr(pdf, "_render_part", counting_render)
    pg = await asyncpg.connect(database_url.replace("postgresql+asyncpg://", "postgresql://"))
    try:
        room = await fill_room(pg, 70, "parts 產線")
    finally:
        await pg.close()
    db = Database(create_engine(Settings(db_pool_size=2, db_max_overflow=0), database_url))
    try:
        prepared = await reports.prepare(
            db, None, room, None, base_url="http://andon.test", timezone="Asia/Taipei"
        )
        data = b"".join([chunk async for chunk in reports.stream_report(prepared, "pdf")])
    finally:
        await db.dispose()
    assert len(rendered) == 3  # 70 entries in parts of 30: 30, 30, and 10 with the appendix
    text = "\n".join(page.extract_text() or "" for page in PdfReader(io.BytesIO(data)).pages)
    seqs = [int(n) for n in re.findall(r"· #(\d+)", text)]
    assert seqs == list(range(1, 71))
    flat = re.sub(r"\s+", "", text)
    assert "parts產線" in flat and "Chart:temp_c" in flat and "chainintact" in flat
