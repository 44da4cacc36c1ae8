"""Live everywhere: the user stream (`/ws`) keeps every page of the web client current.

Real `andon serve` processes and Debian's Chromium. Where it matters the browser is on one
server process ("B", this module's own) and the other users' sockets and REST calls on
another ("A", the run's shared one), so what the browser sees crossed Redis.

Bounds the issue states (mention < 1 s, offline shown < 2 s, back within 3 s of the server's
readiness, removal shown within ~2 s) are measured with `time.monotonic()` around waits that
started before the cause: page-side polls (every 20 ms) that return when the condition holds.
A measured time is therefore an upper bound of the real one. Nothing sleeps to synchronise;
the only sleep is the restart test's 10 s of downtime, which is the scenario itself.
"""

from __future__ import annotations

import asyncio
import json
import random
import re
import string
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest
import pytest_asyncio

from tests.e2e.browser import (
    WAIT_MS,
    Chromium,
    Locator,
    Page,
    composer,
    expect,
    expect_live,
    message_list,
    nav_link,
    open_room,
    requires_browser,
    shot,
)
from tests.support.clients import Api, User, WsClient
from tests.support.servers import ServerProcess, start_server
from tests.workers.conftest import Stack, eventually

pytestmark = [pytest.mark.e2e, requires_browser]

TAIPEI = ZoneInfo("Asia/Taipei")
# How often the page-side timing polls look (ms): the resolution of every measured time.
POLL_MS = 20
MENTION_BOUND_S = 1.0
OFFLINE_BOUND_S = 2.0
BACK_AFTER_READY_BOUND_S = 3.0
REMOVED_BOUND_S = 2.0
# Measured figures, printed at the end of the module (pytest -s) for the report.
MEASURED: dict[str, float] = {}


# ----------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def server_b(base_env: dict[str, str]) -> Iterator[ServerProcess]:
    """A second server process of the run's database and Redis: the browsers' server here."""
    proc = start_server(dict(base_env))
    try:
        yield proc
    finally:
        proc.stop()


@pytest.fixture(scope="module", autouse=True)
def report_measurements() -> Iterator[None]:
    """Prints the measured times once the module is done (visible with `pytest -s`)."""
    yield
    if MEASURED:
        print("\nlive-everywhere measurements (s):", json.dumps(MEASURED, indent=1, sort_keys=True))


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def api_b(server_b: ServerProcess, database_url: str) -> AsyncIterator[Api]:
    client = Api(server_b.base_url, database_url)
    try:
        yield client
    finally:
        await client.aclose()


# ----------------------------------------------------------------------------- helpers


def _title(what: str) -> str:
    return f"{what} {uuid.uuid4().hex[:6]}"


def _word() -> str:
    """A made-up word (letters only) that no other message of the run contains."""
    return "zq" + "".join(random.choices(string.ascii_lowercase, k=10))


def header_badge(page: Page) -> Locator:
    """The user stream's connection badge text in the header."""
    return page.get_by_test_id("connection-badge-text")


def room_badge(page: Page) -> Locator:
    return page.get_by_test_id("room-connection-badge-text")


def room_item(page: Page, room_id: str) -> Locator:
    return page.locator(f'[data-testid="room-item"][data-room-id="{room_id}"]')


def mention_toast(page: Page, text: str) -> Locator:
    return page.get_by_role("region", name="Alerts").get_by_test_id("mention-toast").filter(has_text=text)


def echo_items(page: Page) -> Locator:
    return page.get_by_test_id("echo")


# A page-side check: the first element matching `sel` is rendered (has a box) and its text
# is `text` (exactly, or containing it with `contains`); `text` null: any text. `absent`
# inverts it: no element matches.
_CHECK = """
({sel, text, contains, absent}) => {
  const el = document.querySelector(sel);
  if (absent) return el === null;
  if (!el) return false;
  const r = el.getBoundingClientRect();
  if (!(r.width > 0 && r.height > 0)) return false;
  if (text === null) return true;
  const t = (el.textContent || '').trim();
  return contains ? t.includes(text) : t === text;
}
"""


async def when(
    page: Page,
    sel: str,
    text: str | None = None,
    *,
    contains: bool = False,
    absent: bool = False,
    timeout_ms: float = WAIT_MS,
) -> float:
    """Waits (polling in the page every POLL_MS) until the check holds; returns time.monotonic() then."""
    await page.wait_for_function(
        _CHECK,
        arg={"sel": sel, "text": text, "contains": contains, "absent": absent},
        polling=POLL_MS,
        timeout=timeout_ms,
    )
    return time.monotonic()


def start(coro: Any) -> asyncio.Task[Any]:
    return asyncio.ensure_future(coro)


