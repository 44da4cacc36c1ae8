"""A large room's member panel (docs/big-rooms.md): the online count, and the note that only the
people one talks to are marked online. The threshold is lowered to 2 so four people make it large."""

from __future__ import annotations

import re
import uuid
from typing import Any

import pytest

from tests.e2e.browser import Chromium, expect, open_room, requires_browser, shot
from tests.support.clients import Api, WsClient

pytestmark = [pytest.mark.e2e, requires_browser]

NOTE = "A large room: only the people you talk to are marked online here."


def _row(page: Any, name: str) -> Any:
    return page.locator(".member-list li").filter(has_text=name)


async def test_a_large_room_shows_the_online_count_and_marks_the_people_one_talks_to(
    browser: Chromium, server_factory: Any, database_url: str
) -> None:
    srv = server_factory(PRESENCE_LIST_MAX="2", PRESENCE_LARGE_INTERVAL="0.1")
    api = Api(srv.base_url, database_url)
    sockets: list[WsClient] = []
    try:
        alice = await api.user("alice", display_name="Alice Lin")
        bob = await api.user("bob", display_name="Bob Chen")
        carol = await api.user("carol", display_name="Carol Wu")
        zed = await api.user("zed", display_name="Zed Huang")
        dave = await api.user("dave", display_name="Dave Tsai")
        title = f"Plant-wide {uuid.uuid4().hex[:6]}"
        room_id = await api.room(alice, title)
        for who in (bob, carol, zed, dave):
            await api.add_member(alice, room_id, who, "EDITOR")
        for who in (bob, carol, zed):
            sockets.append(await api.connect(who, room_id))

        page = await browser.page(srv.base_url, alice)
        await open_room(page, title)
        # Four online against a list maximum of 2: a large room.
        toggle = page.get_by_role("button", name=re.compile(r"online$"))
        await expect(toggle).to_have_text(re.compile(r"4 online"))
        await toggle.click()
        panel = page.locator(".members")
        await expect(panel.get_by_role("status")).to_have_text("4 online")
        await expect(panel.get_by_text(NOTE)).to_be_visible()

        # Zed speaks, then Dave comes online: the next presence sample puts the speaker first.
        await sockets[2].send_message("press 4 stopped")
        sockets.append(await api.connect(dave, room_id))
        await expect(panel.get_by_role("status")).to_have_text("5 online")
        await expect(_row(page, "Zed Huang").locator(".presence-dot.online")).to_be_visible()
        # Members outside the sample are not claimed to be offline.
        await expect(_row(page, "Bob Chen")).not_to_contain_text("offline")
        await shot(page, "big-room-members")

        # Back to a small room: the whole list is known again and the note goes.
        for ws in sockets[:3]:
            await ws.close()
        await expect(panel.get_by_text(NOTE)).to_be_hidden()
        await expect(toggle).to_have_text(re.compile(r"2 online"))
        await expect(_row(page, "Bob Chen")).to_contain_text("offline")
    finally:
        for ws in sockets:
            await ws.close()
        await api.aclose()
