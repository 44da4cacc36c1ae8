"""The server restarts under a user who keeps typing: nothing is lost, nothing is doubled."""

from __future__ import annotations

import asyncio
import uuid

import pytest

from tests.e2e.browser import (
    Chromium,
    composer,
    connection,
    echoes,
    expect,
    expect_live,
    open_room,
    requires_browser,
    send,
    shot,
    shown_sequence,
    stored_texts,
)
from tests.support.clients import Api
from tests.support.servers import ServerProcess, start_server

pytestmark = [pytest.mark.e2e, requires_browser]

# Typing continues while the server shuts down and while it starts again, up to this many
# messages each (a bound, not a delay: the loop ends as soon as the server is down / up).
MAX_WHILE_CHANGING = 25


async def test_restart_while_typing_loses_and_doubles_nothing(
    browser: Chromium, server_factory: object, base_env: dict[str, str], api: Api
) -> None:
    first: ServerProcess = server_factory()  # type: ignore[operator]
    port = first.port
    alice = await api.user("alice", display_name="Alice Lin")
    title = f"Compressor trip {uuid.uuid4().hex[:6]}"
    room_id = await api.room(alice, title)

    page = await browser.page(first.base_url, alice)
    await open_room(page, title)
    typed: list[str] = []

    async def say(text: str) -> None:
        typed.append(text)
        await send(page, text)

    for i in range(3):
        await say(f"before the restart {i}")
    await expect(echoes(page)).to_have_count(0)

    # SIGTERM the server just after a message went out (its ack may or may not come back)
    # and keep typing while it shuts down.
    typed.append("in flight at SIGTERM")
    await composer(page).fill("in flight at SIGTERM")
    await composer(page).press("Enter")
    stopping = asyncio.ensure_future(asyncio.to_thread(first.stop))
    n = 0
    while not stopping.done() and n < MAX_WHILE_CHANGING:
        await say(f"while stopping {n}")
        n += 1
    await stopping
    await expect(connection(page)).not_to_have_text("Live")

    # Down: what the user writes is queued and shown as not yet sent.
    for i in range(3):
        await say(f"while down {i}")
    down = echoes(page).filter(has_text="while down")
    await expect(down).to_have_count(3)
    await expect(down.first).to_have_attribute("data-status", "waiting")
    await expect(down.first.get_by_test_id("echo-state")).to_have_text("waiting for connection")

    # A new server on the same port, typing on while it starts.
    starting = asyncio.ensure_future(asyncio.to_thread(start_server, dict(base_env), port=port))
    second: ServerProcess | None = None
    try:
        m = 0
        while not starting.done() and m < MAX_WHILE_CHANGING:
            await say(f"while starting {m}")
            m += 1
        second = await starting
        await expect_live(page, timeout=45_000)
        for i in range(2):
            await say(f"after the restart {i}")
        await expect(echoes(page)).to_have_count(0, timeout=30_000)

        # The view shows every typed message once, in the order typed...
        await expect(stored_texts(page)).to_have_text(typed)
        await shot(page, "08-after-restart")
        # ...and exactly what the server stored, sequence by sequence.
        history = await api.history(alice, room_id, limit=200)
        assert history["has_more"] is False
        stored = sorted(history["messages"], key=lambda msg: msg["sequence_number"])
        assert [msg["sequence_number"] for msg in stored] == list(range(1, len(stored) + 1))
        assert [msg["content"] for msg in stored] == typed
        assert await shown_sequence(page) == [(msg["sequence_number"], msg["content"]) for msg in stored]
    finally:
        if second is None:
            try:
                second = await starting
            except Exception:  # it stopped itself when it never became ready
                second = None
        if second is not None:
            second.stop()