async def rest(api: Api, method: str, path: str, user: User, body: Any = None, status: int = 200) -> Any:
    r = await api.http.request(method, path, json=body, headers=user.headers)
    assert r.status_code == status, f"{method} {path}: {r.status_code} {r.text}"
    return r.json() if r.content else None


async def remove_member(api: Api, owner: User, room_id: str, user: User) -> None:
    await rest(api, "DELETE", f"/api/rooms/{room_id}/members/{user.user_id}", owner, status=204)


async def set_status(api: Api, owner: User, room_id: str, status: str) -> None:
    await rest(api, "PATCH", f"/api/rooms/{room_id}", owner, {"status": status})


async def send_burst(
    ws: WsClient, contents: list[str], timeout: float = 60.0, **extra: Any
) -> list[dict[str, Any]]:
    """Sends every message at once (client_id pipelining), then collects their acks, in order."""
    ids = [uuid.uuid4().hex for _ in contents]
    for cid, content in zip(ids, contents, strict=True):
        await ws.send({"type": "message", "content": content, "client_id": cid, **extra})
    acks: dict[str, dict[str, Any]] = {}
    deadline = time.monotonic() + timeout
    while len(acks) < len(ids):
        remaining = deadline - time.monotonic()
        assert remaining > 0, f"{len(acks)} of {len(ids)} acks within {timeout}s"
        frame = await ws.next("ack", "error", timeout=remaining)
        assert frame["type"] == "ack", f"send refused: {frame}"
        acks[frame["client_id"]] = frame
    # Read our own messages' broadcasts too: frames left unread stall the socket's close
    # handshake (the client stops reading once its queue is full) for its 10 s timeout.
    last = max(a["sequence_number"] for a in acks.values())
    while not any(f.get("type") == "message" and f.get("sequence_number") == last for f in ws.frames):
        remaining = deadline - time.monotonic()
        assert remaining > 0, f"message {last} not broadcast within {timeout}s"
        await ws.next("message", timeout=remaining)
    return [acks[cid] for cid in ids]


def taipei_short(instant: str, now: datetime | None = None) -> str:
    """The client's short format in GMT+8: HH:mm for today, MM/DD HH:mm before."""
    at = datetime.fromisoformat(instant.replace("Z", "+00:00")).astimezone(TAIPEI)
    today = (now or datetime.now(TAIPEI)).astimezone(TAIPEI).date()
    return at.strftime("%H:%M") if at.date() == today else at.strftime("%m/%d %H:%M")


async def history_contents(api: Api, user: User, room_id: str) -> list[str]:
    body = await api.history(user, room_id, limit=200)
    assert body["has_more"] is False
    return [
        m["content"]
        for m in sorted(body["messages"], key=lambda m: m["sequence_number"])
        if m["message_type"] == "text"
    ]


async def activity_seen(stream: WsClient, room_id: str, sequence: int) -> None:
    """Reads the stream until it has a room_activity of the room at `sequence` or later."""

    def seen() -> bool:
        return any(
            f.get("type") == "room_activity"
            and f["room_id"] == room_id
            and f["last_sequence_number"] >= sequence
            for f in stream.frames
        )

    while not seen():
        await stream.next("room_activity")


def frames_about(frames: list[dict[str, Any]], room_id: str) -> list[dict[str, Any]]:
    return [
        f for f in frames if f.get("room_id") == room_id or (f.get("room") or {}).get("room_id") == room_id
    ]


# ----------------------------------------------------------------------------- 1. mentions


