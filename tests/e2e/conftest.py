"""Fixtures for the browser tests: one headless Chromium per test, closed when it ends."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest_asyncio

from tests.e2e.browser import SKIP_REASON, Chromium, chromium


@pytest_asyncio.fixture
async def browser() -> AsyncIterator[Chromium]:
    """A fresh Chromium (temporary profile). Uncaught errors in any of its pages fail the test."""
    assert SKIP_REASON is None, SKIP_REASON
    async with chromium() as b:
        yield b
        errors = list(b.page_errors)
    assert not errors, f"uncaught errors in the page: {errors}"
