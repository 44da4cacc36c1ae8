"""What a Slack or Mattermost user expects of a message (issue 16): Markdown and links, an
attachment's name/size/type and a full-size image, who reacted, the edit history, dates with
the year when it matters, and a keyboard path to the composer with no axe-core violations."""

from __future__ import annotations

import io
import re
import uuid
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import asyncpg
import pytest

from tests.e2e.browser import (
    ROOT,
    Chromium,
    composer,
    expect,
    message_item,
    nav_link,
    open_room,
    requires_browser,
    send,
    shot,
)
from tests.e2e.test_media import _png
from tests.support.clients import Api, User
from tests.support.servers import ServerProcess
from tests.workers.conftest import Stack, eventually

pytestmark = [pytest.mark.e2e, requires_browser]

AXE = ROOT / "webclient" / "node_modules" / "axe-core" / "axe.min.js"

FORMATTED = (
    "**Line 3 stopped, @Bob Chen**, _check_ the `pump-7` seal\n"
    "Runbook: https://wiki.example.com/runbooks/line3?step=2\n\n"
    "1. isolate the pump\n2. call [maintenance](https://maint.example.com/call)\n\n"
    "> last time it was the gasket\n\n"
    "```\nsystemctl restart line3\n```"
)
HOSTILE = [
    '<img src=x onerror="window.__xss=1"> raw html',
    "[click me](javascript:window.__xss=1) and [data](data:text/html,<script>window.__xss=1</script>)",
    "<script>window.__xss=1</script> **still bold**",
]


async def _room(api: Api, alice: User, bob: User, label: str) -> tuple[str, str]:
    title = f"{label} {uuid.uuid4().hex[:6]}"
    room_id = await api.room(alice, title)
    await api.add_member(alice, room_id, bob, "EDITOR")
    return title, room_id


async def test_markdown_links_and_mentions_render_and_nothing_executes(
    browser: Chromium, server: ServerProcess, api: Api
) -> None:
    alice = await api.user("alice", display_name="Alice Lin")
    bob = await api.user("bob", display_name="Bob Chen")
    title, room_id = await _room(api, alice, bob, "Line 3")
    page = await browser.page(server.base_url, bob)
    await open_room(page, title)
    ws = await api.connect(alice, room_id)
    try:
        await ws.send_message(FORMATTED, mentions=[bob.user_id])
        for text in HOSTILE:
            await ws.send_message(text)
    finally:
        await ws.close()

    item = message_item(page, "Line 3 stopped")
    body = item.locator(".text.md")
    await expect(body.locator("strong").first).to_have_text("Line 3 stopped, @Bob Chen")
    await expect(body.locator("em")).to_have_text("check")
    await expect(body.locator("code").first).to_have_text("pump-7")
    await expect(body.locator("ol > li")).to_have_count(2)
    await expect(body.locator("blockquote")).to_contain_text("gasket")
    await expect(body.locator("pre > code")).to_have_text("systemctl restart line3\n")
    # Mine, inside bold text: highlighted as a mention of me.
    await expect(body.locator("strong .mention.mention-me")).to_have_text("@Bob Chen")
    links = body.locator("a")
    await expect(links).to_have_count(2)
    for i, href in enumerate(
        ("https://wiki.example.com/runbooks/line3?step=2", "https://maint.example.com/call")
    ):
        await expect(links.nth(i)).to_have_attribute("href", href)
        await expect(links.nth(i)).to_have_attribute("target", "_blank")
        await expect(links.nth(i)).to_have_attribute("rel", "noopener noreferrer")

    # Hostile content: shown as text, no element of it, no link, nothing ran.
    await expect(message_item(page, "raw html")).to_contain_text('<img src=x onerror="window.__xss=1">')
    await expect(message_item(page, "still bold").locator("strong")).to_have_text("still bold")
    await expect(message_item(page, "click me").locator("a")).to_have_count(0)
    assert await page.locator(".messages img, .messages script").count() == 0
    on_attrs = await page.evaluate(
        "() => [...document.querySelectorAll('.messages *')].flatMap(e => [...e.attributes]"
        ".map(a => a.name)).filter(n => n.startsWith('on'))"
    )
    assert on_attrs == []
    assert await page.evaluate("() => window.__xss") is None
    await shot(page, "client_render_markdown")