async def test_mention_from_another_room_reaches_room_list_and_open_room_within_a_second(
    browser: Chromium, server: ServerProcess, api: Api, server_b: ServerProcess, api_b: Api
) -> None:
    alice = await api.user("alice", display_name="Alice Lin")
    bob = await api.user("bob", display_name="Bob Chen")
    carol = await api.user("carol", display_name="Carol Wu")  # never a member while it is sent
    press_title, dryer_title = _title("Press line 2 jam"), _title("Dryer 4 smoke")
    press = await api.room(bob, press_title)
    dryer = await api.room(bob, dryer_title)
    for room_id in (press, dryer):
        await api.add_member(bob, room_id, alice, "EDITOR")

    # Carol's user streams on both processes: nothing about the press room may reach them
    # while she is not a member. Alice's streams there are the barrier: once one has the
    # room_activity of a message, its process has fanned that message out to every local
    # stream, so anything meant (wrongly) for Carol is on her socket before what follows.
    carol_streams = [await api.stream(carol), await api_b.stream(carol)]
    alice_streams = [await api.stream(alice), await api_b.stream(alice)]
    # Bob's socket is on server A; Alice's browser on server B.
    bob_ws = await api.connect(bob, press)
    try:
        page = await browser.page(server_b.base_url, alice)
        await expect(header_badge(page)).to_have_text("Live")
        row = room_item(page, press)
        await expect(row.get_by_test_id("room-title")).to_have_text(press_title)
        unread_before = int(await row.get_attribute("data-unread") or "0")
        await expect(room_item(page, dryer)).to_be_visible()
        nav_unread_before = unread_before + int(
            await room_item(page, dryer).get_attribute("data-unread") or "0"
        )
        await expect(row.get_by_test_id("room-mention-badge")).to_have_count(0)
        await expect(page.get_by_test_id("nav-mentions-badge")).to_have_count(0)

        acks: list[dict[str, Any]] = []

        async def mention_and_measure(
            text: str, checks: dict[str, tuple[str, str | None, bool]]
        ) -> dict[str, float]:
            waits = {
                name: start(when(page, sel, want, contains=contains))
                for name, (sel, want, contains) in checks.items()
            }
            t_send = time.monotonic()
            ack = await bob_ws.send_message(f"@{alice.display_name} {text}", mentions=[alice.user_id])
            t_ack = time.monotonic()
            acks.append(ack)
            done = {}
            for name, task in waits.items():
                try:
                    done[name] = await task
                except Exception as exc:
                    raise AssertionError(f"{name} {checks[name]} never held: {exc}") from exc
            return {"send_to_ack": t_ack - t_send, **{f"ack_to_{n}": t - t_ack for n, t in done.items()}}

        # Case 1: Alice is on the room list.
        text1 = f"hydraulic pressure alarm on press 4, please check ({uuid.uuid4().hex[:6]})"
        item = f'[data-testid="room-item"][data-room-id="{press}"]'
        got = await mention_and_measure(
            text1,
            {
                "toast": (f'[data-testid="mention-toast"][data-room-id="{press}"]', text1, True),
                "row_mention_badge": (f'{item} [data-testid="room-mention-badge"]', "@1", False),
                "row_unread_badge": (
                    f'{item} [data-testid="room-unread-badge"]',
                    str(unread_before + 1),
                    False,
                ),
                "nav_mentions_badge": ('[data-testid="nav-mentions-badge"]', "1", False),
                "nav_rooms_badge": ('[data-testid="nav-rooms-badge"]', str(nav_unread_before + 1), False),
            },
        )
        for name, seconds in got.items():
            MEASURED[f"mention_on_room_list.{name}"] = round(seconds, 3)
        toast = mention_toast(page, text1)
        await expect(toast).to_contain_text(f"Bob Chen mentioned you in {press_title}")
        await expect(row.get_by_test_id("room-mention-badge")).to_have_attribute(
            "aria-label", "1 unread mention"
        )
        await expect(row.get_by_test_id("room-preview-sender")).to_contain_text("Bob Chen")
        await expect(row.get_by_test_id("room-preview-text")).to_contain_text(text1)
        await expect(page.get_by_test_id("nav-mentions-badge")).to_have_attribute(
            "aria-label", "1 unread mention"
        )
        await shot(page, "live-01-mention-on-room-list")
        for name, seconds in got.items():
            if name.startswith("ack_to_"):
                assert seconds < MENTION_BOUND_S, f"{name} took {seconds:.3f}s (measurements: {got})"

        # Case 2: Alice has another room open.
        await open_room(page, dryer_title)
        await expect(header_badge(page)).to_have_text("Live")
        # Opening Dryer 4 read it: only the press room's unread count is left.
        await expect(page.get_by_test_id("nav-rooms-badge")).to_have_text(str(unread_before + 1))
        text2 = f"second alarm, press 4 stopped again ({uuid.uuid4().hex[:6]})"
        got = await mention_and_measure(
            text2,
            {
                "toast": (f'[data-testid="mention-toast"][data-room-id="{press}"]:last-child', text2, True),
                "nav_mentions_badge": ('[data-testid="nav-mentions-badge"]', "2", False),
                "nav_rooms_badge": ('[data-testid="nav-rooms-badge"]', str(unread_before + 2), False),
            },
        )
        for name, seconds in got.items():
            MEASURED[f"mention_in_other_room.{name}"] = round(seconds, 3)
        await expect(mention_toast(page, text2)).to_contain_text(f"Bob Chen mentioned you in {press_title}")
        # The open room is untouched: still Dryer 4, live, with nothing new in it.
        await expect(page.get_by_role("heading", name=dryer_title, level=1)).to_be_visible()
        await expect_live(page)
        await expect(message_list(page).locator("li.message")).to_have_count(0)
        await shot(page, "live-02-mention-in-other-room")
        for name, seconds in got.items():
            if name.startswith("ack_to_"):
                assert seconds < MENTION_BOUND_S, f"{name} took {seconds:.3f}s (measurements: {got})"
        # Back on the list, the press room's row says two unread mentions.
        await nav_link(page, "Rooms").click()
        await expect(row.get_by_test_id("room-mention-badge")).to_have_text("@2")
        await expect(row.get_by_test_id("room-unread-badge")).to_have_text(str(unread_before + 2))

        # Server side: nothing about the press room reached Carol before she became a member,
        # and nothing between her removal and her next membership.
        for stream in alice_streams:
            await activity_seen(stream, press, acks[-1]["sequence_number"])
        await api.add_member(bob, press, carol, "VIEWER")
        for stream in carol_streams:
            added = await stream.next("room_added")
            assert added["room_id"] == press
            before = stream.frames[: stream.frames.index(added)]
            assert frames_about(before, press) == [], before
        await remove_member(api, bob, press, carol)
        for stream in carol_streams:
            await stream.next("room_removed")
        gone = len(carol_streams[0].frames), len(carol_streams[1].frames)
        hidden = await bob_ws.send_message(f"@{alice.display_name} not for carol", mentions=[alice.user_id])
        for stream in alice_streams:
            await activity_seen(stream, press, hidden["sequence_number"])
        await api.add_member(bob, press, carol, "VIEWER")
        for stream, mark in zip(carol_streams, gone, strict=True):
            added = await stream.next("room_added")
            between = stream.frames[mark : stream.frames.index(added)]
            assert frames_about(between, press) == [], between
        # Afterwards her stream follows the room again.
        after = await bob_ws.send_message("visible to carol again")
        for stream in carol_streams:
            await activity_seen(stream, press, after["sequence_number"])
    finally:
        await bob_ws.close()
        for stream in carol_streams + alice_streams:
            await stream.close()


