"""The typing indicator as two people see it (spec: cleared after 3 s of inactivity)."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from tests.e2e.browser import (
    Chromium,
    composer,
    expect,
    message_item,
    open_room,
    requires_browser,
    shot,
)
from tests.support.clients import Api
from tests.support.servers import ServerProcess

pytestmark = [pytest.mark.e2e, requires_browser]

# Records, in the watcher's page, each change of the typing line with its time (ms since epoch).
WATCH_TYPING = """() => {
  const el = document.querySelector('p.typing');
  window.__typingLog = [[Date.now(), el.textContent]];
  new MutationObserver(() => window.__typingLog.push([Date.now(), el.textContent]))
    .observe(el, { childList: true, subtree: true, characterData: true });
}"""
# Records, in the typist's page, when the last key went down.
WATCH_KEYS = "() => document.addEventListener('keydown', () => { window.__lastKey = Date.now(); }, true)"


async def _two_in_a_room(browser: Chromium, server: ServerProcess, api: Api) -> tuple[Any, Any]:
    alice = await api.user("alice", display_name="Alice Lin")
    bob = await api.user("bob", display_name="Bob Chen")
    title = f"Typing {uuid.uuid4().hex[:6]}"
    room_id = await api.room(alice, title)
    await api.add_member(alice, room_id, bob, "EDITOR")
    a = await browser.page(server.base_url, alice)
    b = await browser.page(server.base_url, bob)
    await open_room(a, title)
    await open_room(b, title)
    await a.evaluate(WATCH_KEYS)
    await b.evaluate(WATCH_TYPING)
    return a, b


async def test_the_indicator_stays_while_typing_and_clears_three_seconds_after_the_last_key(
    browser: Chromium, server: ServerProcess, api: Api
) -> None:
    a, b = await _two_in_a_room(browser, server, api)
    typing_line = b.locator("p.typing")
    # Typing steadily for 3.5 s: longer than the server's timeout and the client's refresh.
    await composer(a).press_sequentially("pressure rising", delay=250)
    await expect(typing_line).to_have_text("Alice Lin is typing…")
    await shot(b, "typing-01-indicator")
    await expect(typing_line).to_have_text("", timeout=10_000)

    last_key: int = await a.evaluate("() => window.__lastKey")
    log: list[list[Any]] = await b.evaluate("() => window.__typingLog")
    shown = [at for at, text in log if text == "Alice Lin is typing…"]
    changes = [(at, text) for i, (at, text) in enumerate(log) if i == 0 or log[i - 1][1] != text]
    cleared = [at for at, text in changes if text == "" and shown and at > shown[0]]
    assert shown and cleared, log
    # Never off while keys kept coming, and off after 3 s of inactivity (not ~1.5 s).
    assert len(cleared) == 1, log
    idle_ms = cleared[0] - last_key
    assert 2800 <= idle_ms <= 4500, f"cleared {idle_ms} ms after the last key ({log})"


async def test_typing_again_right_after_sending_shows_the_indicator_again(
    browser: Chromium, server: ServerProcess, api: Api
) -> None:
    a, b = await _two_in_a_room(browser, server, api)
    box = composer(a)
    await box.press_sequentially("valve closed", delay=20)
    await expect(b.locator("p.typing")).to_have_text("Alice Lin is typing…")
    # Send, and one key of the next message at once (a single key: no later refresh can
    # bring back an indicator that the send swallowed).
    await box.press("Enter")
    await box.press("n")
    await expect(message_item(b, "valve closed")).to_be_visible()
    await expect(b.locator("p.typing")).to_have_text("Alice Lin is typing…")
    await shot(b, "typing-02-after-send")
    log: list[list[Any]] = await b.evaluate("() => window.__typingLog")
    texts: list[str] = []
    for _, text in log:  # one change may be several mutations
        if not texts or texts[-1] != text:
            texts.append(text)
    # On (first message), off (the message arrived), on again (the next one).
    assert texts[-3:] == ["Alice Lin is typing…", "", "Alice Lin is typing…"], log
    await expect(b.locator("p.typing")).to_have_text("", timeout=10_000)
