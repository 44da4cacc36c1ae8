"""What the user sees: GMT+8 times in any browser zone, a phone-width layout, the settings."""

from __future__ import annotations

import re
import uuid
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from tests.e2e.browser import (
    Chromium,
    composer,
    expect,
    message_item,
    nav_link,
    open_room,
    requires_browser,
    send,
    shot,
    stored_texts,
)
from tests.support.clients import Api
from tests.support.servers import ServerProcess

pytestmark = [pytest.mark.e2e, requires_browser]

TAIPEI = ZoneInfo("Asia/Taipei")
LOS_ANGELES = ZoneInfo("America/Los_Angeles")


def _instant(iso: str) -> datetime:
    return datetime.fromisoformat(iso.replace("Z", "+00:00"))


def _short_pattern(iso: str) -> re.Pattern[str]:
    """`HH:mm` in Taipei, with the Taipei `MM/DD ` before it only when that day is not today."""
    at = _instant(iso).astimezone(TAIPEI)
    return re.compile(rf"^(?:{at:%m/%d} )?{at:%H:%M}$")


async def test_timestamps_show_gmt8_in_a_los_angeles_browser(
    browser: Chromium, server: ServerProcess, api: Api
) -> None:
    alice = await api.user("alice", display_name="Alice Lin")
    bob = await api.user("bob", display_name="Bob Chen")
    title = f"Night shift handover {uuid.uuid4().hex[:6]}"
    room_id = await api.room(alice, title)
    await api.add_member(alice, room_id, bob, "EDITOR")

    page = await browser.page(server.base_url, alice, timezone_id="America/Los_Angeles")
    assert await page.evaluate("Intl.DateTimeFormat().resolvedOptions().timeZone") == "America/Los_Angeles"
    await open_room(page, title)

    await send(page, "Handing over to the night shift")
    await expect(message_item(page, "Handing over")).to_have_count(1)
    [stored] = [
        m
        for m in (await api.history(alice, room_id))["messages"]
        if m["content"] == "Handing over to the night shift"
    ]
    shown = message_item(page, "Handing over").locator(".message-head time")
    await expect(shown).to_have_attribute("datetime", stored["created_at"])
    await expect(shown).to_have_text(_short_pattern(stored["created_at"]))
    await expect(shown).to_have_attribute("title", re.compile(r"\(Asia/Taipei\)$"))
    # Taipei and Los Angeles are 15 or 16 hours apart: the browser's own clock time never matches.
    created = _instant(stored["created_at"])
    assert f"{created.astimezone(TAIPEI):%H:%M}" != f"{created.astimezone(LOS_ANGELES):%H:%M}"

    # A fixed instant on an earlier day, across Taipei midnight: 2024-02-29 16:05 UTC is
    # 03/01 00:05 in Taipei but 02/29 08:05 in Los Angeles.
    ws = await api.connect(bob, room_id)
    try:
        await ws.send_message(
            {"temperature": 81.5, "timestamp": "2024-02-29T16:05:00.000Z"}, message_type="incident_data"
        )
    finally:
        await ws.close()
    card = page.get_by_role("figure").filter(has_text="Incident data")
    await expect(card).to_be_visible()
    await expect(card.locator("time")).to_have_text("03/01 00:05")
    await expect(card).to_contain_text("81.5")

    # The room list's "last updated" is in Taipei too.
    [latest] = [m for m in (await api.history(alice, room_id, limit=1))["messages"]]
    await nav_link(page, "Rooms").click()
    row = page.get_by_role("link", name=re.compile(re.escape(title)))
    updated = row.locator('time[data-testid="room-time"]')
    await expect(updated).to_have_attribute("datetime", latest["created_at"])
    at = _instant(latest["created_at"]).astimezone(TAIPEI)
    # The <time> holds only the time; its label stands just before it.
    await expect(updated).to_have_text(re.compile(rf"^(?:{at:%m/%d} )?{at:%H:%M}$"))
    await expect(row.locator(".room-updated")).to_have_text(
        re.compile(rf"^Last updated (?:{at:%m/%d} )?{at:%H:%M}$")
    )