# ----------------------------------------------------------------------------- 2. room list


async def test_room_list_follows_live_traffic_membership_and_status(
    browser: Chromium, api: Api, server_b: ServerProcess
) -> None:
    alice = await api.user("alice", display_name="Alice Lin")
    bob = await api.user("bob", display_name="Bob Chen")
    boiler_title, tower_title, pump_title = (
        _title("Boiler house"),
        _title("Cooling tower"),
        _title("Feed pump"),
    )
    boiler = await api.room(bob, boiler_title)
    tower = await api.room(bob, tower_title)
    for room_id in (boiler, tower):
        await api.add_member(bob, room_id, alice, "EDITOR")

    # The browser's own zone is not the display zone: the list must still show GMT+8.
    page = await browser.page(server_b.base_url, alice, timezone_id="America/New_York")
    await expect(header_badge(page)).to_have_text("Live")
    rows = page.get_by_role("list", name="Rooms").get_by_test_id("room-item")
    base = {}
    for room_id in (boiler, tower):
        await expect(room_item(page, room_id)).to_be_visible()
        base[room_id] = int(await room_item(page, room_id).get_attribute("data-unread") or "0")

    boiler_ws = await api.connect(bob, boiler)
    tower_ws = await api.connect(bob, tower)
    try:

        async def expect_row(room_id: str, text: str, unread: int, ack: dict[str, Any]) -> None:
            row = room_item(page, room_id)
            await expect(row.get_by_test_id("room-preview-text")).to_have_text(text)
            await expect(row.get_by_test_id("room-preview-sender")).to_contain_text("Bob Chen")
            await expect(row.get_by_test_id("room-unread-badge")).to_have_text(str(unread))
            await expect(row).to_have_attribute("data-unread", str(unread))
            # "Last updated": the UTC instant in `datetime`, shown in GMT+8, HH:mm today.
            stamp = row.get_by_test_id("room-time")
            shown = await stamp.get_attribute("datetime")
            assert shown is not None
            sent = datetime.fromisoformat(ack["created_at"].replace("Z", "+00:00"))
            assert abs((datetime.fromisoformat(shown.replace("Z", "+00:00")) - sent).total_seconds()) < 2, (
                shown,
                ack,
            )
            # Sent just now, so today in GMT+8: HH:mm (either side of midnight, were the page
            # rendered a moment before it).
            now = datetime.now(TAIPEI)
            options = {taipei_short(shown, now), taipei_short(shown, now - timedelta(seconds=10))}
            await expect(stamp).to_have_text(re.compile("^(" + "|".join(map(re.escape, options)) + ")$"))
            if datetime.fromisoformat(shown.replace("Z", "+00:00")).astimezone(TAIPEI).date() == now.date():
                await expect(stamp).to_have_text(re.compile(r"^\d\d:\d\d$"))

        first = await boiler_ws.send_message("Feed water pressure dropping")
        await expect_row(boiler, "Feed water pressure dropping", base[boiler] + 1, first)
        await expect(rows.first).to_have_attribute("data-room-id", boiler)

        second = await tower_ws.send_message("Fan 2 vibration high")
        await expect_row(tower, "Fan 2 vibration high", base[tower] + 1, second)
        # Most recently active first.
        await expect(rows.first).to_have_attribute("data-room-id", tower)

        await boiler_ws.send_message("Burner tripped")
        third = await boiler_ws.send_message("Burner restarted, pressure recovering")
        await expect_row(boiler, "Burner restarted, pressure recovering", base[boiler] + 3, third)
        await expect(rows.first).to_have_attribute("data-room-id", boiler)
        await expect(room_item(page, tower).get_by_test_id("room-unread-badge")).to_have_text(
            str(base[tower] + 1)
        )
        await expect(page.get_by_test_id("nav-rooms-badge")).to_have_text(str(base[boiler] + base[tower] + 4))
        await shot(page, "live-03-room-list-traffic")

        # A room Alice is added to appears; one she is removed from disappears.
        pump = await api.room(bob, pump_title)
        await expect(room_item(page, pump)).to_have_count(0)
        await api.add_member(bob, pump, alice, "VIEWER")
        await expect(room_item(page, pump).get_by_test_id("room-title")).to_have_text(pump_title)
        await expect(room_item(page, pump).get_by_test_id("room-status")).to_have_text("active")
        # Its newest line is the system event: by name, worded by the client (not ids).
        await expect(room_item(page, pump).get_by_test_id("room-preview-text")).to_have_text(
            "Alice Lin was added as VIEWER by Bob Chen"
        )
        await remove_member(api, bob, tower, alice)
        await expect(room_item(page, tower)).to_have_count(0)

        # A status change shows (and its system event is the room's newest line).
        await set_status(api, bob, boiler, "resolved")
        boiler_row = room_item(page, boiler)
        await expect(boiler_row.get_by_test_id("room-status")).to_have_text("resolved")
        await expect(boiler_row.get_by_test_id("room-preview-text")).to_have_text(
            "Bob Chen changed the room status from active to resolved"
        )
        await expect(boiler_row.get_by_test_id("room-preview-sender")).to_have_count(0)
        # Active rooms before resolved ones: the new pump room is first now.
        await expect(rows.first).to_have_attribute("data-room-id", pump)
        await shot(page, "live-04-room-list-membership-status")
    finally:
        await boiler_ws.close()
        await tower_ws.close()


