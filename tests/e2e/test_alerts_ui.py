"""The room's Alerts panel in the browser (docs/alerts.md): the OWNER sets the urgent-page
schedule, a member opts in to urgent alerts, and the OWNER creates a webhook whose URL is shown
once; an alert posted to it shows as a bot's message (BOT badge) in the room and the room list;
revoked, the URL answers 404."""

from __future__ import annotations

import uuid

import pytest
from playwright.async_api import Page

from tests.e2e.browser import Chromium, expect, message_item, nav_link, open_room, requires_browser, shot
from tests.support.clients import Api
from tests.support.servers import ServerProcess

pytestmark = [pytest.mark.e2e, requires_browser]


async def _open_alerts(page: Page) -> None:
    await page.get_by_role("button", name="Room menu").click()
    await page.get_by_role("button", name="🚨 Alerts").click()
    await expect(page.get_by_role("heading", name="Urgent pages")).to_be_visible()
    await expect(page.get_by_test_id("urgent-summary")).to_be_visible()


async def test_owner_schedules_pages_member_opts_in(browser: Chromium, server: ServerProcess, api: Api) -> None:
    owner = await api.user("owner", display_name="Ana Wu")
    bob = await api.user("bob", display_name="Bob Chen")
    title = f"Oven 3 {uuid.uuid4().hex[:6]}"
    room_id = await api.room(owner, title)
    await api.add_member(owner, room_id, bob, "EDITOR")

    a = await browser.page(server.base_url, owner)
    await open_room(a, title)
    await _open_alerts(a)
    form = a.get_by_role("form", name="Urgent page schedule")
    await form.get_by_label("Repeat every (minutes)").fill("5")
    await form.get_by_label("Repeats after the first page").fill("3")
    # Half an escalation is refused in the page, and nothing is saved.
    await form.get_by_label("Escalate after").fill("1")
    await form.get_by_role("button", name="Save schedule").click()
    await expect(form.get_by_role("alert")).to_contain_text("Escalation needs both")
    await form.get_by_label("Escalate to").select_option(label=f"Bob Chen ({bob.user_id})")
    await form.get_by_role("button", name="Save schedule").click()
    await expect(form.get_by_role("status")).to_contain_text("Saved")
    await expect(a.get_by_test_id("urgent-summary")).to_have_text(
        "Pages at once, then every 5 min, 3 more times until acknowledged; "
        f"after 1 unacknowledged repeat also pages Bob Chen ({bob.user_id})."
    )
    stored = (await api.http.get(f"/api/rooms/{room_id}/urgent", headers=owner.headers)).json()
    assert (stored["repeat_seconds"], stored["max_repeats"]) == (300, 3)
    assert (stored["escalate_after"], stored["escalate_to"]) == (1, bob.user_id)
    await shot(a, "alerts-panel-owner")

    # A member sees the schedule and the opt-in, but neither the form nor the webhooks.
    b = await browser.page(server.base_url, bob)
    await open_room(b, title)
    await _open_alerts(b)
    await expect(b.get_by_test_id("urgent-summary")).to_contain_text("every 5 min")
    await expect(b.get_by_role("form", name="Urgent page schedule")).to_have_count(0)
    await expect(b.get_by_role("heading", name="Incoming webhooks")).to_have_count(0)
    opt_in = b.get_by_label("Page me for urgent messages in this room that mention nobody")
    await expect(opt_in).not_to_be_checked()
    await opt_in.check()
    await expect(opt_in).to_be_checked()
    await expect(opt_in).to_be_enabled()
    mine = (await api.http.get(f"/api/rooms/{room_id}/urgent", headers=bob.headers)).json()
    assert mine["alerts"] is True
    assert (await api.http.get(f"/api/rooms/{room_id}/urgent", headers=owner.headers)).json()["alerts"] is False
    # After a reload the panel shows the stored choice.
    await b.reload()
    await open_room(b, title)
    await _open_alerts(b)
    await expect(b.get_by_label("Page me for urgent messages in this room that mention nobody")).to_be_checked()