async def test_search_hits_keep_their_formatting_and_highlights(
    browser: Chromium, worker_stack: Stack, stack_api: Api
) -> None:
    api = stack_api
    alice = await api.user("alice", display_name="Alice Lin")
    bob = await api.user("bob", display_name="Bob Chen")
    _title, room_id = await _room(api, alice, bob, "Boiler")
    word = f"manifold{uuid.uuid4().hex[:6]}"
    ws = await api.connect(alice, room_id)
    try:
        await ws.send_message(f"**{word} pressure** high, see https://wiki.example.com/{word}")
    finally:
        await ws.close()

    async def indexed() -> bool:
        r = await api.http.get("/api/search/messages", params={"q": word}, headers=bob.headers)
        return r.status_code == 200 and r.json()["total"] == 1

    await eventually(indexed, timeout=30, what="the message indexed")
    page = await browser.page(worker_stack.server.base_url, bob)
    await nav_link(page, "Search").click()
    box = page.get_by_role("searchbox")
    await box.fill(word)
    await box.press("Enter")
    hit = page.locator(".hit-body").first
    await expect(hit.locator("strong mark")).to_have_text(re.compile(word, re.I))
    await expect(hit.locator("mark")).to_have_count(2)
    await expect(hit.locator("a")).to_have_count(0)  # the hit is a link already
    await shot(page, "client_render_search")


async def test_attachments_show_name_size_type_with_a_caption_and_images_open_full_size(
    browser: Chromium, server: ServerProcess, api: Api
) -> None:
    alice = await api.user("alice", display_name="Alice Lin")
    bob = await api.user("bob", display_name="Bob Chen")
    title, room_id = await _room(api, alice, bob, "Reflow oven")
    csv = b"time,temp\n" + b"10:02,85\n" * 300

    async def upload(name: str, data: bytes) -> str:
        r = await api.http.post(
            f"/api/rooms/{room_id}/files",
            files={"file": (name, io.BytesIO(data), "text/plain")},
            headers=alice.headers,
        )
        assert r.status_code == 201, r.text
        return str(r.json()["file_id"])

    image_id = await upload("seal-leak.png", _png(640, 480))
    csv_id = await upload("oven-temps.csv", csv)
    ws = await api.connect(alice, room_id)
    try:
        await ws.send_message("Seal **leaking** at zone 4", message_type="image_ref", file_id=image_id)
        await ws.send_message("Last hour of readings", message_type="file_ref", file_id=csv_id)
    finally:
        await ws.close()

    page = await browser.page(server.base_url, bob)
    await open_room(page, title)
    image_item = message_item(page, "zone 4")
    await expect(image_item.get_by_test_id("file-meta")).to_have_text(
        re.compile(r"seal-leak\.png · [\d.]+ (B|KB) · PNG")
    )
    await expect(image_item.locator(".caption strong")).to_have_text("leaking")
    file_item = message_item(page, "Last hour")
    await expect(file_item.locator("a.file-link")).to_contain_text("oven-temps.csv")
    await expect(file_item.get_by_test_id("file-meta")).to_have_text(re.compile(r"\s*2\.\d KB · (TXT|CSV)"))
    await expect(file_item.locator(".caption")).to_have_text("Last hour of readings")
    await shot(page, "client_render_attachments")

    # Full size in a dialog, closed by Esc, the focus back on the image.
    opener = image_item.get_by_role("button", name="Open seal-leak.png full size")
    await opener.click()
    dialog = page.get_by_role("dialog", name="Image: seal-leak.png")
    await expect(dialog).to_be_visible()
    full = dialog.locator("img.lightbox-image")
    await page.wait_for_function(
        "() => { const i = document.querySelector('img.lightbox-image'); return i && i.complete && i.naturalWidth === 640 }"
    )
    width = await full.evaluate("i => i.getBoundingClientRect().width")
    inline_width = await image_item.locator("img.inline-image").evaluate(
        "i => i.getBoundingClientRect().width"
    )
    assert width > inline_width
    await shot(page, "client_render_lightbox")
    await page.keyboard.press("Escape")
    await expect(dialog).to_be_hidden()
    await expect(opener).to_be_focused()
    # And by keyboard alone.
    await page.keyboard.press("Enter")
    await expect(dialog).to_be_visible()
    await dialog.get_by_role("button", name="Close").press("Enter")
    await expect(dialog).to_be_hidden()


