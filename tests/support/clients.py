"""Test clients: REST through httpx, WebSocket through `websockets`, users made directly."""

from __future__ import annotations

import asyncio
import json
import uuid
from dataclasses import dataclass
from typing import Any

import httpx
import websockets
from sqlalchemy import text
from websockets.asyncio.client import ClientConnection

from api.domain.auth.credentials import hash_password, new_token, token_digest
from api.domain.auth.users import do_upsert_user
from api.domain.core.db import Database, create_engine
from api.domain.core.settings import Settings

PASSWORD = "correct-horse-battery"
_PASSWORD_HASH: str | None = None


def _password_hash() -> str:
    global _PASSWORD_HASH
    if _PASSWORD_HASH is None:
        _PASSWORD_HASH = hash_password(PASSWORD)
    return _PASSWORD_HASH


@dataclass
class User:
    user_id: str
    display_name: str
    token: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


class Api:
    """A REST client for one server, with helpers to make users and rooms."""

    def __init__(self, base_url: str, database_url: str) -> None:
        self.base_url = base_url
        self.ws_base = base_url.replace("http://", "ws://")
        self.http = httpx.AsyncClient(base_url=base_url, timeout=15.0)
        self._db = Database(create_engine(Settings(db_pool_size=4, db_max_overflow=4), database_url))

    async def aclose(self) -> None:
        await self.http.aclose()
        await self._db.dispose()

    async def user(self, name: str = "user", *, admin: bool = False, display_name: str | None = None) -> User:
        """A new user with a unique id, signed in."""
        email = f"{name}-{uuid.uuid4().hex[:10]}@example.com"
        display = display_name or f"{name.title()} {uuid.uuid4().hex[:4]}"
        token = new_token()
        async with self._db.transaction() as uow:
            await do_upsert_user(uow.conn, email, display, None, admin, password_hash=_password_hash())
            # Sign-in itself is tested through the endpoint; setup mints the token directly,
            # so a busy machine's argon2 cost does not slow every test.
            await uow.conn.execute(
                text(
                    "INSERT INTO auth_tokens (token_hash, user_id, expires_at) VALUES (:h, :u, now() + interval '1 day')"
                ),
                {"h": token_digest(token), "u": email},
            )
        return User(email, display, token)

    async def room(self, owner: User, title: str = "Line 3 incident", **members: str) -> str:
        r = await self.http.post("/api/rooms", json={"title": title}, headers=owner.headers)
        assert r.status_code == 201, r.text
        room_id: str = r.json()["room_id"]
        return room_id

    async def add_member(self, owner: User, room_id: str, user: User, role: str = "EDITOR") -> None:
        r = await self.http.post(
            f"/api/rooms/{room_id}/members",
            json={"user_id": user.user_id, "role": role},
            headers=owner.headers,
        )
        assert r.status_code == 201, r.text

    async def room_with(self, owner: User, *others: tuple[User, str]) -> str:
        room_id = await self.room(owner)
        for user, role in others:
            await self.add_member(owner, room_id, user, role)
        return room_id

    async def history(self, user: User, room_id: str, **params: Any) -> dict[str, Any]:
        r = await self.http.get(f"/api/rooms/{room_id}/messages", params=params, headers=user.headers)
        assert r.status_code == 200, r.text
        body: dict[str, Any] = r.json()
        return body

    async def connect(self, user: User, room_id: str, **query: Any) -> WsClient:
        return await WsClient.open(self.ws_base, user, room_id, **query)

    async def stream(self, user: User, **query: Any) -> WsClient:
        """The user's stream (`/ws`), after its `connected` snapshot."""
        return await WsClient.open(self.ws_base, user, "", **query)


class WsClient:
    """A WebSocket client that reads JSON frames with timeouts."""

    def __init__(self, ws: ClientConnection) -> None:
        self.ws = ws
        self.frames: list[dict[str, Any]] = []
        self.connected: dict[str, Any] | None = None

    @classmethod
    async def open(
        cls, base: str, user: User, room_id: str, *, expect_connected: bool = True, **query: Any
    ) -> WsClient:
        qs = "&".join(f"{k}={v}" for k, v in query.items())
        # An empty room id is the user stream, `/ws`.
        url = (f"{base}/ws/{room_id}" if room_id else f"{base}/ws") + (f"?{qs}" if qs else "")
        ws = await websockets.connect(url, additional_headers=user.headers, max_size=2**22, open_timeout=10)
        client = cls(ws)
        if expect_connected:
            client.connected = await client.next("connected")
        return client

    async def recv(self, timeout: float = 10.0) -> dict[str, Any]:
        raw = await asyncio.wait_for(self.ws.recv(), timeout)
        frame: dict[str, Any] = json.loads(raw)
        self.frames.append(frame)
        return frame

    async def next(self, *types: str, timeout: float = 10.0) -> dict[str, Any]:
        """The next frame of one of `types`, skipping others."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            remaining = deadline - loop.time()
            if remaining <= 0:
                raise TimeoutError(f"no {types} frame within {timeout}s")
            frame = await self.recv(remaining)
            if not types or frame.get("type") in types:
                return frame

    async def send(self, frame: dict[str, Any]) -> None:
        await self.ws.send(json.dumps(frame))

    async def send_message(self, content: Any, **extra: Any) -> dict[str, Any]:
        """Send a message and return its ack (or raise on an error frame)."""
        client_id = extra.pop("client_id", uuid.uuid4().hex)
        await self.send({"type": "message", "content": content, "client_id": client_id, **extra})
        frame = await self.next("ack", "error")
        if frame["type"] == "error":
            raise AssertionError(f"send refused: {frame}")
        return frame

    async def sequenced(self, count: int, timeout: float = 20.0) -> list[dict[str, Any]]:
        """The next `count` sequenced frames (message, or system with a sequence number)."""
        out: list[dict[str, Any]] = []
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while len(out) < count:
            remaining = deadline - loop.time()
            if remaining <= 0:
                raise TimeoutError(f"got {len(out)} of {count} sequenced frames")
            frame = await self.recv(remaining)
            if frame.get("type") == "message" or (
                frame.get("type") == "system" and "sequence_number" in frame
            ):
                out.append(frame)
        return out

    async def closed_with(self, timeout: float = 10.0) -> int | None:
        """Read until the server closes; returns the close code."""
        try:
            async with asyncio.timeout(timeout):
                while True:
                    await self.ws.recv()
        except websockets.ConnectionClosed as exc:
            return exc.rcvd.code if exc.rcvd else None

    async def close(self) -> None:
        await self.ws.close()
