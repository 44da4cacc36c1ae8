"""PDF parts are rendered by one child at a time per process: concurrent PDF reports queue
instead of each holding a ~400 MiB layout at once."""

from __future__ import annotations

import asyncio
import contextlib

import pytest

from api.domain.reports import pdf


async def test_concurrent_pdf_parts_render_one_at_a_time(monkeypatch: pytest.MonkeyPatch) -> None:
    active = 0
    most = 0
    second_entered = asyncio.Event()
    calls = 0

    async def child(html_path: str, pdf_path: str) -> None:
        nonlocal active, most, calls
        active += 1
        calls += 1
        most = max(most, active)
        if calls == 2:
            second_entered.set()
        # The first render stays busy until a second one starts, or for at most one second:
        # with the slot held, the second never starts while it is busy.
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(second_entered.wait(), 1.0)
        active -= 1

    monkeypatch.setattr(pdf, "_render_child", child)
    await asyncio.wait_for(asyncio.gather(pdf._render_part("a", "a.pdf"), pdf._render_part("b", "b.pdf")), 10)
    assert calls == 2 and most == 1
