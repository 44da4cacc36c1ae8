"""Urgent pages end to end (docs/alerts.md): a real server, a real worker and the loopback push
service, with the repeat interval driven down to seconds.

Each page sends exactly `1 + max_repeats` pushes one interval apart and an in-app `urgent_page`
frame per round; acknowledgement, deletion and archival stop it; a worker SIGKILLed between two
rounds neither loses nor doubles one. "No further push" is always shown as a state that admits
none (the page closed, every planned push finished), not by waiting for silence.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Iterator
from typing import Any

import asyncpg
import httpx
import pytest
import pytest_asyncio

from tests.support.clients import Api, User
from tests.support.fake_push_service import FakePushService, PushAttempt
from tests.support.workers import start_worker
from tests.workers.conftest import Stack, eventually, running_stack, subscribe

pytestmark = pytest.mark.asyncio(loop_scope="module")

INTERVAL = 2
REPEATS = 2
URGENT_SETTINGS = {
    "URGENT_REPEAT_SECONDS": str(INTERVAL),
    "URGENT_MIN_REPEAT_SECONDS": "1",
    "URGENT_MAX_REPEATS": str(REPEATS),
}


@pytest.fixture(scope="module")
def ustack(base_env: dict[str, str]) -> Iterator[Stack]:
    with running_stack(base_env, **URGENT_SETTINGS) as running:
        yield running


@pytest.fixture(scope="module")
def push_service(ustack: Stack) -> Iterator[FakePushService]:
    key = httpx.get(f"{ustack.server.base_url}/api/push/vapid-public-key", timeout=10).json()["public_key"]
    with FakePushService(expected_vapid_public_key=key) as service:
        yield service


@pytest_asyncio.fixture(loop_scope="module", scope="module")
async def client(ustack: Stack) -> AsyncIterator[Api]:
    api = Api(ustack.server.base_url, ustack.database_url)
    try:
        yield api
    finally:
        await api.aclose()


@pytest_asyncio.fixture(loop_scope="module", scope="module")
async def pg(ustack: Stack) -> AsyncIterator[asyncpg.Connection]:
    conn = await asyncpg.connect(ustack.database_url.replace("postgresql+asyncpg://", "postgresql://"))
    try:
        yield conn
    finally:
        await conn.close()


async def _subscribed(client: Api, service: FakePushService, name: str) -> tuple[User, str]:
    user = await client.user(name)
    minted = service.mint_subscription()
    await subscribe(client, user, minted)
    return user, minted.token


async def _pushes(service: FakePushService, token: str, count: int, timeout: float = 30.0) -> list[PushAttempt]:
    return await service.wait_for_deliveries_async(count, token=token, timeout=timeout)


async def _page(pg: asyncpg.Connection, message_id: str, user_id: str) -> asyncpg.Record | None:
    return await pg.fetchrow(
        "SELECT * FROM urgent_pages WHERE message_id = $1 AND user_id = $2", message_id, user_id
    )


async def _settled(pg: asyncpg.Connection, message_id: str, user_id: str, reason: str) -> asyncpg.Record:
    """The page closed for `reason` and none of its planned pushes still open: nothing more can come."""

    async def check() -> asyncpg.Record | None:
        page = await _page(pg, message_id, user_id)
        if page is None or page["stop_reason"] != reason:
            return None
        open_ = await pg.fetchval(
            "SELECT count(*) FROM push_deliveries WHERE message_id = $1 AND user_id = $2 "
            "AND status IN ('pending', 'sending')",
            message_id,
            user_id,
        )
        return page if open_ == 0 else None

    return await eventually(check, timeout=30, what=f"page closed ({reason})")


def _delivered(service: FakePushService, token: str, message_id: str) -> list[PushAttempt]:
    return [p for p in service.deliveries(token) if p.payload and p.payload.get("message_id") == message_id]


async def test_a_page_repeats_exactly_max_times_one_interval_apart(
    client: Api, push_service: FakePushService, pg: asyncpg.Connection
) -> None:
    alice = await client.user("alice")
    bob, bob_token = await _subscribed(client, push_service, "bob")
    carol, carol_token = await _subscribed(client, push_service, "carol")  # opted in, not mentioned
    dave, dave_token = await _subscribed(client, push_service, "dave")  # neither
    room = await client.room_with(alice, (bob, "EDITOR"), (carol, "VIEWER"), (dave, "VIEWER"))
    r = await client.http.put(f"/api/rooms/{room}/urgent/alerts", json={"alerts": True}, headers=carol.headers)
    assert r.status_code == 200
    bob_stream = await client.stream(bob)
    ws = await client.connect(alice, room)

    # A mention pages the mentioned user only; one without mentions pages those who opted in.
    sent_at = time.monotonic()
    mention = await ws.send_message(f"@{bob.display_name} line 3 down", priority="urgent", mentions=[bob.user_id])
    nobody = await ws.send_message("whole crew: line 3 down", priority="urgent")

    pushes = await _pushes(push_service, bob_token, 1 + REPEATS)
    assert [p.payload["round"] for p in pushes] == [1, 2, 3]
    for p in pushes:
        assert p.problems == ()
        assert p.payload["kind"] == "urgent" and p.payload["message_id"] == mention["message_id"]
        assert (p.urgency, p.ttl) == ("high", 3600)
    # At once, then one interval apart on the page's own schedule (round k is due k-1 intervals
    # after the page started, and never earlier; the relay wakes when a round is due).
    offsets = [p.received_at - sent_at for p in pushes]
    assert all(k * INTERVAL <= t <= k * INTERVAL + 1.5 for k, t in enumerate(offsets)), offsets
    page = await _settled(pg, mention["message_id"], bob.user_id, "exhausted")
    assert page["rounds_sent"] == 1 + REPEATS
    assert len(_delivered(push_service, bob_token, mention["message_id"])) == 1 + REPEATS

    # The in-app alert: one urgent_page frame per round on the user stream.
    frames = [await bob_stream.next("urgent_page", timeout=10) for _ in range(1 + REPEATS)]
    assert [(f["message_id"], f["round"], f["last_round"]) for f in frames] == [
        (mention["message_id"], 1, False),
        (mention["message_id"], 2, False),
        (mention["message_id"], 3, True),
    ]

    # The message without mentions: Carol (opted in) paged, Dave not, Bob not (not opted in).
    carol_pushes = await _pushes(push_service, carol_token, 1 + REPEATS)
    assert {p.payload["message_id"] for p in carol_pushes} == {nobody["message_id"]}
    await _settled(pg, nobody["message_id"], carol.user_id, "exhausted")
    assert push_service.attempts(dave_token) == []
    assert await _page(pg, nobody["message_id"], dave.user_id) is None
    assert await _page(pg, nobody["message_id"], bob.user_id) is None
    # Nor did the urgent mention also get an ordinary mention push.
    kinds = await pg.fetch(
        "SELECT DISTINCT kind FROM push_deliveries WHERE message_id = $1", mention["message_id"]
    )
    assert [k["kind"] for k in kinds] == ["urgent"]
    await ws.close()
    await bob_stream.close()


async def test_acknowledgement_stops_the_page_within_one_interval(
    client: Api, push_service: FakePushService, pg: asyncpg.Connection
) -> None:
    alice = await client.user("alice")
    bob, bob_token = await _subscribed(client, push_service, "bob")
    carol, carol_token = await _subscribed(client, push_service, "carol")
    room = await client.room_with(alice, (bob, "EDITOR"), (carol, "EDITOR"))
    r = await client.http.patch(f"/api/rooms/{room}/urgent", json={"max_repeats": 10}, headers=alice.headers)
    assert r.status_code == 200
    ws = await client.connect(alice, room)
    sent = await ws.send_message(
        "@both come, kiln xylophone alarm", priority="urgent", mentions=[bob.user_id, carol.user_id]
    )
    mid = sent["message_id"]

    await _pushes(push_service, bob_token, 2)
    r = await client.http.post(f"/api/messages/{mid}/acknowledge", headers=bob.headers)
    assert r.status_code == 201
    acked_at = time.monotonic()
    frame = await ws.next("urgent_acknowledged")
    assert frame["user_id"] == bob.user_id

    page = await _settled(pg, mid, bob.user_id, "acknowledged")
    bob_pushes = _delivered(push_service, bob_token, mid)
    # Nothing after the acknowledgement but, at most, a round already on the wire.
    assert all(p.received_at < acked_at + INTERVAL for p in bob_pushes)
    assert len(bob_pushes) <= page["rounds_sent"] <= 3
    # Carol did not acknowledge: her page goes on past Bob's acknowledgement.
    later = await _pushes(push_service, carol_token, len(bob_pushes) + 2)
    assert later[-1].received_at > acked_at + INTERVAL
    assert len(_delivered(push_service, bob_token, mid)) == len(bob_pushes)
    r = await client.http.post(f"/api/messages/{mid}/acknowledge", headers=carol.headers)
    assert r.status_code == 201
    await _settled(pg, mid, carol.user_id, "acknowledged")

    # Search hits are message objects too: priority and acknowledgements included.
    async def hit() -> dict[str, Any] | None:
        r = await client.http.get(
            "/api/search/messages", params={"q": "xylophone", "room_id": room}, headers=alice.headers
        )
        hits = r.json().get("hits") or []
        return hits[0] if hits else None

    found = await eventually(hit, timeout=30, what="search hit")
    assert found["message_id"] == mid and found["priority"] == "urgent"
    assert [a["user_id"] for a in found["acknowledgements"]] == [bob.user_id, carol.user_id]
    await ws.close()


async def test_deletion_and_archival_stop_pages(
    client: Api, push_service: FakePushService, pg: asyncpg.Connection
) -> None:
    alice = await client.user("alice")
    bob, bob_token = await _subscribed(client, push_service, "bob")
    room = await client.room_with(alice, (bob, "EDITOR"))
    other = await client.room_with(alice, (bob, "EDITOR"))
    third = await client.room_with(alice, (bob, "EDITOR"))
    for rid in (room, other, third):
        r = await client.http.patch(f"/api/rooms/{rid}/urgent", json={"max_repeats": 10}, headers=alice.headers)
        assert r.status_code == 200
    ws = await client.connect(alice, room)
    ws_other = await client.connect(alice, other)
    deleted = (await ws.send_message("@bob one", priority="urgent", mentions=[bob.user_id]))["message_id"]
    archived = (await ws_other.send_message("@bob two", priority="urgent", mentions=[bob.user_id]))["message_id"]
    ws_third = await client.connect(alice, third)
    removed = (await ws_third.send_message("@bob three", priority="urgent", mentions=[bob.user_id]))["message_id"]

    async def first_rounds() -> bool:
        got = {p.payload.get("message_id") for p in push_service.deliveries(bob_token)}
        return {deleted, archived, removed} <= got

    await eventually(first_rounds, timeout=30, what="first round of both pages")
    await ws.send({"type": "delete_message", "message_id": deleted})
    await ws.next("message_deleted")
    r = await client.http.patch(f"/api/rooms/{other}", json={"status": "archived"}, headers=alice.headers)
    assert r.status_code == 200
    r = await client.http.delete(f"/api/rooms/{third}/members/{bob.user_id}", headers=alice.headers)
    assert r.status_code == 204
    stopped_at = time.monotonic()

    for mid, reason in ((deleted, "deleted"), (archived, "archived"), (removed, "not_member")):
        page = await _settled(pg, mid, bob.user_id, reason)
        pushes = _delivered(push_service, bob_token, mid)
        assert all(p.received_at < stopped_at + INTERVAL for p in pushes)
        assert len(pushes) <= page["rounds_sent"]
        # Pushes planned but not sent when it stopped were skipped, not sent.
        statuses = await pg.fetch(
            "SELECT status, last_outcome FROM push_deliveries WHERE message_id = $1 AND status <> 'sent'", mid
        )
        assert all(s["status"] == "skipped" for s in statuses)
    await ws.close()
    await ws_other.close()
    await ws_third.close()


async def test_an_unacknowledged_page_escalates_to_the_rooms_role(
    client: Api, push_service: FakePushService, pg: asyncpg.Connection
) -> None:
    alice = await client.user("alice")
    bob, bob_token = await _subscribed(client, push_service, "bob")
    carol, carol_token = await _subscribed(client, push_service, "carol")  # VIEWER: escalation target
    eve, eve_token = await _subscribed(client, push_service, "eve")  # EDITOR: not a target
    room = await client.room_with(alice, (bob, "EDITOR"), (carol, "VIEWER"), (eve, "EDITOR"))
    r = await client.http.patch(
        f"/api/rooms/{room}/urgent",
        json={"max_repeats": 2, "escalate_after": 1, "escalate_to": "role:VIEWER"},
        headers=alice.headers,
    )
    assert r.status_code == 200, r.text
    carol_stream = await client.stream(carol)
    ws = await client.connect(alice, room)
    mid = (await ws.send_message("@bob boiler", priority="urgent", mentions=[bob.user_id]))["message_id"]

    bob_pushes = await _pushes(push_service, bob_token, 2)
    # Carol's page starts with Bob's first repeat (round 2), unacknowledged.
    [carol_first] = await _pushes(push_service, carol_token, 1)
    assert carol_first.payload["message_id"] == mid and carol_first.payload["round"] == 1
    assert carol_first.received_at >= bob_pushes[1].received_at - 0.5
    frame = await carol_stream.next("urgent_page", timeout=10)
    assert frame["escalated"] is True and frame["message_id"] == mid
    page = await _page(pg, mid, carol.user_id)
    assert page is not None and page["escalated_from"] is not None
    # Carol acknowledges; Bob's page goes on until it runs out (each acknowledges for themselves).
    r = await client.http.post(f"/api/messages/{mid}/acknowledge", headers=carol.headers)
    assert r.status_code == 201
    await _settled(pg, mid, carol.user_id, "acknowledged")
    await _settled(pg, mid, bob.user_id, "exhausted")
    assert len(_delivered(push_service, bob_token, mid)) == 3
    assert await _page(pg, mid, eve.user_id) is None
    assert push_service.attempts(eve_token) == []
    await ws.close()
    await carol_stream.close()


@pytest.fixture
def kill_stack(base_env: dict[str, str]) -> Iterator[tuple[Stack, FakePushService]]:
    """A stack of its own (its worker gets killed), rounds 4 s apart, 3 repeats."""
    settings = dict(URGENT_SETTINGS, URGENT_REPEAT_SECONDS="4", URGENT_MAX_REPEATS="3")
    with running_stack(base_env, **settings) as stack:
        key = httpx.get(f"{stack.server.base_url}/api/push/vapid-public-key", timeout=10).json()["public_key"]
        with FakePushService(expected_vapid_public_key=key) as service:
            yield stack, service


async def test_a_worker_killed_between_rounds_neither_loses_nor_doubles_one(
    kill_stack: tuple[Stack, FakePushService],
) -> None:
    stack, service = kill_stack
    api = Api(stack.server.base_url, stack.database_url)
    pg = await asyncpg.connect(stack.database_url.replace("postgresql+asyncpg://", "postgresql://"))
    try:
        await _killed_between_rounds(stack, api, service, pg)
    finally:
        await pg.close()
        await api.aclose()


async def _killed_between_rounds(
    stack: Stack, api: Api, service: FakePushService, pg: asyncpg.Connection
) -> None:
    alice = await api.user("alice")
    bob, bob_token = await _subscribed(api, service, "bob")
    room = await api.room_with(alice, (bob, "EDITOR"))
    ws = await api.connect(alice, room)
    mid = (await ws.send_message("@bob now", priority="urgent", mentions=[bob.user_id]))["message_id"]

    [first] = await _pushes(service, bob_token, 1)
    assert first.payload["round"] == 1
    # Between rounds 1 and 2: round 1 recorded as sent, the next round scheduled in PostgreSQL.
    await eventually(
        lambda: pg.fetchval(
            "SELECT status = 'sent' FROM push_deliveries WHERE message_id = $1 AND page_round = 1", mid
        ),
        what="round 1 recorded",
    )
    page: dict[str, Any] = dict(await _page(pg, mid, bob.user_id) or {})
    assert page["rounds_sent"] == 1 and page["next_at"] is not None
    stack.worker.kill()
    replacement = start_worker(stack.env)
    try:
        pushes = await _pushes(service, bob_token, 4, timeout=60)
        assert [p.payload["round"] for p in pushes] == [1, 2, 3, 4]
        final = await _settled(pg, mid, bob.user_id, "exhausted")
    finally:
        replacement.stop()
    assert final["rounds_sent"] == 4
    assert [p.payload["round"] for p in _delivered(service, bob_token, mid)] == [1, 2, 3, 4]
    rows = await pg.fetch(
        "SELECT page_round, status FROM push_deliveries WHERE message_id = $1 ORDER BY page_round", mid
    )
    assert [(r["page_round"], r["status"]) for r in rows] == [(1, "sent"), (2, "sent"), (3, "sent"), (4, "sent")]
    await ws.close()