async def test_who_reacted_shows_names_from_history_and_live(
    browser: Chromium, server: ServerProcess, api: Api
) -> None:
    alice = await api.user("alice", display_name="Alice Lin")
    bob = await api.user("bob", display_name="Bob Chen")
    carol = await api.user("carol", display_name="Carol Wu")
    title, room_id = await _room(api, alice, bob, "Packaging")
    await api.add_member(alice, room_id, carol, "EDITOR")
    a = await api.connect(alice, room_id)
    c = await api.connect(carol, room_id)
    try:
        sent = await a.send_message("Conveyor belt restarted")
        await c.send({"type": "add_reaction", "message_id": sent["message_id"], "emoji": "👍"})
        await c.next("reaction_added")

        page = await browser.page(server.base_url, bob)
        await open_room(page, title)
        item = message_item(page, "Conveyor belt")
        button = item.get_by_role("button", name=re.compile("^👍 1"))
        await button.hover()
        tip = item.get_by_role("tooltip")
        await expect(tip).to_be_visible()
        await expect(tip).to_have_text("Carol Wu reacted with 👍")  # from history

        await a.send({"type": "add_reaction", "message_id": sent["message_id"], "emoji": "👍"})
        await expect(item.get_by_role("button", name=re.compile("^👍 2"))).to_be_visible()
        await item.get_by_role("button", name=re.compile("^👍 2")).hover()
        await expect(item.get_by_role("tooltip")).to_have_text("Carol Wu & Alice Lin reacted with 👍")  # live
        await item.get_by_role("button", name=re.compile("^👍 2")).click()  # Bob adds his own
        await expect(item.get_by_role("tooltip")).to_have_text("Carol Wu, Alice Lin & You reacted with 👍")
        await shot(page, "client_render_reactions")
        await c.send({"type": "remove_reaction", "message_id": sent["message_id"], "emoji": "👍"})
        await expect(item.get_by_role("tooltip")).to_have_text("Alice Lin & You reacted with 👍")
        # Keyboard focus shows it too, and it is the button's description.
        await item.get_by_role("button", name=re.compile("^👍 2")).focus()
        await expect(item.get_by_role("button", name=re.compile("^👍 2"))).to_have_accessible_description(
            "Alice Lin & You reacted with 👍"
        )
    finally:
        await a.close()
        await c.close()


async def test_edit_history_for_the_sender_and_owner_only(
    browser: Chromium, server: ServerProcess, api: Api
) -> None:
    alice = await api.user("alice", display_name="Alice Lin")  # OWNER
    bob = await api.user("bob", display_name="Bob Chen")
    carol = await api.user("carol", display_name="Carol Wu")
    title, room_id = await _room(api, alice, bob, "Paint shop")
    await api.add_member(alice, room_id, carol, "EDITOR")

    page = await browser.page(server.base_url, bob)
    await open_room(page, title)
    await send(page, "Booth 2 at 45 C")
    item = message_item(page, "Booth 2")
    await item.get_by_role("button", name="Edit").click()
    edit = page.get_by_label("Edit message")  # the row shows no "Booth 2" text while it is edited
    await edit.fill("Booth 2 at **54 C**, not 45")
    await edit.press("Enter")
    await expect(item.locator("strong")).to_have_text("54 C")

    edited = item.get_by_role("button", name="(edited) Show edit history")
    await edited.click()
    dialog = page.get_by_role("dialog", name="Edit history")
    await expect(dialog).to_be_visible()
    versions = dialog.get_by_test_id("version")
    await expect(versions).to_have_count(2)
    await expect(versions.nth(0)).to_contain_text("Original")
    await expect(versions.nth(0)).to_contain_text("Booth 2 at 45 C")
    await expect(versions.nth(1)).to_contain_text("Current")
    await expect(versions.nth(1).locator(".text strong")).to_have_text("54 C")
    await shot(page, "client_render_edit_history")
    await page.keyboard.press("Escape")
    await expect(dialog).to_be_hidden()

    # The room's OWNER may read it; another EDITOR sees only that it was edited.
    owner = await browser.page(server.base_url, alice)
    await open_room(owner, title)
    await message_item(owner, "Booth 2").get_by_role("button", name="(edited) Show edit history").click()
    await expect(owner.get_by_role("dialog", name="Edit history").get_by_test_id("version")).to_have_count(2)
    other = await browser.page(server.base_url, carol)
    await open_room(other, title)
    carol_item = message_item(other, "Booth 2")
    await expect(carol_item.locator(".edited")).to_have_text("(edited)")
    await expect(carol_item.get_by_role("button", name=re.compile("edited"))).to_have_count(0)


async def test_dates_today_older_and_another_year(
    browser: Chromium, server: ServerProcess, api: Api, database_url: str
) -> None:
    alice = await api.user("alice", display_name="Alice Lin")
    bob = await api.user("bob", display_name="Bob Chen")
    title, room_id = await _room(api, alice, bob, "Dates")
    ws = await api.connect(alice, room_id)
    try:
        last_year = await ws.send_message("From last year")
        older = await ws.send_message("From three days ago")
        await ws.send_message("From today")
    finally:
        await ws.close()
    now = datetime.now(UTC)
    a_year_ago = now.replace(year=now.year - 1, month=6, day=15, hour=1, minute=30, second=0, microsecond=0)
    conn = await asyncpg.connect(database_url.replace("+asyncpg", ""))
    try:
        for mid, at in (
            (last_year["message_id"], a_year_ago),
            (older["message_id"], now - timedelta(days=3)),
        ):
            await conn.execute(
                "UPDATE messages SET created_at = $1 WHERE message_id = $2", at, uuid.UUID(mid)
            )
    finally:
        await conn.close()

    page = await browser.page(server.base_url, bob, timezone_id="America/Los_Angeles")
    await open_room(page, title)
    taipei = timezone(timedelta(hours=8))
    year_time = message_item(page, "From last year").locator(".message-head time")
    local = a_year_ago.astimezone(taipei)
    await expect(year_time).to_have_text(f"{local:%m/%d %H:%M}")
    await expect(year_time).to_have_attribute(
        "title", f"{local.day} {local:%b} {local.year}, {local:%H:%M:%S} GMT+8 (Asia/Taipei)"
    )
    await expect(message_item(page, "three days ago").locator(".message-head time")).to_have_text(
        re.compile(r"^\d\d/\d\d \d\d:\d\d$")
    )
    await expect(message_item(page, "From today").locator(".message-head time")).to_have_text(
        re.compile(r"^\d\d:\d\d$")
    )
    await shot(page, "client_render_dates")


