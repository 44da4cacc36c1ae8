"""Urgent pages in the browser (docs/alerts.md): the sender marks a message urgent, the others see
it as urgent with an Acknowledge button, and an acknowledgement shows, live, to everyone in the
room. With a worker, the paged user also gets the in-app urgent banner and acknowledges from it."""

from __future__ import annotations

import re
import uuid

import pytest
from playwright.async_api import Page

from tests.e2e.browser import (
    Chromium,
    composer,
    echoes,
    expect,
    message_item,
    open_room,
    requires_browser,
    shot,
)
from tests.support.clients import Api
from tests.support.servers import ServerProcess
from tests.workers.conftest import Stack

pytestmark = [pytest.mark.e2e, requires_browser]


async def _send_urgent(page: Page, text: str) -> None:
    await page.get_by_test_id("urgent-toggle").check()
    box = composer(page)
    await box.fill(text)
    await box.press("Enter")
    await expect(box).to_have_value("")
    await expect(echoes(page)).to_have_count(0)
    # The toggle is for one message: the next one is normal again.
    await expect(page.get_by_test_id("urgent-toggle")).not_to_be_checked()


async def test_an_urgent_message_is_acknowledged_and_everyone_sees_it(
    browser: Chromium, server: ServerProcess, api: Api
) -> None:
    alice = await api.user("alice", display_name="Alice Lin")
    bob = await api.user("bob", display_name="Bob Chen")
    carol = await api.user("carol", display_name="Carol Wu")
    title = f"Line 3 boiler {uuid.uuid4().hex[:6]}"
    room_id = await api.room(alice, title)
    await api.add_member(alice, room_id, bob, "EDITOR")
    await api.add_member(alice, room_id, carol, "VIEWER")

    a = await browser.page(server.base_url, alice)
    b = await browser.page(server.base_url, bob)
    c = await browser.page(server.base_url, carol)
    for page in (a, b, c):
        await open_room(page, title)

    text = "@Bob Chen boiler pressure 9 bar and rising, come now"
    await _send_urgent(a, text)

    for page in (a, b, c):
        item = message_item(page, text)
        await expect(item.get_by_test_id("urgent-badge")).to_have_text("URGENT")
        await expect(item.get_by_test_id("acknowledge")).to_be_visible()
        await expect(item.locator(".acks-none")).to_have_text("not acknowledged yet")
    await shot(b, "urgent-01-before-ack")

    # Bob acknowledges; Alice and Carol see it at once, without reloading.
    await message_item(b, text).get_by_test_id("acknowledge").click()
    await expect(message_item(b, text).get_by_test_id("acknowledge")).to_have_count(0)
    await expect(message_item(b, text).get_by_test_id("acknowledgement")).to_have_text(
        re.compile(r"^acknowledged by you at \d{2}:\d{2}")
    )
    for page in (a, c):
        ack = message_item(page, text).get_by_test_id("acknowledgement")
        await expect(ack).to_have_text(re.compile(r"^acknowledged by Bob Chen at \d{2}:\d{2}"))
        # Their own button stays: each member acknowledges for themselves.
        await expect(message_item(page, text).get_by_test_id("acknowledge")).to_be_visible()
    await shot(a, "urgent-02-acknowledged")

    # After a reload (history), the acknowledgement is still there.
    await c.reload()
    await expect(message_item(c, text).get_by_test_id("acknowledgement")).to_have_text(
        re.compile(r"^acknowledged by Bob Chen at")
    )


async def test_the_paged_user_acknowledges_from_the_urgent_banner(
    browser: Chromium, worker_stack: Stack, stack_api: Api
) -> None:
    base = worker_stack.server.base_url
    alice = await stack_api.user("alice", display_name="Alice Lin")
    bob = await stack_api.user("bob", display_name="Bob Chen")
    title = f"Line 5 conveyor {uuid.uuid4().hex[:6]}"
    room_id = await stack_api.room(alice, title)
    await stack_api.add_member(alice, room_id, bob, "EDITOR")

    a = await browser.page(base, alice)
    b = await browser.page(base, bob)
    await open_room(a, title)
    # Bob is elsewhere (the room list): the page reaches him through the user stream.
    await b.goto(f"{base}/")

    text = "@Bob Chen conveyor 5 jammed, stop the line"
    await _send_urgent(a, text)

    banner = b.get_by_test_id("urgent-page")
    await expect(banner).to_contain_text("URGENT from Alice Lin")
    await expect(banner).to_contain_text("conveyor 5 jammed")
    await shot(b, "urgent-03-banner")
    await b.get_by_test_id("urgent-page-ack").click()
    await expect(banner).to_have_count(0)
    await expect(message_item(a, text).get_by_test_id("acknowledgement")).to_have_text(
        re.compile(r"^acknowledged by Bob Chen at")
    )
