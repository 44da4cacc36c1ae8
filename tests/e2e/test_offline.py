"""The PWA offline path: the server goes away, the user reloads the page (the service worker
serves the cached shell), keeps writing, and when the server is back every queued message is
sent once, the ones queued before the reload included (IndexedDB outbox)."""

from __future__ import annotations

import asyncio
import uuid

import pytest

from tests.e2e.browser import (
    WAIT_MS,
    Chromium,
    echoes,
    expect,
    expect_live,
    open_room,
    requires_browser,
    send,
    shown_sequence,
    stored_texts,
)
from tests.support.clients import Api
from tests.support.servers import ServerProcess, start_server

pytestmark = [pytest.mark.e2e, requires_browser]


async def test_reload_while_the_server_is_down_keeps_the_outbox(
    browser: Chromium, server_factory: object, base_env: dict[str, str], api: Api
) -> None:
    first: ServerProcess = server_factory()  # type: ignore[operator]
    alice = await api.user("alice", display_name="Alice Lin")
    title = f"Mixer 3 seal leak {uuid.uuid4().hex[:6]}"
    room_id = await api.room(alice, title)

    page = await browser.page(first.base_url, alice)
    # The service worker has cached the shell.
    assert await asyncio.wait_for(
        page.evaluate("navigator.serviceWorker.ready.then((r) => r.active !== null)"), WAIT_MS / 1000
    )
    await open_room(page, title)
    typed = ["Seal leaking at the shaft", "Line stopped"]
    for text in typed:
        await send(page, text)
    await expect(stored_texts(page)).to_have_text(typed)

    await asyncio.to_thread(first.stop)
    await expect(page.locator(".room-head").get_by_role("status")).not_to_have_text("Live")
    for text in ["Drained the tank", "Waiting for maintenance"]:
        typed.append(text)
        await send(page, text)
    await expect(echoes(page)).to_have_count(2)

    # Reload with the server down: the cached shell, the last known user, the queued messages.
    await page.reload()
    offline_banner = page.get_by_role("status").filter(has_text="Offline: showing what was loaded before")
    await expect(offline_banner).to_be_visible()
    await expect(page.get_by_role("heading", name=title, level=1)).to_be_visible()
    await expect(echoes(page)).to_have_count(2)
    await expect(echoes(page)).to_contain_text(["Drained the tank", "Waiting for maintenance"])
    typed.append("Maintenance on site")
    await send(page, "Maintenance on site")
    await expect(echoes(page)).to_have_count(3)

    second = await asyncio.to_thread(start_server, dict(base_env), port=first.port)
    try:
        await expect_live(page, timeout=45_000)
        # Back online: the banner goes, the room list is current again.
        await expect(offline_banner).to_be_hidden()
        await expect(echoes(page)).to_have_count(0, timeout=30_000)
        await expect(stored_texts(page)).to_have_text(typed)
        history = await api.history(alice, room_id, limit=200)
        stored = sorted(history["messages"], key=lambda m: m["sequence_number"])
        assert [m["content"] for m in stored] == typed
        assert await shown_sequence(page) == [(m["sequence_number"], m["content"]) for m in stored]
    finally:
        second.stop()
