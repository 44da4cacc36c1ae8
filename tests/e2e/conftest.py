"""Fixtures for the browser tests: one headless Chromium per test, closed when it ends, and (for
the tests that need side effects: pushes, the search index) a server with a real worker."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import pytest
import pytest_asyncio

from tests.e2e.browser import SKIP_REASON, Chromium, chromium
from tests.support.clients import Api
from tests.workers.conftest import Stack, running_stack


@pytest_asyncio.fixture
async def browser() -> AsyncIterator[Chromium]:
    """A fresh Chromium (temporary profile). Uncaught errors in any of its pages fail the test."""
    assert SKIP_REASON is None, SKIP_REASON
    async with chromium() as b:
        yield b
        errors = list(b.page_errors)
    assert not errors, f"uncaught errors in the page: {errors}"


@pytest.fixture(scope="session")
def worker_stack(base_env: dict[str, str]) -> Iterator[Stack]:
    """A database, an `andon serve` and an `andon worker` of their own (the worker relays every
    pending outbox row of its database), stopped by PID and dropped at the end of the run."""
    with running_stack(base_env, concurrency=2) as stack:
        yield stack


@pytest_asyncio.fixture
async def stack_api(worker_stack: Stack) -> AsyncIterator[Api]:
    api = Api(worker_stack.server.base_url, worker_stack.database_url)
    try:
        yield api
    finally:
        await api.aclose()
