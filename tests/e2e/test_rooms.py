"""An owner runs a room from the UI: creates it, adds a member, sees who is online and typing,
changes the member's role, archives the room, and removes the member; the member's browser
follows each change live."""

from __future__ import annotations

import re
import uuid

import pytest

from tests.e2e.browser import (
    Chromium,
    composer,
    connection,
    expect,
    expect_live,
    message_list,
    open_room,
    requires_browser,
    send,
    stored_texts,
)
from tests.support.clients import Api
from tests.support.servers import ServerProcess

pytestmark = [pytest.mark.e2e, requires_browser]


async def test_owner_manages_the_room_and_the_member_follows_live(
    browser: Chromium, server: ServerProcess, api: Api
) -> None:
    alice = await api.user("alice", display_name="Alice Lin")
    bob = await api.user("bob", display_name="Bob Chen")
    title = f"Dryer 4 smoke {uuid.uuid4().hex[:6]}"

    a = await browser.page(server.base_url, alice)
    await a.get_by_role("button", name="New room").click()
    form = a.get_by_role("form", name="New room")
    await form.get_by_label("Title").fill(title)
    await form.get_by_label("Description (optional)").fill("Smoke seen at the dryer outlet")
    await form.get_by_role("button", name="Create room").click()
    await expect(a.get_by_role("heading", name=title, level=1)).to_be_visible()
    await expect_live(a)
    room_id = a.url.rsplit("/", 1)[-1]

    # Add Bob from the members panel.
    await a.get_by_role("button", name=re.compile(r"\d+ online")).click()
    side = a.get_by_role("complementary", name="Members")
    await expect(side.get_by_label("Room status")).to_have_value("active")
    add = side.get_by_role("form", name="Add member")
    await add.get_by_label("Add member (e-mail)").fill(bob.user_id.upper())
    await add.get_by_label("Role").select_option("EDITOR")
    await add.get_by_role("button", name="Add").click()
    bob_row = side.get_by_role("listitem").filter(has_text="Bob Chen")
    await expect(bob_row).to_contain_text("Bob Chen, offline")
    await expect(message_list(a)).to_contain_text("Bob Chen was added as EDITOR by Alice Lin")

    # Bob finds the room in his list; Alice sees him come online.
    b = await browser.page(server.base_url, bob)
    await open_room(b, title)
    await expect(bob_row).to_contain_text("Bob Chen, online")
    await expect(a.get_by_role("button", name=re.compile(r"2 online"))).to_be_visible()

    # Typing shows on the other side and clears when the message arrives.
    await composer(b).press_sequentially("Smoke is")
    typing = a.locator(".typing")
    await expect(typing).to_have_text("Bob Chen is typing…")
    await composer(b).press_sequentially(" coming from the lint filter")
    await composer(b).press("Enter")
    await expect(stored_texts(a)).to_have_text(["Smoke is coming from the lint filter"])
    await expect(typing).to_have_text("")

    # VIEWER: Bob can read but no longer post.
    await bob_row.get_by_label("Role of Bob Chen").select_option("VIEWER")
    await expect(b.get_by_role("note")).to_have_text("You can read this room but not post (VIEWER).")
    await expect(composer(b)).to_have_count(0)
    await expect(message_list(b)).to_contain_text("Bob Chen is now VIEWER (changed by Alice Lin)")
    await bob_row.get_by_label("Role of Bob Chen").select_option("EDITOR")
    await expect(composer(b)).to_be_visible()

    # Archived: read-only for everyone, live.
    await send(a, "Filter cleaned, archiving")
    await side.get_by_label("Room status").select_option("archived")
    for page in (a, b):
        await expect(page.get_by_role("note")).to_have_text("This room is archived and read-only.")
        await expect(composer(page)).to_have_count(0)
        await expect(page.locator(".room-head-title")).to_contain_text("archived")
        await expect(message_list(page)).to_contain_text(
            "Alice Lin changed the room status from active to archived"
        )
    r = await api.http.get(f"/api/rooms/{room_id}", headers=alice.headers)
    assert r.json()["status"] == "archived"

    # Removed: Bob's connection is closed and says so.
    a.once("dialog", lambda dialog: dialog.accept())
    await bob_row.get_by_role("button", name="Remove Bob Chen").click()
    await expect(connection(b)).to_have_text("No access to this room")
    await expect(side.get_by_role("listitem").filter(has_text="Bob Chen")).to_have_count(0)
    r = await api.http.get(f"/api/rooms/{room_id}/members", headers=alice.headers)
    assert [m["user_id"] for m in r.json()["members"]] == [alice.user_id]
