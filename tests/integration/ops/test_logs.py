"""The server's log: JSON lines only, an access line per request and per socket with request and
connection ids, and no token, password or message content after real traffic."""

from __future__ import annotations

import asyncio
import json
import uuid
from typing import Any

import websockets

from tests.integration.ops.support import log_records, wait_for_log
from tests.support.clients import PASSWORD, Api

BANNER = ("Andon is serving on", "Embedded ")


async def test_log_is_json_with_request_and_connection_ids_and_never_a_secret(
    api: Api, server_factory: Any, database_url: str
) -> None:
    server = server_factory(LOG_LEVEL="INFO")
    client = Api(server.base_url, database_url)
    try:
        owner, editor = await api.user("owner"), await api.user("editor")
        room_id = await api.room_with(owner, (editor, "EDITOR"))
        content = f"confidential reactor note {uuid.uuid4().hex}"

        # Sign in with the password (body), then use the token in a WebSocket URL (?token=).
        login = await client.http.post(
            "/api/auth/login", json={"email": editor.user_id, "password": PASSWORD}
        )
        assert login.status_code == 200, login.text
        token = login.json()["token"]
        url = f"{client.ws_base}/ws/{room_id}?token={token}&since=0"
        async with websockets.connect(url) as ws:
            assert json.loads(await ws.recv())["type"] == "connected"
            assert ws.response is not None
            handshake_id = ws.response.headers["x-request-id"]
            await ws.send(json.dumps({"type": "message", "content": content, "client_id": "log-1"}))
            while json.loads(await ws.recv())["type"] != "ack":
                pass
            await ws.send(json.dumps({"type": "message", "content": {"secret_value": content}}))
        # A socket refused before its session opens (a wrong token) is logged too.
        async with websockets.connect(f"{client.ws_base}/ws/{room_id}?token=not-{token}") as refused:
            try:
                await asyncio.wait_for(refused.recv(), 5)
            except websockets.ConnectionClosed as exc:
                assert exc.rcvd is not None and exc.rcvd.code == 4401

        # Request ids: a sane incoming one is kept and echoed, anything else is replaced.
        mine = f"req-{uuid.uuid4().hex[:12]}"
        echoed = await client.http.get("/healthz", headers={"X-Request-ID": mine})
        assert echoed.headers["x-request-id"] == mine
        odd = await client.http.get("/healthz", headers={"X-Request-ID": "no spaces allowed; " + "x" * 200})
        assert odd.headers["x-request-id"] != "" and " " not in odd.headers["x-request-id"]
        history = await client.http.get(
            f"/api/rooms/{room_id}/messages",
            params={"limit": 5},
            headers={"Authorization": f"Bearer {token}"},
        )
        assert history.status_code == 200 and content in history.text

        # Each access line is written once its response has gone out, so possibly after the
        # client has read it: wait for the last request's line too.
        text = await wait_for_log(
            server,
            lambda t: (
                "refused 4401" in t
                and "websocket closed" in t
                and mine in t
                and f"/api/rooms/{room_id}/messages" in t
            ),
        )
        records = log_records(text)
        for line in text.splitlines():
            assert not line.strip() or line.startswith("{") or line.startswith(BANNER), line

        # No secret, in any line, at any level.
        for secret in (token, PASSWORD, content, "secret_value"):
            assert secret not in text, secret
        assert not [r for r in records if r["logger"] == "uvicorn.access"]

        access = [r for r in records if r["logger"] == "andon.access" and r.get("method") != "WEBSOCKET"]
        login_line = next(r for r in access if r["path"] == "/api/auth/login")
        assert login_line["method"] == "POST" and login_line["status"] == 200
        assert login_line["request_id"] and login_line["duration_ms"] >= 0
        assert next(r for r in access if r["request_id"] == mine)["path"] == "/healthz"
        assert next(r for r in access if r["request_id"] == echoed.headers["x-request-id"])
        history_line = next(r for r in access if r["path"].endswith("/messages"))
        assert "?" not in history_line["path"] and history_line["status"] == 200
        assert all("?" not in r.get("path", "") for r in records)

        opened = next(r for r in records if r["msg"] == "websocket opened")
        closed = next(r for r in records if r["msg"].startswith("websocket closed"))
        assert opened["room_id"] == room_id == closed["room_id"]
        assert opened["conn_id"] == closed["conn_id"] and opened["request_id"] == handshake_id
        assert closed["close_code"] == 1000 and closed["duration_ms"] > 0
        refused_line = next(r for r in records if r.get("method") == "WEBSOCKET")
        assert refused_line["close_code"] == 4401 and refused_line["path"] == f"/ws/{room_id}"
        assert "conn_id" not in refused_line
    finally:
        await client.aclose()
