"""REST: the VAPID key, push subscriptions (with the SSRF guard) and notification preferences."""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import httpx
import pytest
import pytest_asyncio

from tests.support.clients import Api, User
from tests.support.fake_push_service import FakePushService, MintedSubscription

pytestmark = pytest.mark.asyncio(loop_scope="session")


@pytest_asyncio.fixture(loop_scope="session")
async def pg(database_url: str) -> AsyncIterator[asyncpg.Connection]:
    conn = await asyncpg.connect(database_url.replace("postgresql+asyncpg://", "postgresql://"))
    try:
        yield conn
    finally:
        await conn.close()


@pytest.fixture(scope="module")
def minting() -> Any:
    # Only mints realistic subscriptions (keys a browser would make); nothing is sent here.
    with FakePushService() as service:
        yield service


def _body(sub: MintedSubscription, endpoint: str | None = None) -> dict[str, Any]:
    return {"endpoint": endpoint or sub.endpoint, "keys": {"p256dh": sub.p256dh, "auth": sub.auth}}


async def _subscribe(api: Api, user: User, body: dict[str, Any]) -> httpx.Response:
    return await api.http.post("/api/push/subscriptions", json=body, headers=user.headers)


async def test_the_vapid_public_key_needs_no_sign_in_and_is_an_uncompressed_p256_point(api: Api) -> None:
    first = await api.http.get("/api/push/vapid-public-key")
    second = await api.http.get("/api/push/vapid-public-key")

    assert first.status_code == 200
    key = first.json()["public_key"]
    raw = base64.urlsafe_b64decode(key + "=" * (-len(key) % 4))
    assert len(raw) == 65 and raw[0] == 4
    assert "=" not in key
    assert second.json()["public_key"] == key


async def test_subscribing_stores_the_subscription_for_the_caller_and_refreshes_it(
    api: Api, pg: asyncpg.Connection, minting: FakePushService
) -> None:
    alice = await api.user("alice")
    sub, rotated = minting.mint_subscription(), minting.mint_subscription()

    r = await _subscribe(api, alice, _body(sub))
    assert r.status_code == 201, r.text
    # the browser re-subscribes the same endpoint with new keys
    r = await _subscribe(
        api, alice, {"endpoint": sub.endpoint, "keys": {"p256dh": rotated.p256dh, "auth": rotated.auth}}
    )
    assert r.status_code == 201, r.text

    rows = await pg.fetch(
        "SELECT user_id, p256dh, auth FROM push_subscriptions WHERE endpoint = $1", sub.endpoint
    )
    assert [(r["user_id"], r["p256dh"], r["auth"]) for r in rows] == [
        (alice.user_id, rotated.p256dh, rotated.auth)
    ]


async def test_an_endpoint_subscribed_by_another_user_moves_to_them(
    api: Api, pg: asyncpg.Connection, minting: FakePushService
) -> None:
    alice, bob = await api.user("alice"), await api.user("bob")
    sub = minting.mint_subscription()
    assert (await _subscribe(api, alice, _body(sub))).status_code == 201

    assert (await _subscribe(api, bob, _body(sub))).status_code == 201

    owners = await pg.fetch("SELECT user_id FROM push_subscriptions WHERE endpoint = $1", sub.endpoint)
    assert [o["user_id"] for o in owners] == [bob.user_id]


async def test_unsubscribing_removes_only_the_callers_own_subscription(
    api: Api, pg: asyncpg.Connection, minting: FakePushService
) -> None:
    alice, mallory = await api.user("alice"), await api.user("mallory")
    sub = minting.mint_subscription()
    assert (await _subscribe(api, alice, _body(sub))).status_code == 201

    r = await api.http.request(
        "DELETE", "/api/push/subscriptions", json={"endpoint": sub.endpoint}, headers=mallory.headers
    )
    assert r.status_code == 204
    assert await pg.fetchval("SELECT count(*) FROM push_subscriptions WHERE endpoint = $1", sub.endpoint) == 1

    r = await api.http.request(
        "DELETE", "/api/push/subscriptions", json={"endpoint": sub.endpoint}, headers=alice.headers
    )
    assert r.status_code == 204
    assert await pg.fetchval("SELECT count(*) FROM push_subscriptions WHERE endpoint = $1", sub.endpoint) == 0


@pytest.mark.parametrize(
    ("mutate", "expected"),
    [
        (lambda b: {**b, "keys": {**b["keys"], "p256dh": "AAAA"}}, "p256dh"),
        (lambda b: {**b, "keys": {**b["keys"], "auth": b["keys"]["p256dh"]}}, "auth"),
        (lambda b: {**b, "keys": "nope"}, "keys"),
        (lambda b: {**b, "endpoint": "ftp://push.example.net/x"}, "endpoint"),
        (lambda b: {"keys": b["keys"]}, "endpoint"),
    ],
)
async def test_malformed_subscriptions_are_refused_with_400(
    api: Api, minting: FakePushService, mutate: Any, expected: str
) -> None:
    alice = await api.user("alice")
    body = mutate(_body(minting.mint_subscription()))

    r = await _subscribe(api, alice, body)

    assert r.status_code == 400, r.text
    assert expected in r.json()["detail"]


