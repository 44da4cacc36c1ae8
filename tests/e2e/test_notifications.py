"""Notifications while the tab is hidden, with the permission granted by the test.

The page's notifications are recorded by an init script that wraps
`ServiceWorkerRegistration.prototype.showNotification` and `Notification` (they are still
shown). Hiding the tab is emulated: `document.visibilityState`/`hidden`/`hasFocus()` follow
`window.__setHidden()`, which fires `visibilitychange` like a real tab switch. PushManager
cannot reach a push service here, so `subscribe` hands out a subscription minted by the
loopback fake push service, and the test checks the page registers it with the server.
"""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest

from tests.e2e.browser import (
    CONTROLLABLE_VISIBILITY,
    RECORD_NOTIFICATIONS,
    WAIT_MS,
    Chromium,
    Page,
    expect,
    message_item,
    open_room,
    requires_browser,
    sign_in,
    stub_push_manager,
)
from tests.support.clients import Api
from tests.support.fake_push_service import FakePushService
from tests.support.servers import ServerProcess

pytestmark = [pytest.mark.e2e, requires_browser]


async def _notifications(page: Page, count: int) -> list[dict[str, Any]]:
    """The page's notifications once there are at least `count` (bounded wait)."""
    await page.wait_for_function(
        "n => window.__notifications.length >= n", arg=count, polling=100, timeout=WAIT_MS
    )
    shown: list[dict[str, Any]] = await page.evaluate("window.__notifications")
    return shown


async def test_notification_appears_while_the_tab_is_hidden(
    browser: Chromium, server: ServerProcess, api: Api
) -> None:
    alice = await api.user("alice", display_name="Alice Lin")
    bob = await api.user("bob", display_name="Bob Chen")
    title = f"Chiller 1 alarm {uuid.uuid4().hex[:6]}"
    room_id = await api.room(alice, title)
    await api.add_member(alice, room_id, bob, "EDITOR")
    vapid = (await api.http.get("/api/push/vapid-public-key")).json()["public_key"]

    with FakePushService() as push_service:
        sub = push_service.mint_subscription()
        page = await browser.page(
            server.base_url,
            permissions=["notifications"],
            init_scripts=(
                RECORD_NOTIFICATIONS,
                CONTROLLABLE_VISIBILITY,
                stub_push_manager(sub.endpoint, sub.p256dh, sub.auth),
            ),
        )
        # Permission already granted: no prompt; the page subscribes with the server's VAPID
        # key and registers the subscription.
        async with page.expect_response(
            lambda r: r.url.endswith("/api/push/subscriptions") and r.request.method == "POST"
        ) as registered:
            await sign_in(page, server.base_url, alice)
        response = await registered.value
        assert response.status == 201
        assert json.loads(response.request.post_data or "{}") == {
            "endpoint": sub.endpoint,
            "keys": {"p256dh": sub.p256dh, "auth": sub.auth},
        }
        assert await page.evaluate("window.__pushSubscribeOptions") == [
            {"userVisibleOnly": True, "applicationServerKey": vapid}
        ]
        await expect(page.get_by_role("region", name="Get alerted when an incident needs you")).to_have_count(
            0
        )

        await open_room(page, title)
        assert await page.evaluate("window.__notifications") == []

        bob_ws = await api.connect(bob, room_id)
        try:
            # Hidden: a new message notifies, titled by the room.
            await page.evaluate("window.__setHidden(true)")
            assert await page.evaluate("document.visibilityState") == "hidden"
            await bob_ws.send_message("Chiller 1 outlet at 14 °C and rising")
            [first] = await _notifications(page, 1)
            assert first["title"] == title
            assert first["body"] == "Bob Chen: Chiller 1 outlet at 14 °C and rising"
            assert first["tag"] == f"andon-room-{room_id}"
            await expect(page).to_have_title("(1) Andon")

            # A mention notifies once, as a mention.
            await bob_ws.send_message("@Alice Lin can you reset the chiller?", mentions=[alice.user_id])
            second = (await _notifications(page, 2))[1]
            assert second["title"] == f"Bob Chen mentioned you in {title}"
            assert second["body"] == "@Alice Lin can you reset the chiller?"

            # Back on the tab: it counts as read, and what arrives now does not notify.
            await page.evaluate("window.__setHidden(false)")
            await expect(page).to_have_title("Andon")
            await bob_ws.send_message("Seen you are on it, thanks")
            await expect(message_item(page, "Seen you are on it")).to_have_count(1)

            # Hidden again: the next message notifies. Alerts are raised in arrival order, so by
            # now any alert for the earlier ones would have been recorded as well.
            await page.evaluate("window.__setHidden(true)")
            await bob_ws.send_message("Chiller 1 back to 7 °C")
            shown = await _notifications(page, 3)
        finally:
            await bob_ws.close()
        assert [n["body"] for n in shown] == [
            "Bob Chen: Chiller 1 outlet at 14 °C and rising",
            "@Alice Lin can you reset the chiller?",
            "Bob Chen: Chiller 1 back to 7 °C",
        ]
        await page.evaluate("window.__setHidden(false)")
        await page.context.close()