async def test_webhook_secret_shown_once_alert_badged_then_revoked(
    browser: Chromium, server: ServerProcess, api: Api
) -> None:
    owner = await api.user("owner", display_name="Ana Wu")
    bob = await api.user("bob", display_name="Bob Chen")
    title = f"Press 4 {uuid.uuid4().hex[:6]}"
    room_id = await api.room(owner, title)
    await api.add_member(owner, room_id, bob, "EDITOR")

    a = await browser.page(server.base_url, owner)
    await a.context.grant_permissions(["clipboard-read", "clipboard-write"], origin=server.base_url)
    await open_room(a, title)
    await _open_alerts(a)
    new = a.get_by_role("form", name="New webhook")
    await new.get_by_label("Name (the bot's display name)").fill("Line 4 PLC")
    await new.get_by_label("Mode").select_option("post")
    await new.get_by_role("button", name="Create webhook").click()

    created = a.get_by_role("region", name="URL of Line 4 PLC")
    await expect(created).to_contain_text("it is shown only now")
    address = await created.get_by_test_id("webhook-url").input_value()
    assert address.startswith(f"{server.base_url}/api/hooks/"), address
    secret = address.rsplit("/", 1)[1]
    await created.get_by_role("button", name="Copy URL").click()
    await expect(created.get_by_role("status")).to_have_text("Copied.")
    assert await a.evaluate("navigator.clipboard.readText()") == address
    await shot(a, "alerts-webhook-created")
    await created.get_by_role("button", name="Done").click()
    await expect(created).to_have_count(0)
    # Listed without its secret, and the secret is nowhere in the page any more (nor after reopening).
    hooks = a.get_by_role("list", name="Webhooks").get_by_test_id("webhook-item")
    await expect(hooks).to_have_count(1)
    await expect(hooks.first).to_contain_text("Line 4 PLC")
    assert secret not in await a.content()
    await a.locator("#room-side").get_by_role("button", name="Close").click()
    await _open_alerts(a)
    await expect(hooks).to_have_count(1)
    assert secret not in await a.content()

    # Monitoring posts a generic alert: a bot's message with the BOT badge, in the room ...
    b = await browser.page(server.base_url, bob)
    path = address.removeprefix(server.base_url)
    r = await api.http.post(path, json={"title": "Press 4 hydraulic pressure high", "severity": "warning", "text": "212 bar"})
    assert r.status_code == 200, r.text
    alert = message_item(a, "Press 4 hydraulic pressure high")
    await expect(alert.locator(".sender")).to_have_text("Line 4 PLC")
    await expect(alert.get_by_test_id("bot-badge")).to_have_text("BOT")
    # ... and in another member's room list, live, beside the bot's name.
    await nav_link(b, "Rooms").click()
    row = b.get_by_test_id("room-item").filter(has_text=title)
    await expect(row.get_by_test_id("room-preview-sender")).to_contain_text("Line 4 PLC")
    await expect(row.get_by_test_id("room-bot-badge")).to_have_text("BOT")
    await shot(b, "alerts-room-list-bot")
    # A person's message takes the badge away again.
    ws = await api.connect(owner, room_id)
    await ws.send_message("on it")
    await expect(row.get_by_test_id("room-preview-text")).to_have_text("on it")
    await expect(row.get_by_test_id("room-bot-badge")).to_have_count(0)
    await ws.close()

    # Revoked after a confirmation: gone from the list, and its URL answers 404.
    a.once("dialog", lambda dialog: dialog.accept())
    await hooks.first.get_by_role("button", name="Revoke Line 4 PLC").click()
    await expect(hooks).to_have_count(0)
    await expect(a.get_by_text("No webhooks yet.")).to_be_visible()
    r = await api.http.post(path, json={"title": "after revocation"})
    assert r.status_code == 404, r.text