# ----------------------------------------------------------------------------- 3. mentions inbox


async def test_mentions_inbox_pages_and_opens_the_room_at_the_message(
    browser: Chromium, api: Api, server_b: ServerProcess
) -> None:
    alice = await api.user("alice", display_name="Alice Lin")
    bob = await api.user("bob", display_name="Bob Chen")
    boiler_title, tower_title = _title("Boiler house"), _title("Cooling tower")
    boiler = await api.room(bob, boiler_title)
    tower = await api.room(bob, tower_title)
    for room_id in (boiler, tower):
        await api.add_member(bob, room_id, alice, "EDITOR")

    # 40 boiler messages, then 25 mentions alternating rooms, one at a time (each its own
    # commit, so no two share a timestamp: see the report on `next_before`), then 60 more
    # boiler messages: the oldest boiler mention has pages of messages on either side.
    sent: list[tuple[str, str, dict[str, Any]]] = []  # (room_id, text, ack)
    sockets = {boiler: await api.connect(bob, boiler), tower: await api.connect(bob, tower)}
    try:
        await send_burst(sockets[boiler], [f"boiler shift log {i}" for i in range(40)])
        for i in range(25):
            room_id = boiler if i % 2 == 0 else tower
            text = f"@{alice.display_name} check gauge {i:02d}"
            ack = await sockets[room_id].send_message(text, mentions=[alice.user_id])
            sent.append((room_id, text, ack))
        stamps = [ack["created_at"] for _, _, ack in sent]
        assert len(set(stamps)) == len(stamps), "two mentions share a timestamp"
        await send_burst(sockets[boiler], [f"boiler log line {i}" for i in range(60)])
    finally:
        for ws in sockets.values():
            await ws.close()
    titles = {boiler: boiler_title, tower: tower_title}

    page = await browser.page(server_b.base_url, alice)
    await expect(page.get_by_test_id("nav-mentions-badge")).to_have_text("25")
    await page.get_by_test_id("nav-mentions").click()
    await expect(page).to_have_url(re.compile(r"/mentions$"))
    items = page.get_by_role("list", name="Mentions").get_by_test_id("mention-item")
    newest_first = list(reversed(sent))
    await expect(items).to_have_count(20)
    await expect(items.get_by_test_id("mention-text")).to_have_text(
        [text for _, text, _ in newest_first[:20]]
    )
    load_more = page.get_by_role("button", name="Load more")
    await expect(load_more).to_be_visible()
    await load_more.click()
    await expect(items).to_have_count(25)
    await expect(load_more).to_have_count(0)
    await expect(items.get_by_test_id("mention-text")).to_have_text([text for _, text, _ in newest_first])
    await expect(items.get_by_test_id("mention-room")).to_have_text([titles[r] for r, _, _ in newest_first])
    await expect(items.get_by_test_id("mention-sender")).to_have_text(["Bob Chen"] * 25)
    await expect(items.get_by_test_id("mention-unread")).to_have_count(25)
    await shot(page, "live-05-mentions-inbox")

    # The oldest boiler mention, 40 messages after the room's first and 72 before its newest,
    # opens there: it is scrolled into view (the list does not start at the top or the end).
    room_id, text, ack = sent[0]
    target = items.last
    await expect(target).to_have_attribute("data-sequence-number", str(ack["sequence_number"]))
    await expect(target).to_have_attribute("data-room-id", room_id)
    await target.get_by_role("link").click()
    await expect(page).to_have_url(re.compile(rf"/rooms/{room_id}\?at={ack['sequence_number']}$"))
    await expect(page.get_by_role("heading", name=boiler_title, level=1)).to_be_visible()
    highlighted = page.get_by_test_id("highlighted-message")
    await expect(highlighted).to_have_count(1)
    await expect(highlighted).to_have_attribute("data-sequence-number", str(ack["sequence_number"]))
    await expect(highlighted).to_contain_text("check gauge 00")
    await expect(highlighted).to_be_in_viewport()
    assert await message_list(page).evaluate("el => el.scrollTop") > 0
    await expect_live(page)
    await expect(highlighted).to_be_in_viewport()
    await shot(page, "live-06-mention-opened-at-message")


