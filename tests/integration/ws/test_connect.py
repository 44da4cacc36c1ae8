"""Connecting: close codes after accept, the connected frame, joined/left events."""

from __future__ import annotations

import uuid

import websockets

from tests.support.clients import Api, WsClient


async def _close_code(url: str, **kw: object) -> int | None:
    ws = await websockets.connect(url, open_timeout=10, **kw)  # type: ignore[arg-type]
    try:
        await ws.recv()
    except websockets.ConnectionClosed as exc:
        return exc.rcvd.code if exc.rcvd else None
    finally:
        await ws.close()
    return None


async def test_close_codes(api: Api) -> None:
    owner, stranger = await api.user("owner"), await api.user("stranger")
    room_id = await api.room(owner)
    base = api.ws_base
    assert await _close_code(f"{base}/ws/{room_id}") == 4401
    assert await _close_code(f"{base}/ws/{room_id}?token=garbage") == 4401
    assert await _close_code(f"{base}/ws/{uuid.uuid4()}?token={owner.token}") == 4404
    assert await _close_code(f"{base}/ws/not-a-room?token={owner.token}") == 4404
    assert await _close_code(f"{base}/ws/{room_id}?token={stranger.token}") == 4403
    assert (
        await _close_code(f"{base}/ws/{room_id}?token={owner.token}", origin="https://evil.example") == 4403
    )
    assert (
        await _close_code(
            f"{base}/ws/{room_id}", additional_headers={"Cookie": f"andon_session={owner.token}"}
        )
        == 4403
    )


async def test_cookie_with_allowed_origin_connects(api: Api) -> None:
    owner = await api.user("owner")
    room_id = await api.room(owner)
    ws = await websockets.connect(
        f"{api.ws_base}/ws/{room_id}",
        additional_headers={"Cookie": f"andon_session={owner.token}"},
        origin=api.base_url,  # type: ignore[arg-type]
    )
    import json

    assert json.loads(await ws.recv())["type"] == "connected"
    await ws.close()


async def test_connected_frame_and_joined_left_events(api: Api) -> None:
    owner, editor = await api.user("owner"), await api.user("ed")
    room_id = await api.room_with(owner, (editor, "EDITOR"))
    a = await api.connect(owner, room_id)
    assert a.connected is not None
    assert (
        a.connected["room_id"] == room_id
        and a.connected["user_id"] == owner.user_id
        and a.connected["role"] == "OWNER"
    )
    assert a.connected["last_sequence_number"] == 1
    assert {"user_id": owner.user_id, "display_name": owner.display_name} in a.connected["online"]
    b = await api.connect(editor, room_id)
    assert b.connected is not None and len(b.connected["online"]) == 2
    joined = await a.next("system")
    assert (
        joined["event"] == "user_joined"
        and joined["user_id"] == editor.user_id
        and joined["display_name"] == editor.display_name
    )
    presence = await a.next("presence")
    assert {u["user_id"] for u in presence["online"]} == {owner.user_id, editor.user_id}
    # A second connection of the same user is not a new join.
    b2 = await api.connect(editor, room_id)
    await b2.close()
    await b.close()
    left = await a.next("system")
    assert left["event"] == "user_left" and left["user_id"] == editor.user_id
    await a.close()


async def test_admin_connects_to_any_room_as_owner(api: Api) -> None:
    owner, admin = await api.user("owner"), await api.user("root", admin=True)
    room_id = await api.room(owner)
    ws = await WsClient.open(api.ws_base, admin, room_id)
    assert ws.connected is not None and ws.connected["role"] == "OWNER"
    await ws.close()


async def test_busy_database_at_connect_closes_with_1011_not_4500(
    api: Api, server_factory, database_url: str
) -> None:
    import asyncio

    import asyncpg

    srv = server_factory(DB_POOL_SIZE="1", DB_MAX_OVERFLOW="0", DB_POOL_TIMEOUT="0.5")
    owner = await api.user("owner")
    room_id = await api.room(owner)
    blocker = await asyncpg.connect(database_url.replace("+asyncpg", ""))
    try:
        tx = blocker.transaction()
        await tx.start()
        await blocker.execute("LOCK TABLE auth_tokens IN ACCESS EXCLUSIVE MODE")
        # The first socket takes the only pooled connection and waits on the lock...
        first = asyncio.create_task(
            _close_code(f"ws://127.0.0.1:{srv.port}/ws/{room_id}?token={owner.token}")
        )
        async with asyncio.timeout(10):
            while not await blocker.fetchval(
                "SELECT count(*) FROM pg_locks WHERE relation = 'auth_tokens'::regclass AND NOT granted"
            ):
                await asyncio.sleep(0.02)
        # ...so the second finds the pool exhausted: a server error the client retries.
        assert await _close_code(f"ws://127.0.0.1:{srv.port}/ws/{room_id}?token={owner.token}") == 1011
        await tx.rollback()
        first.cancel()
    finally:
        await blocker.close()



async def test_an_aborted_connection_is_logged_as_1006(api: Api, server_factory) -> None:
    """A peer that vanishes without a close frame is an abnormal closure (RFC 6455: 1006), not 1005."""
    from tests.integration.ops.support import log_records, wait_for_log

    srv = server_factory()
    local = Api(srv.base_url, api._db.engine.url.render_as_string(hide_password=False))
    try:
        owner = await local.user("owner")
        room_id = await local.room(owner)
        ws = await local.connect(owner, room_id)
        await ws.send({"type": "ping"})
        await ws.next("pong")
        ws.ws.transport.abort()  # type: ignore[attr-defined]

        def closed(text: str) -> list[object]:
            return [r.get("close_code") for r in log_records(text) if str(r.get("msg", "")).startswith("websocket closed")]

        text = await wait_for_log(srv, lambda t: bool(closed(t)), timeout=10)
        assert closed(text) == [1006]
    finally:
        await local.aclose()
