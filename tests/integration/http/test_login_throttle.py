"""Failed sign-ins are throttled per account and per address, across processes; a person never meets it."""

from __future__ import annotations

from typing import Any

from tests.support.clients import PASSWORD, Api


async def _login(api: Api, email: str, password: str) -> Any:
    return await api.http.post("/api/auth/login", json={"email": email, "password": password})


async def test_wrong_passwords_lock_the_account_for_a_while_on_every_process(
    server_factory, database_url: str
) -> None:
    limits = {"LOGIN_FAILURES_PER_ACCOUNT": "4", "LOGIN_FAILURES_PER_ADDRESS": "9", "LOGIN_WINDOW_SECONDS": "60"}
    one, two = server_factory(**limits), server_factory(**limits)
    a, b = Api(one.base_url, database_url), Api(two.base_url, database_url)
    try:
        alice, bob = await a.user("alice"), await a.user("bob")
        # A person's few typos are answered as usual, and a right password then works.
        assert (await _login(a, alice.user_id, "typo-typo")).status_code == 401
        assert (await _login(a, alice.user_id, PASSWORD)).status_code == 200
        # Guessing: four failures over two processes, then 429 everywhere, even with the right password.
        for api in (a, b, a, b):
            assert (await _login(api, alice.user_id, "wrong-guess")).status_code == 401
        for api in (a, b):
            r = await _login(api, alice.user_id, PASSWORD)
            assert r.status_code == 429, r.text
            assert 0 < int(r.headers["retry-after"]) <= 60
            assert r.json()["status_code"] == 429
        # Another account is not locked by alice's failures...
        assert (await _login(b, bob.user_id, PASSWORD)).status_code == 200
        # ...until this address has failed too often for anyone.
        for _ in range(4):
            await _login(b, bob.user_id, "wrong-guess")
        carol = await a.user("carol")
        r = await _login(a, carol.user_id, PASSWORD)
        assert r.status_code == 429 and int(r.headers["retry-after"]) > 0
        # The e-mail addresses tried never reach the log.
        assert alice.user_id not in one.log() + two.log()
    finally:
        await a.aclose()
        await b.aclose()
