"""The search page against a server whose worker keeps the search index: highlighted hits,
user content shown as text, the room filter, Chinese substrings, and a hit opens its room."""

from __future__ import annotations

import re
import uuid
from typing import Any

import pytest

from tests.e2e.browser import Chromium, expect, nav_link, requires_browser, shot
from tests.support.clients import Api, User
from tests.workers.conftest import Stack, eventually

pytestmark = [pytest.mark.e2e, requires_browser]

XSS = '<img src=x onerror="window.__xss=1"> pressure gauge cracked'


async def _search_total(api: Api, user: User, q: str) -> int:
    r = await api.http.get("/api/search/messages", params={"q": q}, headers=user.headers)
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    return int(body["total"])


async def test_search_highlights_hits_as_text_and_opens_the_room(
    browser: Chromium, worker_stack: Stack, stack_api: Api
) -> None:
    api = stack_api
    alice = await api.user("alice", display_name="Alice Lin")
    bob = await api.user("bob", display_name="Bob Chen")
    suffix = uuid.uuid4().hex[:6]
    boiler_title, tower_title = f"Boiler house {suffix}", f"Cooling tower {suffix}"
    boiler = await api.room(alice, boiler_title)
    tower = await api.room(alice, tower_title)
    await api.add_member(alice, boiler, bob, "EDITOR")

    ws = await api.connect(bob, boiler)
    try:
        await ws.send_message("Feed pump pressure dropped to 2 bar")
        await ws.send_message(XSS)
        await ws.send_message("Burner restarted")
        chinese = await ws.send_message("鍋爐壓力過高，請檢查")
        gone = await ws.send_message("pressure test, please ignore")
        await ws.send({"type": "delete_message", "message_id": gone["message_id"]})
        await ws.next("message_deleted")
    finally:
        await ws.close()
    ws = await api.connect(alice, tower)
    try:
        await ws.send_message("Tower fan pressure normal")
    finally:
        await ws.close()
    # The worker indexes asynchronously: wait (bounded) until the index has all of them.
    await eventually(
        lambda: _has(api, alice, "pressure", 3), timeout=30, what="three indexed 'pressure' messages"
    )
    await eventually(lambda: _has(api, alice, "壓力", 1), timeout=30, what="the Chinese message indexed")

    page = await browser.page(worker_stack.server.base_url, alice)
    await nav_link(page, "Search").click()
    form = page.get_by_role("search")
    await form.get_by_label("Search words").fill("pressure")
    await form.get_by_role("button", name="Search").click()
    await expect(page).to_have_url(re.compile(r"/search\?q=pressure$"))
    await expect(page.get_by_role("status").filter(has_text=re.compile(r"^\d+ results?$"))).to_have_text(
        "3 results"
    )
    hits = page.locator("ol.search-results").get_by_role("link")
    await expect(hits).to_have_count(3)
    await expect(hits.filter(has_text="Feed pump pressure dropped to 2 bar")).to_contain_text(boiler_title)
    await expect(hits.filter(has_text="Tower fan pressure normal")).to_contain_text(tower_title)
    await expect(hits.filter(has_text="please ignore")).to_have_count(0)
    # Every matched word is marked, and nothing else is.
    marks = page.locator("ol.search-results mark")
    await expect(marks).to_have_count(3)
    await expect(marks).to_have_text([re.compile("^pressure$", re.I)] * 3)
    # User content is text: the would-be tag is shown literally and never runs.
    await expect(hits.filter(has_text=XSS)).to_have_count(1)
    await expect(page.locator("ol.search-results img")).to_have_count(0)
    assert await page.evaluate("window.__xss") is None
    await shot(page, "05-search")

    # The room filter.
    await form.get_by_label("Room").select_option(label=tower_title)
    await form.get_by_role("button", name="Search").click()
    await expect(page.get_by_role("status").filter(has_text="result")).to_have_text("1 result")
    await expect(hits).to_have_count(1)
    await expect(hits).to_contain_text("Tower fan pressure normal")

    # Chinese text matches by substring.
    await form.get_by_label("Room").select_option(label="All rooms")
    await form.get_by_label("Search words").fill("壓力")
    await form.get_by_role("button", name="Search").click()
    await expect(page.get_by_role("status").filter(has_text="result")).to_have_text("1 result")
    await expect(page.locator("ol.search-results mark")).to_have_text(["壓力"])

    # A hit opens its room at the message, highlighted.
    await hits.first.click()
    await expect(page.get_by_role("heading", name=boiler_title, level=1)).to_be_visible()
    seq = chinese["sequence_number"]
    await expect(page).to_have_url(re.compile(rf"/rooms/{boiler}\?at={seq}$"))
    highlighted = page.get_by_test_id("highlighted-message")
    await expect(highlighted).to_have_count(1)
    await expect(highlighted).to_have_attribute("data-sequence-number", str(seq))
    await expect(highlighted).to_contain_text("鍋爐壓力過高，請檢查")


async def _has(api: Api, user: User, q: str, total: int) -> bool:
    return await _search_total(api, user, q) >= total