async def test_mentions_inbox_lists_mentions_sent_in_one_burst(
    browser: Chromium, api: Api, server_b: ServerProcess
) -> None:
    """A burst is stored within a few milliseconds, so its timestamps tie, often across a page's
    end: paging by `before=<timestamp>` skipped the tied ones; the inbox pages by `next_cursor`."""
    alice = await api.user("alice", display_name="Alice Lin")
    bob = await api.user("bob", display_name="Bob Chen")
    room_id = await api.room(bob, _title("Paint shop"))
    await api.add_member(bob, room_id, alice, "EDITOR")
    ws = await api.connect(bob, room_id)
    contents = [f"@{alice.display_name} burst {i:02d}" for i in range(25)]
    try:
        acks = await send_burst(ws, contents, mentions=[alice.user_id])
    finally:
        await ws.close()
    # Newest first: one room, so by sequence number, descending.
    newest_first = [
        c for _, c in sorted(zip(acks, contents, strict=True), key=lambda p: -p[0]["sequence_number"])
    ]

    page = await browser.page(server_b.base_url, alice)
    await page.get_by_test_id("nav-mentions").click()
    items = page.get_by_test_id("mention-item")
    await expect(items).to_have_count(20)
    async with page.expect_request(lambda r: "/api/mentions?" in r.url and "cursor=" in r.url) as more:
        await page.get_by_role("button", name="Load more").click()
    assert "before=" not in (await more.value).url
    # The inbox says there is nothing more: what it lists now is all it will ever list.
    await expect(page.get_by_test_id("mentions-load-more")).to_have_count(0)
    await expect(items.get_by_test_id("mention-text")).to_have_text(newest_first)


# ----------------------------------------------------------------------------- 4. search