async def _axe(page: Any) -> list[dict[str, Any]]:
    if not await page.evaluate("() => typeof axe !== 'undefined'"):
        await page.add_script_tag(path=str(AXE))
    result: dict[str, Any] = await page.evaluate("async () => await axe.run(document)")
    return [{"id": v["id"], "nodes": [n["target"] for n in v["nodes"]]} for v in result["violations"]]


async def test_keyboard_reaches_the_composer_and_axe_finds_nothing(
    browser: Chromium, server: ServerProcess, api: Api
) -> None:
    assert AXE.is_file(), "axe-core is a dev dependency of the web client: run npm ci in webclient/"
    alice = await api.user("alice", display_name="Alice Lin")
    bob = await api.user("bob", display_name="Bob Chen")
    title, room_id = await _room(api, alice, bob, "Keyboard")
    r = await api.http.post(
        f"/api/rooms/{room_id}/files",
        files={"file": ("gauge.png", io.BytesIO(_png(16, 16)), "image/png")},
        headers=alice.headers,
    )
    ws = await api.connect(alice, room_id)
    try:
        for i in range(30):
            await ws.send_message(f"reading {i}: **ok**, see https://wiki.example.com/r/{i}")
        sent = await ws.send_message("Gauge photo", message_type="image_ref", file_id=r.json()["file_id"])
        await ws.send({"type": "add_reaction", "message_id": sent["message_id"], "emoji": "👀"})
        await ws.next("reaction_added")
        await ws.send_message(FORMATTED, mentions=[bob.user_id])
    finally:
        await ws.close()

    # bypass_csp: the page's CSP (script-src 'self') would refuse the injected axe-core script.
    page = await browser.page(server.base_url, bob, bypass_csp=True)
    await open_room(page, title)
    # Opening a room puts the focus in the message box.
    await expect(composer(page)).to_be_focused()
    await send(page, "typed right away")
    await expect(message_item(page, "typed right away")).to_have_count(1)

    # On a touch screen the room does not grab the focus (no on-screen keyboard over the
    # messages); from the top of the freshly loaded page the second Tab is "Skip to composer".
    phone = await browser.page(
        server.base_url, bob, viewport={"width": 390, "height": 844}, has_touch=True, is_mobile=True
    )
    assert await phone.evaluate("() => matchMedia('(pointer: coarse)').matches")
    await phone.goto(f"{server.base_url}/rooms/{room_id}")
    await expect(phone.get_by_role("heading", name=title, level=1)).to_be_visible()
    await expect(composer(phone)).to_be_visible()
    await expect(composer(phone)).not_to_be_focused()
    await phone.keyboard.press("Tab")
    await expect(phone.get_by_role("link", name="Skip to content")).to_be_focused()
    await phone.keyboard.press("Tab")
    skip = phone.get_by_role("link", name="Skip to composer")
    await expect(skip).to_be_focused()
    await expect(skip).to_be_in_viewport()
    await shot(phone, "client_render_skip_link")
    await phone.keyboard.press("Enter")
    await expect(composer(phone)).to_be_focused()

    await expect(message_item(page, "Gauge photo").locator("img.inline-image")).to_be_visible()
    violations = await _axe(page)
    assert violations == [], violations
    await shot(page, "client_render_axe_room")
    # The full-size image dialog and a reaction's tooltip too.
    await message_item(page, "Gauge photo").get_by_role("button", name="Open gauge.png full size").click()
    await expect(page.get_by_role("dialog", name="Image: gauge.png")).to_be_visible()
    violations = await _axe(page)
    assert violations == [], violations
    await page.keyboard.press("Escape")
    await message_item(page, "Gauge photo").get_by_role("button", name=re.compile("^👀 1")).hover()
    await expect(message_item(page, "Gauge photo").get_by_role("tooltip")).to_have_text(
        "Alice Lin reacted with 👀"
    )
    violations = await _axe(page)
    assert violations == [], violations
