"""Signing in and out in one browser: a wrong password, sign-out revoking the cookie's token,
and the next user on the same browser seeing nothing of the previous one."""

from __future__ import annotations

import uuid

import httpx
import pytest

from tests.e2e.browser import Chromium, expect, open_room, requires_browser, send, sign_in, stored_texts
from tests.support.clients import PASSWORD, Api
from tests.support.servers import ServerProcess

pytestmark = [pytest.mark.e2e, requires_browser]


async def test_wrong_password_then_sign_out_and_another_user(
    browser: Chromium, server: ServerProcess, api: Api
) -> None:
    alice = await api.user("alice", display_name="Alice Lin")
    bob = await api.user("bob", display_name="Bob Chen")
    alice_room = f"Alice only {uuid.uuid4().hex[:6]}"
    bob_room = f"Bob only {uuid.uuid4().hex[:6]}"
    await api.room(alice, alice_room)
    await api.room(bob, bob_room)

    page = await browser.page(server.base_url)
    await page.goto(f"{server.base_url}/")
    await page.get_by_label("E-mail").fill(alice.user_id)
    await page.get_by_label("Password").fill("not-the-password")
    await page.get_by_role("button", name="Sign in").click()
    await expect(page.get_by_role("alert")).to_have_text("Wrong e-mail or password.")

    # E-mail addresses are case-insensitive.
    await page.get_by_label("E-mail").fill(alice.user_id.upper())
    await page.get_by_label("Password").fill(PASSWORD)
    await page.get_by_role("button", name="Sign in").click()
    await expect(page.get_by_role("heading", name="Incident rooms")).to_be_visible()
    await open_room(page, alice_room)
    await send(page, "Only Alice should ever see this here")
    await expect(stored_texts(page)).to_have_text(["Only Alice should ever see this here"])
    [cookie] = [c for c in await page.context.cookies() if c["name"] == "andon_session"]

    await page.get_by_role("button", name="Sign out").click()
    await expect(page.get_by_role("button", name="Sign in")).to_be_visible()
    assert [c for c in await page.context.cookies() if c["name"] == "andon_session"] == []
    async with httpx.AsyncClient(base_url=server.base_url, timeout=10) as http:
        r = await http.get("/api/me", headers={"Authorization": f"Bearer {cookie['value']}"})
    assert r.status_code == 401
    assert await page.evaluate("localStorage.getItem('andon.last_user.v1')") is None

    # The next user on this browser sees only their own rooms, and nothing of Alice's.
    await sign_in(page, server.base_url, bob)
    await expect(page.get_by_role("link", name=bob_room)).to_be_visible()
    await expect(page.get_by_role("link", name=alice_room)).to_have_count(0)
    await expect(page.get_by_text("Only Alice should ever see this here")).to_have_count(0)
    await page.reload()
    await expect(page.get_by_role("heading", name="Incident rooms")).to_be_visible()
    await expect(page.get_by_role("link", name=bob_room)).to_be_visible()
    await expect(page.get_by_role("link", name=alice_room)).to_have_count(0)