async def test_search_hit_500_messages_back_opens_there_and_the_room_stays_live(
    browser: Chromium, worker_stack: Stack, stack_api: Api
) -> None:
    api = stack_api
    alice = await api.user("alice", display_name="Alice Lin")
    bob = await api.user("bob", display_name="Bob Chen")
    title = _title("Compressor hall")
    room_id = await api.room(bob, title)
    await api.add_member(bob, room_id, alice, "EDITOR")
    word = _word()
    contents = [f"compressor reading {i}" for i in range(520)]
    contents[19] = f"bearing noise {word} on compressor 3"

    ws = await api.connect(bob, room_id)
    try:
        acks = await send_burst(ws, contents)
        target = acks[19]
        newest = acks[-1]["sequence_number"]
        assert newest - target["sequence_number"] == 500

        async def indexed() -> bool:
            r = await api.http.get("/api/search/messages", params={"q": word}, headers=alice.headers)
            return r.status_code == 200 and r.json()["total"] == 1

        await eventually(indexed, timeout=60, what=f"the message with {word!r} indexed")

        page = await browser.page(worker_stack.server.base_url, alice)
        await nav_link(page, "Search").click()
        form = page.get_by_role("search")
        await form.get_by_label("Search words").fill(word)
        await form.get_by_role("button", name="Search").click()
        hits = page.get_by_test_id("search-hit")
        await expect(hits).to_have_count(1)
        await expect(hits).to_contain_text(title)
        clicked = time.monotonic()
        await hits.click()
        await expect(page).to_have_url(re.compile(rf"/rooms/{room_id}\?at={target['sequence_number']}$"))
        highlighted = page.get_by_test_id("highlighted-message")
        await expect(highlighted).to_have_attribute("data-sequence-number", str(target["sequence_number"]))
        await expect(highlighted).to_contain_text(f"bearing noise {word}")
        await expect(highlighted).to_be_in_viewport()
        await shot(page, "live-07-search-hit-opened")

        # Still live: it catches up the 500 newer messages and shows a new one by someone else.
        live = await when(page, '[data-testid="room-connection-badge-text"]', "Live")
        MEASURED["search_hit_click_to_room_live"] = round(live - clicked, 3)
        await expect(page.locator(f'li.message[data-sequence-number="{newest}"]')).to_have_count(1)
        later = await ws.send_message("compressor 3 stopped for inspection")
        fresh = page.locator(f'li.message[data-sequence-number="{later["sequence_number"]}"]')
        await expect(fresh).to_contain_text("compressor 3 stopped for inspection")
        await expect(highlighted).to_be_in_viewport()
        await expect(room_badge(page)).to_have_text("Live")
    finally:
        await ws.close()


# ----------------------------------------------------------------------------- 5. offline


async def test_offline_is_shown_at_once_and_queued_messages_go_out_once(
    browser: Chromium, api: Api, server_b: ServerProcess
) -> None:
    alice = await api.user("alice", display_name="Alice Lin")
    title = _title("Mixer 3 seal leak")
    room_id = await api.room(alice, title)

    page = await browser.page(server_b.base_url, alice)
    await open_room(page, title)
    await expect(header_badge(page)).to_have_text("Live")

    offline_at = time.monotonic()
    await page.context.set_offline(True)
    shown = await when(page, '[data-testid="connection-badge-text"]', "Offline")
    MEASURED["offline_shown"] = round(shown - offline_at, 3)
    assert shown - offline_at < OFFLINE_BOUND_S, f"'Offline' after {shown - offline_at:.3f}s"
    await expect(room_badge(page)).to_have_text("Offline")
    await expect(page.get_by_test_id("connection-badge-retry")).to_be_visible()

    typed = ["Seal leaking at the shaft", "Line stopped, tank drained"]
    for text in typed:
        box = composer(page)
        await box.fill(text)
        await box.press("Enter")
        await expect(box).to_have_value("")
    await expect(echo_items(page)).to_have_count(2)
    for i in range(2):
        await expect(echo_items(page).nth(i)).to_have_attribute("data-status", "waiting")
    await expect(echo_items(page).get_by_test_id("echo-state")).to_have_text(["waiting for connection"] * 2)
    await shot(page, "live-08-offline-waiting")

    online_at = time.monotonic()
    await page.context.set_offline(False)
    await expect(echo_items(page)).to_have_count(0)
    live = await when(page, '[data-testid="connection-badge-text"]', "Live")
    MEASURED["online_to_live"] = round(live - online_at, 3)
    await expect(room_badge(page)).to_have_text("Live")
    await expect(message_list(page).locator("li.message:not(.echo) p.text")).to_have_text(typed)
    assert await history_contents(api, alice, room_id) == typed


# ----------------------------------------------------------------------------- 6. restart


