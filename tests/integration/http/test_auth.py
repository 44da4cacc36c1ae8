"""Sign-in, tokens, cookies and the Origin check (CONTRACT §2)."""

from __future__ import annotations

import httpx

from tests.support.clients import PASSWORD, Api


async def test_login_returns_token_user_and_httponly_cookie(api: Api) -> None:
    alice = await api.user("alice")
    r = await api.http.post("/api/auth/login", json={"email": alice.user_id.upper(), "password": PASSWORD})
    assert r.status_code == 200
    body = r.json()
    assert body["user"] == {"user_id": alice.user_id, "display_name": alice.display_name, "is_admin": False}
    cookie = r.headers["set-cookie"]
    assert "andon_session=" in cookie and "httponly" in cookie.lower() and "samesite=strict" in cookie.lower()
    me = await api.http.get("/api/me", headers={"Authorization": f"Bearer {body['token']}"})
    assert me.json()["user_id"] == alice.user_id


async def test_wrong_password_and_unknown_user_are_401(api: Api) -> None:
    alice = await api.user("alice")
    assert (
        await api.http.post("/api/auth/login", json={"email": alice.user_id, "password": "wrong-password"})
    ).status_code == 401
    assert (
        await api.http.post("/api/auth/login", json={"email": "nobody@example.com", "password": PASSWORD})
    ).status_code == 401


async def test_missing_or_bad_token_is_401(api: Api) -> None:
    assert (await api.http.get("/api/me")).status_code == 401
    r = await api.http.get("/api/me", headers={"Authorization": "Bearer nonsense"})
    assert r.status_code == 401
    assert set(r.json()) >= {"status_code", "detail"}


async def test_logout_revokes_the_token_everywhere(api: Api) -> None:
    alice = await api.user("alice")
    assert (await api.http.post("/api/auth/logout", headers=alice.headers)).status_code == 204
    assert (await api.http.get("/api/me", headers=alice.headers)).status_code == 401


async def test_logout_all_revokes_every_token(api: Api) -> None:
    alice = await api.user("alice")
    second = (
        await api.http.post("/api/auth/login", json={"email": alice.user_id, "password": PASSWORD})
    ).json()["token"]
    r = await api.http.post("/api/auth/logout", params={"all": "true"}, headers=alice.headers)
    assert r.status_code == 204
    assert (await api.http.get("/api/me", headers={"Authorization": f"Bearer {second}"})).status_code == 401


async def test_bearer_header_is_judged_first_without_fallback_to_cookie(api: Api) -> None:
    alice = await api.user("alice")
    r = await api.http.get(
        "/api/me", headers={"Authorization": "Bearer wrong"}, cookies={"andon_session": alice.token}
    )
    assert r.status_code == 401


async def test_cookie_auth_needs_an_allowed_origin_for_state_changes(api: Api) -> None:
    alice = await api.user("alice")
    async with httpx.AsyncClient(base_url=api.base_url, cookies={"andon_session": alice.token}) as browser:
        assert (await browser.get("/api/me")).status_code == 200
        assert (await browser.post("/api/rooms", json={"title": "x"})).status_code == 403
        evil = await browser.post(
            "/api/rooms", json={"title": "x"}, headers={"Origin": "https://evil.example"}
        )
        assert evil.status_code == 403
        ok = await browser.post("/api/rooms", json={"title": "x"}, headers={"Origin": api.base_url})
        assert ok.status_code == 201
        # The Host header is the client's to set: it never widens what counts as our origin.
        spoofed = await browser.post(
            "/api/rooms",
            json={"title": "x"},
            headers={"Origin": "http://evil.example", "Host": "evil.example"},
        )
        assert spoofed.status_code == 403


async def test_malformed_bodies_get_clear_4xx(api: Api) -> None:
    assert (await api.http.post("/api/auth/login", content=b"{nope")).status_code == 400
    assert (await api.http.post("/api/auth/login", json=[1, 2])).status_code == 400
    deep = b"[" * 10000 + b"]" * 10000
    r = await api.http.post("/api/auth/login", content=deep)
    assert r.status_code == 400
