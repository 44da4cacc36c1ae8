"""What one room socket opening costs the database, and that the one statement refuses like before.

After a server process dies, a thousand clients reopen on a survivor at once (issue 19, item 3);
each opening's database round trips were a quarter of the survivor's CPU. An opening with
`since` is now one statement (token, membership, the room's position, the replay's first page;
`api.domain.messages.opening`), plus the room's position once when this process does not yet
follow the room, plus a read for what the admission could not see (committed after it and
delivered here before the socket joined). These tests count the statements of the real route
(`api.ws.gateway.room_socket`, run in this test's process on the shared database and Redis, so
the server fixture's commits reach it) so that the count cannot silently grow back, and check
that the race between the admission and joining the live stream loses nothing. The refusals
(revoked or expired token, non-member, removed member, bad room or `since`) go through the
server fixture like every client's.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator, Callable
from types import SimpleNamespace
from typing import Any

import asyncpg
import pytest
import pytest_asyncio
import websockets
from sqlalchemy import event

from api.app import build_services
from api.domain.core.settings import Settings
from api.domain.messages.send import MessageWriter
from api.domain.presence import Presence
from api.ws import gateway
from api.ws.hub import Hub
from tests.conftest import redis_url
from tests.support.clients import Api, User, WsClient


class FakeSocket:
    """What `room_socket` uses of a Litestar WebSocket, recording the frames it is sent."""

    def __init__(self, hub: Hub, token: str, since: int | None) -> None:
        self.app = SimpleNamespace(state=SimpleNamespace(hub=hub))
        self.scope: dict[str, Any] = {"headers": [(b"authorization", f"Bearer {token}".encode())]}
        self.query_params = {} if since is None else {"since": str(since)}
        self.cookies: dict[str, str] = {}
        self.frames: list[dict[str, Any]] = []
        self.close_code: int | None = None
        self.gone = asyncio.Event()
        self.arrived = asyncio.Event()

    async def accept(self) -> None:
        return None

    async def close(self, code: int = 1000, reason: str = "") -> None:
        self.close_code = code
        self.gone.set()
        self.arrived.set()

    async def send(self, message: dict[str, Any]) -> None:
        if message["type"] == "websocket.send":
            self.frames.append(json.loads(message["text"]))
        elif message["type"] == "websocket.close":
            self.close_code = message["code"]
            self.gone.set()
        self.arrived.set()

    async def receive(self) -> dict[str, Any]:
        await self.gone.wait()
        return {"type": "websocket.disconnect", "code": 1000}

    async def until(self, done: Callable[[], bool], timeout: float = 10.0) -> None:
        async with asyncio.timeout(timeout):
            while not done():
                self.arrived.clear()
                await self.arrived.wait()

    def synced(self) -> bool:
        return any(f["type"] == "sync_complete" for f in self.frames) or self.close_code is not None

    def sequence(self) -> list[int]:
        return [f["sequence_number"] for f in self.frames if f["type"] == "message"]


class Counted:
    """The SQL statements of this process's engine, and its pool checkouts."""

    def __init__(self) -> None:
        self.statements: list[str] = []
        self.checkouts = 0

    def reset(self) -> None:
        self.statements = []
        self.checkouts = 0