async def test_back_live_within_three_seconds_of_a_restarted_server_being_ready(
    browser: Chromium, server_factory: Any, base_env: dict[str, str], api: Api
) -> None:
    first: ServerProcess = server_factory()
    alice = await api.user("alice", display_name="Alice Lin")
    title = _title("Compressor trip")
    await api.room(alice, title)

    page = await browser.page(first.base_url, alice)
    await open_room(page, title)
    await expect(header_badge(page)).to_have_text("Live")

    await asyncio.to_thread(first.stop)
    await expect(header_badge(page)).not_to_have_text("Live")
    await expect(room_badge(page)).not_to_have_text("Live")
    # The scenario: the server stays down for ten seconds (not a synchronisation).
    await asyncio.sleep(10)
    await expect(header_badge(page)).to_have_text(re.compile(r"^(Reconnecting…|Connecting…)$"))

    header_live = start(when(page, '[data-testid="connection-badge-text"]', "Live", timeout_ms=60_000))
    room_live = start(when(page, '[data-testid="room-connection-badge-text"]', "Live", timeout_ms=60_000))
    ready_at: list[float] = []

    async def watch_ready() -> None:
        # /readyz polled every 20 ms from this side too: start_server's own poll is 100 ms.
        async with httpx.AsyncClient(timeout=0.5) as http:
            while not ready_at:
                try:
                    if (await http.get(f"{first.base_url}/readyz")).status_code == 200:
                        ready_at.append(time.monotonic())
                        return
                except httpx.HTTPError:
                    pass
                await asyncio.sleep(0.02)

    watcher = start(watch_ready())
    second: ServerProcess | None = None
    try:
        second = await asyncio.to_thread(start_server, dict(base_env), port=first.port)
        returned = time.monotonic()
        await asyncio.wait_for(watcher, 5)
        ready = min(ready_at[0], returned)
        header_t, room_t = await header_live, await room_live
        MEASURED["restart.ready_to_header_live"] = round(header_t - ready, 3)
        MEASURED["restart.ready_to_room_live"] = round(room_t - ready, 3)
        assert header_t - ready < BACK_AFTER_READY_BOUND_S, f"header Live {header_t - ready:.3f}s after ready"
        assert room_t - ready < BACK_AFTER_READY_BOUND_S, f"room Live {room_t - ready:.3f}s after ready"
        await shot(page, "live-09-back-after-restart")
    finally:
        watcher.cancel()
        for task in (header_live, room_live):
            task.cancel()
        if second is not None:
            second.stop()


# ----------------------------------------------------------------------------- 7. removed member


async def test_removed_member_composer_is_disabled_with_the_reason_and_the_unsent_message_fails(
    browser: Chromium, api: Api, server_b: ServerProcess
) -> None:
    owner = await api.user("owner", display_name="Olivia Hsu")
    alice = await api.user("alice", display_name="Alice Lin")
    title = _title("Kiln 1 overheating")
    room_id = await api.room(owner, title)
    await api.add_member(owner, room_id, alice, "EDITOR")

    page = await browser.page(server_b.base_url, alice)
    # Alice's room socket passes through here; her message marked HOLD never reaches the server
    # (it stays in her outbox, sent but unacknowledged) until she is removed.
    held: list[str] = []
    held_one = asyncio.Event()

    def route(ws: Any) -> None:
        server = ws.connect_to_server()

        def to_server(message: str | bytes) -> None:
            if isinstance(message, str) and '"HOLD ' in message:
                held.append(message)
                held_one.set()
                return
            server.send(message)

        ws.on_message(to_server)
        server.on_message(lambda message: ws.send(message))

    await page.route_web_socket(re.compile(rf"/ws/{room_id}"), route)
    await open_room(page, title)
    await send_text(page, "Kiln 1 at 1320 °C and rising")
    await expect(echo_items(page)).to_have_count(0)
    await send_text(page, "HOLD opening the damper now")
    pending = echo_items(page).filter(has_text="HOLD opening the damper now")
    await expect(pending).to_have_attribute("data-status", "pending")
    await expect(pending.get_by_test_id("echo-state")).to_have_text("sending…")
    # The frame left the page (and was held here): it is in flight, awaiting its ack.
    await asyncio.wait_for(held_one.wait(), WAIT_MS / 1000)
    assert len(held) == 1

    reason = start(when(page, '[data-testid="composer-disabled-reason"]', "You were removed from this room"))
    removed_at = time.monotonic()
    await remove_member(api, owner, room_id, alice)
    shown = await reason
    MEASURED["removed_to_composer_disabled"] = round(shown - removed_at, 3)
    assert shown - removed_at < REMOVED_BOUND_S, (
        f"composer disabled {shown - removed_at:.3f}s after the removal"
    )

    await expect(page.get_by_test_id("composer-disabled-reason")).to_have_attribute("role", "alert")
    await expect(page.get_by_test_id("composer").get_by_label("Message", exact=True)).to_be_disabled()
    await expect(page.get_by_test_id("composer").get_by_role("button", name="Send")).to_be_disabled()
    await expect(pending).to_have_attribute("data-status", "failed")
    await expect(pending.get_by_test_id("echo-state")).to_have_text("not sent")
    await expect(pending.get_by_test_id("echo-error")).to_contain_text("You were removed from this room")
    await shot(page, "live-10-removed-composer")
    # The held message was never stored; the first one was, once.
    assert await history_contents(api, owner, room_id) == ["Kiln 1 at 1320 °C and rising"]


async def send_text(page: Page, text: str) -> None:
    box = composer(page)
    await box.fill(text)
    await box.press("Enter")
    await expect(box).to_have_value("")
