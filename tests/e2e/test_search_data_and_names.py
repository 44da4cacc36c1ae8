"""Search in the browser: incident data hits as a small card (units included), `from:` with one
word of a display name, and a query the parser rejects explained in plain words."""

from __future__ import annotations

import re
import uuid
from typing import Any

import pytest

from tests.e2e.browser import Chromium, expect, nav_link, requires_browser, shot
from tests.support.clients import Api, User
from tests.workers.conftest import Stack, eventually

pytestmark = [pytest.mark.e2e, requires_browser]


async def _total(api: Api, user: User, q: str) -> int:
    r = await api.http.get("/api/search/messages", params={"q": q}, headers=user.headers)
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    return int(body["total"])


async def test_data_hits_are_cards_from_takes_a_name_word_and_bad_queries_are_explained(
    browser: Chromium, worker_stack: Stack, stack_api: Api
) -> None:
    api = stack_api
    alice = await api.user("alice", display_name="Alice Lin")
    maint = await api.user("maint", display_name="Maintenance Team")
    title = f"Stamping {uuid.uuid4().hex[:6]}"
    room = await api.room(alice, title)
    await api.add_member(alice, room, maint, "EDITOR")
    ws = await api.connect(maint, room)
    try:
        await ws.send_message("Press 4 hydraulic pressure restored")
        await ws.send_message(
            {
                "pressure": 95,
                "station": "ST-7",
                "_units": {"pressure": "bar"},
                "timestamp": "2026-12-04T02:15:00.000Z",
            },
            message_type="incident_data",
        )
    finally:
        await ws.close()
    ws = await api.connect(alice, room)
    try:
        await ws.send_message("pressure gauge on press 4 replaced by Alice")
    finally:
        await ws.close()
    await eventually(lambda: _has(api, alice, "pressure", 3), timeout=30, what="three indexed messages")

    page = await browser.page(worker_stack.server.base_url, alice)
    await nav_link(page, "Search").click()
    form = page.get_by_role("search")
    results = page.locator("ol.search-results")

    # from: with one word of "Maintenance Team".
    await form.get_by_label("Search words").fill("from:Maintenance pressure")
    await form.get_by_role("button", name="Search").click()
    await expect(page.get_by_role("status").filter(has_text="result")).to_have_text("2 results")
    await expect(results.locator(".sender")).to_have_text(["Maintenance Team", "Maintenance Team"])

    # The incident data hit is a small card with units, not "pressure 95 station ST-7 …".
    card = results.get_by_role("figure").filter(has_text="Incident data")
    await expect(card).to_have_count(1)
    await expect(card.locator('[data-field="pressure"] dd')).to_have_text("95 bar")
    await expect(card.locator('[data-field="station"] dd')).to_have_text("ST-7")
    await expect(card.locator("mark")).to_have_text([re.compile("^pressure$", re.I)])
    await expect(results).not_to_contain_text("_units")
    await expect(results).not_to_contain_text("pressure 95")
    await shot(page, "search-01-from-word-and-data-card")

    # A query the parser rejects: what to type instead, not "HTTP 422: …".
    await form.get_by_label("Search words").fill("has:video pressure")
    await form.get_by_role("button", name="Search").click()
    alert = page.get_by_role("alert")
    await expect(alert).to_have_text(re.compile(r'^"has:video" is not a filter Andon knows\. Use has:image'))
    await expect(alert).not_to_contain_text("HTTP")
    await expect(alert).not_to_contain_text("422")
    await shot(page, "search-02-rejected-query")


async def _has(api: Api, user: User, q: str, total: int) -> bool:
    return await _total(api, user, q) >= total