async def test_subscribing_needs_sign_in(api: Api, minting: FakePushService) -> None:
    r = await api.http.post("/api/push/subscriptions", json=_body(minting.mint_subscription()))
    assert r.status_code == 401


async def test_private_endpoints_are_refused_unless_allowed_and_the_path_is_never_echoed(
    server_factory: Any, database_url: str, minting: FakePushService
) -> None:
    # given a server configured as in production (PUSH_ALLOW_PRIVATE_ENDPOINTS unset: false)
    strict = server_factory(PUSH_ALLOW_PRIVATE_ENDPOINTS="false")
    api = Api(strict.base_url, database_url)
    try:
        alice = await api.user("alice")
        sub = minting.mint_subscription()
        secret_path = "/push/capability-token-abc123"
        cases = {
            "https://127.0.0.1:8443" + secret_path: "loopback",
            "https://10.1.2.3" + secret_path: "private",
            "https://169.254.169.254" + secret_path: "link-local",
            "http://push.example.net" + secret_path: "https",
        }
        for endpoint, reason in cases.items():
            r = await _subscribe(api, alice, _body(sub, endpoint))
            assert r.status_code == 400, (endpoint, r.text)
            assert reason in r.json()["detail"]
            assert "capability-token" not in r.text
    finally:
        await api.aclose()


async def test_a_user_keeps_at_most_20_subscriptions(
    api: Api, pg: asyncpg.Connection, minting: FakePushService
) -> None:
    alice = await api.user("alice")
    subs = [minting.mint_subscription() for _ in range(22)]
    for sub in subs:
        assert (await _subscribe(api, alice, _body(sub))).status_code == 201

    kept = {
        r["endpoint"]
        for r in await pg.fetch("SELECT endpoint FROM push_subscriptions WHERE user_id = $1", alice.user_id)
    }
    assert kept == {s.endpoint for s in subs[2:]}


# --- preferences ---------------------------------------------------------------------------------


async def _prefs(api: Api, user: User) -> dict[str, Any]:
    r = await api.http.get("/api/me/notifications", headers=user.headers)
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    return body


async def test_preferences_default_to_mentions_and_round_trip(api: Api) -> None:
    alice = await api.user("alice")
    room_a, room_b = await api.room(alice), await api.room(alice)
    assert await _prefs(api, alice) == {"push": "mentions", "rooms": {}}

    wanted = {"push": "all", "rooms": {room_a: "none", room_b: "mentions"}}
    r = await api.http.put("/api/me/notifications", json=wanted, headers=alice.headers)

    assert r.status_code == 200, r.text
    assert r.json() == wanted
    assert await _prefs(api, alice) == wanted
    # a field left out keeps its value; `rooms` replaces all overrides
    r = await api.http.put("/api/me/notifications", json={"rooms": {room_b: "all"}}, headers=alice.headers)
    assert r.json() == {"push": "all", "rooms": {room_b: "all"}}


@pytest.mark.parametrize(
    "body",
    [
        {"push": "loud"},
        {"push": None},
        {"rooms": {"not-a-uuid": "all"}},
        {"rooms": ["all"]},
        {"rooms": {"ROOM": "sometimes"}},
    ],
)
async def test_unknown_values_are_refused_with_400(api: Api, body: dict[str, Any]) -> None:
    alice = await api.user("alice")
    room = await api.room(alice)
    if "rooms" in body and isinstance(body["rooms"], dict) and "ROOM" in body["rooms"]:
        body = {"rooms": {room: body["rooms"]["ROOM"]}}

    r = await api.http.put("/api/me/notifications", json=body, headers=alice.headers)

    assert r.status_code == 400, r.text
    assert await _prefs(api, alice) == {"push": "mentions", "rooms": {}}


async def test_rooms_the_caller_is_not_a_member_of_are_refused_and_left_rooms_drop_out(api: Api) -> None:
    alice, bob = await api.user("alice"), await api.user("bob")
    alices_room = await api.room(alice)
    shared = await api.room_with(alice, (bob, "VIEWER"))

    r = await api.http.put("/api/me/notifications", json={"rooms": {alices_room: "all"}}, headers=bob.headers)
    assert r.status_code == 400
    r = await api.http.put("/api/me/notifications", json={"rooms": {shared: "all"}}, headers=bob.headers)
    assert r.status_code == 200

    # when Bob is removed from the room, his override is no longer shown (nor refused on PUT back)
    r = await api.http.delete(f"/api/rooms/{shared}/members/{bob.user_id}", headers=alice.headers)
    assert r.status_code == 204
    prefs = await _prefs(api, bob)
    assert prefs == {"push": "mentions", "rooms": {}}
    r = await api.http.put("/api/me/notifications", json=prefs, headers=bob.headers)
    assert r.status_code == 200


async def test_preferences_need_sign_in(api: Api) -> None:
    assert (await api.http.get("/api/me/notifications")).status_code == 401
    assert (await api.http.put("/api/me/notifications", json={"push": "all"})).status_code == 401
