"""Two people in one incident room, each in their own browser context, signed in through the UI."""

from __future__ import annotations

import re
import uuid

import pytest

from tests.e2e.browser import (
    Chromium,
    composer,
    dismiss_notification_prompt,
    echoes,
    expect,
    message_item,
    open_room,
    requires_browser,
    send,
    shot,
    shown_sequence,
    sign_in,
    stored_texts,
)
from tests.support.clients import Api
from tests.support.servers import ServerProcess

pytestmark = [pytest.mark.e2e, requires_browser]


def _title(what: str) -> str:
    return f"{what} {uuid.uuid4().hex[:6]}"


async def test_two_users_chat_in_order_through_the_cookie(
    browser: Chromium, server: ServerProcess, api: Api
) -> None:
    alice = await api.user("alice", display_name="Alice Lin")
    bob = await api.user("bob", display_name="Bob Chen")
    title = _title("Line 3 press jam")
    room_id = await api.room(alice, title)
    await api.add_member(alice, room_id, bob, "EDITOR")

    a = await browser.page(server.base_url)
    await sign_in(a, server.base_url, alice, screenshot="01-sign-in")
    b = await browser.page(server.base_url, bob)

    # Signed in by the HttpOnly cookie: script sees no token anywhere.
    cookies = {c["name"]: c for c in await a.context.cookies()}
    assert cookies["andon_session"]["httpOnly"] is True
    assert cookies["andon_session"]["sameSite"] == "Strict"
    token = cookies["andon_session"]["value"]
    visible_to_script: str = await a.evaluate(
        "() => document.cookie + JSON.stringify({...localStorage}) + JSON.stringify({...sessionStorage})"
    )
    assert token not in visible_to_script

    await expect(a.get_by_role("link", name=title)).to_be_visible()
    await shot(a, "02-room-list")
    await dismiss_notification_prompt(a)
    await open_room(a, title)
    await open_room(b, title)

    # Interleaved, each waiting for its own echo to clear, so the order is the typing order.
    said = [
        (a, "Press 4 stopped at 10:02, hydraulic pressure alarm"),
        (b, "On my way, bringing the spare valve"),
        (a, "Operators moved to line 2"),
        (b, "Valve swapped, restarting"),
        (a, "Running again, watching the pressure"),
    ]
    for page, text in said:
        await send(page, text)
        await expect(echoes(page)).to_have_count(0)
    texts = [text for _, text in said]
    for page in (a, b):
        await expect(stored_texts(page)).to_have_text(texts)
    await expect(message_item(b, texts[0]).locator(".sender")).to_have_text("Alice Lin")
    await expect(message_item(a, texts[1]).locator(".sender")).to_have_text("Bob Chen")
    await shot(a, "03-room-view")

    # Both views hold exactly the room's stored stream, in sequence order.
    history = await api.history(alice, room_id, limit=200)
    stored = sorted(history["messages"], key=lambda m: m["sequence_number"])
    expected = [(m["sequence_number"], m["content"] if m["message_type"] == "text" else None) for m in stored]
    assert [t for _, t in expected if t is not None] == texts
    assert await shown_sequence(a) == expected
    assert await shown_sequence(b) == expected


async def test_mention_autocomplete_by_keyboard_and_highlight(
    browser: Chromium, server: ServerProcess, api: Api
) -> None:
    owner = await api.user("alice", display_name="Alice Lin")
    bob = await api.user("bob", display_name="Bob Chen")
    alicia = await api.user("alicia", display_name="Alicia Wu")
    title = _title("Oven 2 overheating")
    room_id = await api.room(owner, title)
    await api.add_member(owner, room_id, bob, "EDITOR")
    await api.add_member(owner, room_id, alicia, "EDITOR")

    b = await browser.page(server.base_url, bob)
    w = await browser.page(server.base_url, alicia)
    await open_room(b, title)
    await open_room(w, title)

    box = composer(b)
    await box.press_sequentially("Can you check the thermocouple @Ali")
    listbox = b.get_by_role("listbox", name="Mention a member")
    await expect(listbox).to_be_visible()
    await expect(box).to_have_attribute("aria-controls", await listbox.get_attribute("id") or "")
    options = listbox.get_by_role("option")
    # Both match "Ali"; the sender is never offered; the first is active.
    await expect(options).to_have_count(2)
    await expect(options.nth(0)).to_contain_text("Alice Lin")
    await expect(options.nth(1)).to_contain_text("Alicia Wu")
    await expect(options.nth(0)).to_have_attribute("aria-selected", "true")
    await box.press("ArrowDown")
    await expect(options.nth(1)).to_have_attribute("aria-selected", "true")
    await expect(options.nth(0)).to_have_attribute("aria-selected", "false")
    await shot(b, "04-mention-autocomplete")
    await box.press("Enter")
    await expect(listbox).to_be_hidden()
    await expect(box).to_have_value("Can you check the thermocouple @Alicia Wu ")
    await box.press_sequentially("before noon?")
    await box.press("Enter")
    await expect(box).to_have_value("")

    text = "Can you check the thermocouple @Alicia Wu before noon?"
    for page in (b, w):
        await expect(message_item(page, text)).to_have_count(1)
    # The mentioned user sees it as a mention of her: highlighted name, highlighted message, a toast.
    mine = message_item(w, text).locator(".mention.mention-me")
    await expect(mine).to_have_text("@Alicia Wu")
    await expect(message_item(w, text)).to_have_class(re.compile(r"\bmentions-me\b"))
    # The toasts' region is "Alerts" (it holds other-message toasts too); this one is a mention's.
    toast = (
        w.get_by_role("region", name="Alerts", exact=True)
        .get_by_role("alert")
        .filter(has_text=f"Bob Chen mentioned you in {title}")
    )
    await expect(toast).to_be_visible()
    await expect(toast).to_have_attribute("data-testid", "mention-toast")
    # The sender sees the mention highlighted, but not as his own.
    await expect(message_item(b, text).locator(".mention")).to_have_text("@Alicia Wu")
    await expect(message_item(b, text).locator(".mention-me")).to_have_count(0)

    [stored] = [m for m in (await api.history(bob, room_id))["messages"] if m["content"] == text]
    assert stored["mentions"] == [alicia.user_id]

    # Esc closes the list (and Enter then sends); ↑ wraps to the last; Tab picks; the mouse picks.
    await box.press_sequentially("Ask @Ali")
    await expect(options).to_have_count(2)
    await box.press("Escape")
    await expect(listbox).to_be_hidden()
    await box.press_sequentially("c")  # still matches both, but this "@" was dismissed
    await expect(listbox).to_be_hidden()
    await box.press("Enter")
    await expect(message_item(w, "Ask @Alic")).to_have_count(1)
    await expect(message_item(w, "Ask @Alic").locator(".mention")).to_have_count(0)
    await box.press_sequentially("@a")
    await box.press("ArrowUp")
    await expect(options.nth(1)).to_have_attribute("aria-selected", "true")
    await box.press("Tab")
    await expect(box).to_have_value("@Alicia Wu ")
    await expect(box).to_be_focused()
    await box.press_sequentially("and @Lin")  # matches a later word of the name
    await expect(options).to_have_text([re.compile("^Alice Lin")])
    await options.first.click()
    await expect(box).to_have_value("@Alicia Wu and @Alice Lin ")
    await box.press("Enter")
    both = "@Alicia Wu and @Alice Lin"
    await expect(message_item(w, both).locator(".mention")).to_have_text(["@Alicia Wu", "@Alice Lin"])
    await expect(message_item(w, both).locator(".mention-me")).to_have_text(["@Alicia Wu"])
    [stored] = [m for m in (await api.history(bob, room_id))["messages"] if m["content"] == both]
    assert sorted(stored["mentions"]) == sorted([alicia.user_id, owner.user_id])


