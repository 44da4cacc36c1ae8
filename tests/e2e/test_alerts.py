"""An alert from Alertmanager lands in the open room as the webhook bot's message, with a BOT
badge (live and after a reload), next to a person's message without one; its resolution shows
as an alert notice."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import pytest

from tests.e2e.browser import (
    Chromium,
    expect,
    message_item,
    message_list,
    open_room,
    requires_browser,
    send,
    shot,
)
from tests.support.clients import Api
from tests.support.servers import ServerProcess

pytestmark = [pytest.mark.e2e, requires_browser]

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "alerts"


async def test_bot_message_and_resolved_notice_carry_their_badges(
    browser: Chromium, server: ServerProcess, api: Api
) -> None:
    owner = await api.user("owner", display_name="Ana Wu")
    title = f"Probe failures {uuid.uuid4().hex[:6]}"
    room_id = await api.room(owner, title)
    r = await api.http.post(
        f"/api/rooms/{room_id}/webhooks", json={"name": "Prometheus", "resolve_room": True}, headers=owner.headers
    )
    hook = r.json()

    page = await browser.page(server.base_url, owner)
    await open_room(page, title)
    await send(page, "checking the probe host")

    firing = json.loads((FIXTURES / "alertmanager_firing.json").read_text())
    assert (await api.http.post(hook["url"], json=firing)).status_code == 200
    alert = message_item(page, "[FIRING:1] ProbeFailure")
    await expect(alert).to_be_visible()
    await expect(alert.locator(".sender")).to_have_text("Prometheus")
    await expect(alert.get_by_test_id("bot-badge")).to_have_text("BOT")
    await expect(message_item(page, "checking the probe host").get_by_test_id("bot-badge")).to_have_count(0)

    resolved = json.loads((FIXTURES / "alertmanager_resolved.json").read_text())
    assert (await api.http.post(hook["url"], json=resolved)).status_code == 200
    notice = message_list(page).locator("li.system-notice").filter(has_text="Resolved: ProbeFailure")
    await expect(notice.locator(".bot-badge.alert")).to_have_text("alert")
    await expect(message_list(page)).to_contain_text("Prometheus changed the room status from active to resolved")
    await shot(page, "alert-bot-badge")

    # From history after a reload, the same badges.
    await page.reload()
    await expect(message_item(page, "[FIRING:1] ProbeFailure").get_by_test_id("bot-badge")).to_have_text("BOT")
    await expect(message_item(page, "checking the probe host").get_by_test_id("bot-badge")).to_have_count(0)