@pytest_asyncio.fixture
async def local_hub(server: Any, database_url: str, redis_prefix: str) -> AsyncIterator[tuple[Hub, Counted]]:
    """A hub in this process on the run's database and Redis namespace (the server fixture's
    commits reach it over Redis), with only its Redis reader running: the periodic tail check,
    heartbeat and validator would add statements of their own to the count."""
    settings = Settings(
        database_url=database_url,
        redis_url=redis_url(),
        redis_prefix=redis_prefix,
        db_pool_size=2,
        db_max_overflow=0,
    )
    services = build_services(settings)
    counted = Counted()

    def on_statement(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        counted.statements.append(statement)

    def on_checkout(*_args: Any) -> None:
        counted.checkouts += 1

    event.listen(services.db.engine.sync_engine, "before_cursor_execute", on_statement)
    event.listen(services.db.engine.sync_engine.pool, "checkout", on_checkout)
    process_id = f"test-{uuid.uuid4().hex[:8]}"
    presence = Presence(services.redis, redis_prefix, process_id, settings.ws_ping_interval + settings.ws_pong_timeout)
    hub = Hub(services, presence, MessageWriter(services), process_id)
    await hub.start()
    for task in hub._tasks:
        if task.get_name() != "hub-reader":
            task.cancel()
    try:
        yield hub, counted
    finally:
        await hub.stop()
        await services.redis.aclose()
        await services.db.dispose()


async def _open(hub: Hub, user: User, room_id: str, since: int | None) -> tuple[FakeSocket, asyncio.Task[None]]:
    sock = FakeSocket(hub, user.token, since)
    task = asyncio.create_task(gateway.room_socket.fn(socket=sock, room_id=room_id))
    await sock.until(sock.synced if since is not None else lambda: bool(sock.frames) or sock.close_code is not None)
    return sock, task


async def _close(sock: FakeSocket, task: asyncio.Task[None]) -> None:
    sock.gone.set()
    await asyncio.wait_for(task, 10)


async def _history(api: Api, sender: WsClient, count: int) -> int:
    last = 0
    for i in range(count):
        last = (await sender.send_message(f"reading {i}"))["sequence_number"]
    return last


async def test_a_resuming_opening_is_one_statement(api: Api, local_hub: tuple[Hub, Counted]) -> None:
    hub, counted = local_hub
    owner, crew = await api.user("owner"), await api.user("crew")
    room_id = await api.room_with(owner, (crew, "EDITOR"))
    sender = await api.connect(owner, room_id)
    try:
        last = await _history(api, sender, 6)

        # The first socket of a room in this process also reads where the room's stream stands.
        counted.reset()
        cold, cold_task = await _open(hub, crew, room_id, since=last - 4)
        assert cold.sequence() == list(range(last - 3, last + 1))
        assert len(counted.statements) == 2, counted.statements
        await _close(cold, cold_task)

        # The storm's case: the room is followed here already. One statement, one checkout.
        counted.reset()
        sock, task = await _open(hub, crew, room_id, since=last - 3)
        assert sock.frames[0]["type"] == "connected"
        assert sock.sequence() == list(range(last - 2, last + 1))
        assert sock.frames[-1]["type"] == "sync_complete"
        assert sock.frames[-1]["last_sequence_number"] == last
        assert len(counted.statements) == 1, counted.statements
        assert counted.checkouts == 1

        # Live traffic follows the replay without a gap or a duplicate.
        more = await _history(api, sender, 2)
        await sock.until(lambda: (sock.sequence() or [0])[-1] >= more)
        assert sock.sequence() == list(range(last - 2, more + 1))
        await _close(sock, task)

        # Up to date, or without `since`: still one statement.
        for since in (more, None):
            counted.reset()
            sock, task = await _open(hub, crew, room_id, since=since)
            assert len(counted.statements) == 1, (since, counted.statements)
            assert sock.sequence() == []
            await _close(sock, task)
    finally:
        await sender.close()


async def test_a_message_committed_between_admission_and_joining_is_replayed(
    api: Api, local_hub: tuple[Hub, Counted], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The admission statement reads the replay before the socket joins the room's stream:
    a message committed in between and delivered here before the join is in neither. The
    replay reads it (one more statement), in order, once."""
    hub, counted = local_hub
    owner, crew = await api.user("owner"), await api.user("crew")
    room_id = await api.room_with(owner, (crew, "EDITOR"))
    sender = await api.connect(owner, room_id)
    try:
        last = await _history(api, sender, 3)
        (room,) = (await hub.registry.ensure_rooms([room_id])).values()
        assert await hub.orderer.wait_for(room, last, 10)
        real = gateway.open_room
        late: list[int] = []

        async def admission_then_a_commit(*args: Any, **kwargs: Any) -> Any:
            opening = await real(*args, **kwargs)
            for i in range(2):
                late.append((await sender.send_message(f"late {i}"))["sequence_number"])
            assert await hub.orderer.wait_for(room, late[-1], 10)
            return opening

        monkeypatch.setattr(gateway, "open_room", admission_then_a_commit)
        counted.reset()
        sock, task = await _open(hub, crew, room_id, since=1)
        assert late == [last + 1, last + 2]
        assert sock.sequence() == list(range(2, last + 3))
        assert sock.frames[-1]["type"] == "sync_complete"
        assert len(counted.statements) == 2, counted.statements
        await _close(sock, task)
    finally:
        await sender.close()


@pytest.mark.parametrize("since", [1, None])
async def test_a_member_removed_between_admission_and_joining_is_closed(
    api: Api, local_hub: tuple[Hub, Counted], monkeypatch: pytest.MonkeyPatch, since: int | None
) -> None:
    """The admission statement finds a member; the removal commits, and this process's stream
    delivers it (closing the room's sockets then), before the new socket joins the stream. The
    socket must still be closed 4403 at once, with nothing of the room after the removal, not
    left open until the periodic validation 30 s later."""
    hub, _counted = local_hub
    owner, crew = await api.user("owner"), await api.user("crew")
    room_id = await api.room_with(owner, (crew, "EDITOR"))
    sender = await api.connect(owner, room_id)
    try:
        last = await _history(api, sender, 3)
        (room,) = (await hub.registry.ensure_rooms([room_id])).values()
        assert await hub.orderer.wait_for(room, last, 10)
        real = gateway.open_room

        async def admission_then_a_removal(*args: Any, **kwargs: Any) -> Any:
            opening = await real(*args, **kwargs)
            r = await api.http.delete(f"/api/rooms/{room_id}/members/{crew.user_id}", headers=owner.headers)
            assert r.status_code in (200, 204), r.text
            assert await hub.orderer.wait_for(room, last + 1, 10)
            return opening

        monkeypatch.setattr(gateway, "open_room", admission_then_a_removal)
        sock = FakeSocket(hub, crew.token, since)
        task = asyncio.create_task(gateway.room_socket.fn(socket=sock, room_id=room_id))
        await sock.until(lambda: sock.close_code is not None)
        assert sock.close_code == 4403
        after = (await sender.send_message("after the removal"))["sequence_number"]
        assert await hub.orderer.wait_for(room, after, 10)
        assert [s for s in sock.sequence() if s > last] == []
        await _close(sock, task)
    finally:
        await sender.close()


async def _close_code(url: str, user: User | None = None) -> int | None:
    headers = user.headers if user is not None else {}
    ws = await websockets.connect(url, additional_headers=headers, open_timeout=10)
    try:
        frame = await asyncio.wait_for(ws.recv(), 10)
        raise AssertionError(f"a refused socket got a frame: {frame!r}")
    except websockets.ConnectionClosed as exc:
        return exc.rcvd.code if exc.rcvd else None
    finally:
        await ws.close()


async def test_the_opening_statement_refuses_as_the_contract_says(api: Api, database_url: str) -> None:
    owner, crew, stranger = await api.user("owner"), await api.user("crew"), await api.user("stranger")
    admin = await api.user("admin", admin=True)
    room_id = await api.room_with(owner, (crew, "VIEWER"))
    sender = await api.connect(owner, room_id)
    base = f"{api.ws_base}/ws"
    try:
        before = (await sender.send_message("before"))["sequence_number"]
        # Not a member (with and without `since`): 4403, nothing of the room sent.
        assert await _close_code(f"{base}/{room_id}?since=0", stranger) == 4403
        assert await _close_code(f"{base}/{room_id}", stranger) == 4403
        # No such room, or not a room id: 4404; a bad token is judged first: 4401.
        assert await _close_code(f"{base}/{uuid.uuid4()}?since=0", owner) == 4404
        assert await _close_code(f"{base}/not-a-room?since=0", owner) == 4404
        assert await _close_code(f"{base}/not-a-room?since=0&token=garbage") == 4401
        # A bad `since` after the checks: 4400 for a member, 4401 / 4403 for the others.
        assert await _close_code(f"{base}/{room_id}?since=-1", crew) == 4400
        assert await _close_code(f"{base}/{room_id}?since=x&token=garbage") == 4401
        assert await _close_code(f"{base}/{room_id}?since=x", stranger) == 4403
        # A system admin who is not a member reads the room as its OWNER.
        ws = await WsClient.open(api.ws_base, admin, room_id, since=before - 1)
        assert ws.connected is not None and ws.connected["role"] == "OWNER"
        assert (await ws.sequenced(1))[0]["content"] == "before"
        await ws.close()
        # A member reads it with their role.
        ws = await WsClient.open(api.ws_base, crew, room_id, since=0)
        assert ws.connected is not None and ws.connected["role"] == "VIEWER"
        await ws.close()

        # Removed right before opening: 4403.
        r = await api.http.delete(f"/api/rooms/{room_id}/members/{crew.user_id}", headers=owner.headers)
        assert r.status_code in (200, 204), r.text
        assert await _close_code(f"{base}/{room_id}?since=0", crew) == 4403

        # A revoked token (logout) and an expired one: 4401.
        r = await api.http.post("/api/auth/logout", headers=admin.headers)
        assert r.status_code == 204, r.text
        assert await _close_code(f"{base}/{room_id}?since=0", admin) == 4401
        other = await api.user("other")
        await api.add_member(owner, room_id, other, "EDITOR")
        conn = await asyncpg.connect(database_url.replace("postgresql+asyncpg://", "postgresql://"))
        try:
            await conn.execute(
                "UPDATE auth_tokens SET expires_at = now() - interval '1 second' WHERE user_id = $1", other.user_id
            )
        finally:
            await conn.close()
        assert await _close_code(f"{base}/{room_id}?since=0", other) == 4401
    finally:
        await sender.close()