async def test_usable_at_375_px(browser: Chromium, server: ServerProcess, api: Api) -> None:
    alice = await api.user("alice", display_name="Alice Lin")
    bob = await api.user("bob", display_name="Bob Chen")
    title = f"Packaging line 5 {uuid.uuid4().hex[:6]}"
    room_id = await api.room(alice, title)
    await api.add_member(alice, room_id, bob, "EDITOR")
    ws = await api.connect(bob, room_id)
    try:
        await ws.send_message("Label printer out of ribbon, can someone bring a spare?")
    finally:
        await ws.close()

    page = await browser.page(
        server.base_url,
        alice,
        viewport={"width": 375, "height": 740},
        is_mobile=True,
        has_touch=True,
        device_scale_factor=2,
    )
    await open_room(page, title)
    box = composer(page)
    send_button = page.get_by_role("button", name="Send", exact=True)
    for control in (box, send_button, page.get_by_role("button", name="Attach an image or file")):
        await expect(control).to_be_in_viewport(ratio=1)
    # Nothing sticks out sideways.
    assert await page.evaluate("document.documentElement.scrollWidth") <= 375
    bob_message = message_item(page, "Label printer")
    await expect(bob_message.get_by_role("button", name="Add reaction")).to_be_in_viewport(ratio=1)

    await box.tap()
    await box.fill("Bringing one from stores")
    await expect(send_button).to_be_enabled()
    await send_button.tap()
    await expect(box).to_have_value("")
    await expect(stored_texts(page)).to_have_text(
        ["Label printer out of ribbon, can someone bring a spare?", "Bringing one from stores"]
    )
    await expect(message_item(page, "Bringing one").get_by_role("button", name="Edit")).to_be_in_viewport(
        ratio=1
    )
    assert await page.evaluate("document.documentElement.scrollWidth") <= 375
    await shot(page, "07-room-375px")


async def test_settings_local_toggles_and_push_preferences(
    browser: Chromium, server: ServerProcess, api: Api
) -> None:
    alice = await api.user("alice", display_name="Alice Lin")
    title = f"Boiler room {uuid.uuid4().hex[:6]}"
    room_id = await api.room(alice, title)

    page = await browser.page(server.base_url, alice)
    await expect(page.get_by_role("link", name=title)).to_be_visible()

    # Settings: local toggles survive a reload; push preferences are saved on the server.
    await nav_link(page, "Settings").click()
    await expect(page).to_have_url(f"{server.base_url}/settings")
    await expect(page.get_by_role("heading", name="Settings", level=1)).to_be_visible()
    sound = page.get_by_role("checkbox", name="Play a sound for new messages and mentions")
    vibrate = page.get_by_role("checkbox", name="Vibrate for new messages and mentions (phones)")
    await expect(sound).to_be_checked()
    await sound.uncheck()
    await expect(vibrate).to_be_checked()

    default_level = page.get_by_role("radio", name="Only when I am mentioned")
    await expect(default_level).to_be_checked()
    await page.get_by_role("radio", name="Every new message").check()
    await page.get_by_role("group", name="Per room").get_by_label(title).select_option(label="Nothing")
    await page.get_by_role("button", name="Save").click()
    await expect(page.get_by_role("status").filter(has_text="Saved.")).to_be_visible()
    await shot(page, "06-settings")

    r = await api.http.get("/api/me/notifications", headers=alice.headers)
    assert r.status_code == 200, r.text
    assert r.json() == {"push": "all", "rooms": {room_id: "none"}}

    await page.reload()
    await expect(page.get_by_role("heading", name="Settings", level=1)).to_be_visible()
    await expect(sound).not_to_be_checked()
    await expect(vibrate).to_be_checked()
    await expect(page.get_by_role("radio", name="Every new message")).to_be_checked()
