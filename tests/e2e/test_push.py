"""Web Push from end to end: the page subscribes (PushManager stubbed with a subscription minted
by the loopback fake push service), a real worker pushes a mention to that service, and the
decrypted payload is handed to the page's service worker (CDP `ServiceWorker.deliverPushMessage`,
as the browser's push service would), which shows the notification."""

from __future__ import annotations

import asyncio
import json
import uuid
from typing import Any
from urllib.parse import urljoin

import pytest

from tests.e2e.browser import (
    WAIT_MS,
    Chromium,
    expect,
    requires_browser,
    sign_in,
    stub_push_manager,
)
from tests.support.clients import Api
from tests.support.fake_push_service import FakePushService
from tests.workers.conftest import Stack

pytestmark = [pytest.mark.e2e, requires_browser]


async def test_a_pushed_mention_is_shown_by_the_service_worker(
    browser: Chromium, worker_stack: Stack, stack_api: Api
) -> None:
    with FakePushService() as push_service:
        await _scenario(browser, stack_api, push_service, worker_stack.server.base_url)


async def _scenario(browser: Chromium, api: Api, push_service: FakePushService, base_url: str) -> None:
    alice = await api.user("alice", display_name="Alice Lin")
    bob = await api.user("bob", display_name="Bob Chen")
    title = f"Kiln 2 flame out {uuid.uuid4().hex[:6]}"
    room_id = await api.room(alice, title)
    await api.add_member(alice, room_id, bob, "EDITOR")
    sub = push_service.mint_subscription()

    page = await browser.page(
        base_url,
        permissions=["notifications"],
        init_scripts=(stub_push_manager(sub.endpoint, sub.p256dh, sub.auth),),
    )
    async with page.expect_response(
        lambda r: r.url.endswith("/api/push/subscriptions") and r.request.method == "POST"
    ) as registered:
        await sign_in(page, base_url, alice)
    assert (await registered.value).status == 201
    # Alice stays on the room list: no connection to the room, so she is pushed.
    await expect(page.get_by_role("link", name=title)).to_be_visible()

    cdp = await page.context.new_cdp_session(page)
    registrations: list[dict[str, Any]] = []
    cdp.on("ServiceWorker.workerRegistrationUpdated", lambda e: registrations.extend(e["registrations"]))
    await cdp.send("ServiceWorker.enable")
    assert await asyncio.wait_for(
        page.evaluate("navigator.serviceWorker.ready.then((r) => r.active !== null)"), WAIT_MS / 1000
    )

    ws = await api.connect(bob, room_id)
    try:
        # Markdown in the message: the notification shows its words (plain_text), not the source.
        await ws.send_message(
            "@Alice Lin **kiln 2** needs a [restart permit](https://permits.example/kiln-2)",
            mentions=[alice.user_id],
        )
    finally:
        await ws.close()
    [delivery] = await push_service.wait_for_deliveries_async(1, token=sub.token, timeout=20)
    payload = delivery.payload
    assert payload is not None
    assert payload["kind"] == "mention" and payload["room_id"] == room_id
    assert payload["sender_display_name"] == "Bob Chen"
    assert urljoin(f"{base_url}/", payload["url"]).startswith(f"{base_url}/rooms/{room_id}")

    [registration] = [r for r in registrations if r["scopeURL"] == f"{base_url}/" and not r["isDeleted"]]
    await cdp.send(
        "ServiceWorker.deliverPushMessage",
        {"origin": base_url, "registrationId": registration["registrationId"], "data": json.dumps(payload)},
    )
    # The notification as the worker showed it (a bounded poll inside the page).
    shown = await page.evaluate(
        """async ({ tag, timeoutMs }) => {
             const reg = await navigator.serviceWorker.getRegistration();
             const deadline = Date.now() + timeoutMs;
             for (;;) {
               const shown = await reg.getNotifications({ tag });
               if (shown.length > 0 || Date.now() > deadline) {
                 return shown.map((n) => ({ title: n.title, body: n.body, tag: n.tag, url: n.data?.url }));
               }
               await new Promise((resolve) => setTimeout(resolve, 100));
             }
           }""",
        {"tag": f"andon-room-{room_id}", "timeoutMs": WAIT_MS},
    )
    assert shown == [
        {
            "title": f"Bob Chen mentioned you in {title}",
            "body": "@Alice Lin kiln 2 needs a restart permit",
            "tag": f"andon-room-{room_id}",
            "url": urljoin(f"{base_url}/", payload["url"]),
        }
    ]