async def test_edit_delete_and_react_are_seen_by_the_other_user(
    browser: Chromium, server: ServerProcess, api: Api
) -> None:
    alice = await api.user("alice", display_name="Alice Lin")
    bob = await api.user("bob", display_name="Bob Chen")
    title = _title("Conveyor 7 belt slip")
    room_id = await api.room(alice, title)
    await api.add_member(alice, room_id, bob, "EDITOR")

    a = await browser.page(server.base_url, alice)
    b = await browser.page(server.base_url, bob)
    await open_room(a, title)
    await open_room(b, title)

    await send(a, "Belt tension 40 N")
    await send(a, "Wrong room, ignore this")
    await expect(stored_texts(b)).to_have_text(["Belt tension 40 N", "Wrong room, ignore this"])
    # Only the sender is offered Edit; Bob is neither sender nor owner: no Delete either.
    await expect(message_item(b, "Belt tension").get_by_role("button", name="Edit")).to_have_count(0)
    await expect(message_item(b, "Belt tension").get_by_role("button", name="Delete")).to_have_count(0)

    # Edit.
    await message_item(a, "Belt tension").get_by_role("button", name="Edit").click()
    editor = a.get_by_label("Edit message")
    await editor.fill("Belt tension 45 N after adjustment")
    await a.get_by_role("button", name="Save").click()
    for page in (a, b):
        edited = message_item(page, "Belt tension 45 N after adjustment")
        await expect(edited).to_have_count(1)
        await expect(edited.get_by_text("(edited)")).to_be_visible()
    await expect(message_item(b, "Belt tension 40 N")).to_have_count(0)

    # React: Alice adds 👍, Bob sees the count, adds his own, then takes it back.
    target = "Belt tension 45 N"
    await message_item(a, target).get_by_role("button", name="Add reaction").click()
    await a.get_by_role("button", name="React with 👍").click()
    await expect(message_item(a, target).get_by_role("button", name="👍 1, including you")).to_be_visible()
    bob_thumb = message_item(b, target).get_by_role("button", name="👍 1", exact=True)
    await expect(bob_thumb).to_be_visible()
    await expect(bob_thumb).to_have_attribute("aria-pressed", "false")
    await bob_thumb.click()
    await expect(message_item(b, target).get_by_role("button", name="👍 2, including you")).to_be_visible()
    await expect(message_item(a, target).get_by_role("button", name="👍 2, including you")).to_be_visible()
    await message_item(b, target).get_by_role("button", name="👍 2, including you").click()
    await expect(message_item(a, target).get_by_role("button", name="👍 1, including you")).to_be_visible()
    await expect(message_item(b, target).get_by_role("button", name="👍 1", exact=True)).to_be_visible()

    # Delete (confirmed in the browser's dialog): both see the placeholder in its place.
    a.once("dialog", lambda dialog: dialog.accept())
    await message_item(a, "Wrong room").get_by_role("button", name="Delete").click()
    for page in (a, b):
        await expect(message_item(page, "Wrong room")).to_have_count(0)
        await expect(page.get_by_text("message deleted")).to_have_count(1)
        await expect(stored_texts(page)).to_have_text(["Belt tension 45 N after adjustment"])

    history = {m["sequence_number"]: m for m in (await api.history(bob, room_id))["messages"]}
    deleted = [m for m in history.values() if m["deleted_at"]]
    assert len(deleted) == 1 and deleted[0]["content"] is None
    [kept] = [m for m in history.values() if m["message_type"] == "text" and not m["deleted_at"]]
    assert kept["content"] == "Belt tension 45 N after adjustment" and kept["edited_at"]
    assert kept["reactions"] == {"👍": 1}
