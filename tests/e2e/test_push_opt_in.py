"""Honest push opt-in in Chromium: when subscribing cannot work, the banner stays and says why and
what to do, Settings never says "On", and the state is kept in localStorage."""

from __future__ import annotations

import json

import pytest

from tests.e2e.browser import Chromium, expect, nav_link, requires_browser, shot, sign_in
from tests.support.clients import Api
from tests.support.servers import ServerProcess

pytestmark = [pytest.mark.e2e, requires_browser]


async def _stored(page) -> dict:  # type: ignore[no-untyped-def,type-arg]
    raw = await page.evaluate("localStorage.getItem('andon.push.v1')")
    assert raw is not None
    value: dict = json.loads(raw)  # type: ignore[type-arg]
    return value


async def test_no_push_service_is_reported_not_hidden(
    browser: Chromium, server: ServerProcess, api: Api
) -> None:
    """Permission granted, but headless Chromium has no push service: subscribing fails."""
    alice = await api.user("alice", display_name="Alice Lin")
    page = await browser.page(server.base_url, permissions=["notifications"])
    await sign_in(page, server.base_url, alice)
    banner = page.get_by_role("region", name="Notifications are not on")
    await expect(banner).to_be_visible()
    await expect(banner.get_by_role("alert")).to_contain_text("could not register with its push service")
    await expect(banner.get_by_role("button", name="Try again")).to_be_visible()
    await shot(page, "push-01-banner-no-push-service")
    stored = await _stored(page)
    assert stored["permission"] == "granted"
    assert stored["state"]["kind"] == "failed" and stored["state"]["reason"] == "no-push-service"

    # Settings: the real state, never "On", with what to do.
    await nav_link(page, "Settings").click()
    status = page.locator(".push-status")
    await expect(status.locator("strong")).to_have_text("Not working")
    await expect(status).to_contain_text("could not register with its push service")
    await expect(status.get_by_role("button", name="Try again")).to_be_visible()
    await shot(page, "push-02-settings-not-working")

    # Try again fails the same way: the banner is still there, not hidden by disappearing.
    await status.get_by_role("button", name="Try again").click()
    await expect(status.locator("strong")).to_have_text("Not working")
    await expect(banner).to_be_visible()
    # Dismissed, the banner goes; the failure is remembered (also after a reload), Settings still tells.
    await banner.get_by_role("button", name="Dismiss").click()
    await expect(banner).to_be_hidden()
    assert (await _stored(page))["dismissed"] is True
    await page.reload()
    await expect(page.locator(".push-status strong")).to_have_text("Not working")
    await expect(page.get_by_role("region", name="Notifications are not on")).to_have_count(0)


async def test_a_refused_permission_says_how_to_allow_it(
    browser: Chromium, server: ServerProcess, api: Api
) -> None:
    """No permission granted to the context: headless Chromium refuses the request."""
    alice = await api.user("alice", display_name="Alice Lin")
    page = await browser.page(server.base_url)
    await sign_in(page, server.base_url, alice)
    prompt = page.get_by_role("region", name="Get alerted when an incident needs you")
    await prompt.get_by_role("button", name="Turn on notifications").click()
    banner = page.get_by_role("region", name="Notifications are blocked")
    await expect(banner).to_be_visible()
    await expect(banner.get_by_role("alert")).to_contain_text(
        "allow notifications in the browser's site settings"
    )
    await shot(page, "push-03-banner-blocked")
    stored = await _stored(page)
    assert stored["permission"] == "denied" and stored["state"] == {"kind": "blocked"}
    await nav_link(page, "Settings").click()
    await expect(page.locator(".push-status strong")).to_have_text("Blocked")
    await expect(page.locator(".push-status")).not_to_contain_text("On")
    await shot(page, "push-04-settings-blocked")
