"""Parked room sockets (`api.ws.gateway`, `api.ws.protocol`): an open, idle socket holds no task
in the server, and frames, closes and shutdown behave as they did with a receive loop."""

from __future__ import annotations

import asyncio
import re
from collections import Counter
from typing import Any

import httpx

from tests.integration.ops.support import exited_within, log_records, sigterm, wait_for_log
from tests.support.clients import Api, WsClient
from tests.support.servers import ServerProcess

SOCKETS = 20


async def _event_loop_tasks(server: ServerProcess) -> float:
    async with httpx.AsyncClient(timeout=10) as client:
        body = (await client.get(f"{server.base_url}/metrics")).text
    match = re.search(r"^andon_event_loop_tasks(?:\{[^}]*\})? ([0-9.e+]+)$", body, re.MULTILINE)
    assert match is not None, "andon_event_loop_tasks missing from /metrics"
    return float(match.group(1))


async def _tasks_settle_below(server: ServerProcess, bound: float, timeout: float = 15.0) -> float:
    """The gauge once it is below `bound` (sockets finish opening in the background); bounded."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        tasks = await _event_loop_tasks(server)
        if tasks < bound or loop.time() > deadline:
            return tasks
        await asyncio.sleep(0.05)


async def _left(watcher: WsClient, user_id: str) -> None:
    """Skip system frames (the joins) until `user_id`'s `user_left`; bounded by `next`."""
    while True:
        frame = await watcher.next("system")
        if frame.get("event") == "user_left" and frame.get("user_id") == user_id:
            return


def _closed_lines(server: ServerProcess) -> list[dict[str, Any]]:
    return [r for r in log_records(server.log()) if r.get("msg", "").startswith("websocket closed")]


async def test_idle_sockets_hold_no_task_and_frames_after_parking_are_handled_in_order(
    api: Api, server_factory: Any, database_url: str
) -> None:
    server = server_factory()
    here = Api(server.base_url, database_url)
    sockets: list[WsClient] = []
    try:
        owner, editor = await api.user("owner"), await api.user("editor")
        room_id = await api.room_with(owner, (editor, "EDITOR"))
        before = await _event_loop_tasks(server)
        # Given many open sockets, idle once their `connected` frame is read,
        for _ in range(SOCKETS):
            sockets.append(await here.connect(editor, room_id))
        watcher = await here.connect(owner, room_id)
        # then the server holds no task for them (a receive loop would hold one each).
        tasks = await _tasks_settle_below(server, before + SOCKETS // 4)
        assert tasks < before + SOCKETS // 4, (before, tasks)

        # When a parked socket gets a burst of frames, they are handled in arrival order.
        sender = sockets[0]
        ids = [f"parked-{i}" for i in range(8)]
        for i, client_id in enumerate(ids):
            await sender.send({"type": "ping", "id": i})
            await sender.send({"type": "message", "content": f"m{i}", "client_id": client_id})
        answers = [await sender.next("ack", "pong") for _ in range(2 * len(ids))]
        # (an ack follows its group commit, so acks and pongs interleave as they may)
        assert [a["id"] for a in answers if a["type"] == "pong"] == list(range(len(ids)))
        acks = [a for a in answers if a["type"] == "ack"]
        assert [a["client_id"] for a in acks] == ids
        seqs = [a["sequence_number"] for a in acks]
        assert seqs == sorted(seqs) and len(set(seqs)) == len(seqs)
        delivered = await watcher.sequenced(len(ids))
        assert [m["content"] for m in delivered] == [f"m{i}" for i in range(len(ids))]
        # And once handled, the socket is parked again: no task is left behind.
        assert await _tasks_settle_below(server, before + SOCKETS // 4) < before + SOCKETS // 4
    finally:
        for s in sockets:
            await s.close()
        await here.aclose()


async def test_a_parked_socket_ends_once_with_the_peers_code_or_1006_when_dropped(
    api: Api, server_factory: Any, database_url: str
) -> None:
    server = server_factory()
    here = Api(server.base_url, database_url)
    try:
        owner, closer, dropper = await api.user("owner"), await api.user("closer"), await api.user("dropper")
        room_id = await api.room_with(owner, (closer, "EDITOR"), (dropper, "EDITOR"))
        watcher = await here.connect(owner, room_id)
        a = await here.connect(closer, room_id)
        b = await here.connect(dropper, room_id)
        await a.send({"type": "focus", "focused": True})
        await a.send({"type": "typing", "is_typing": True})
        assert (await watcher.next("typing"))["user_id"] == closer.user_id

        # When one closes with its own code, the room learns it left, its typing clears,
        await a.ws.close(code=4000, reason="bye")
        await _left(watcher, closer.user_id)
        typing = await watcher.next("typing")
        assert typing["user_id"] == closer.user_id and typing["is_typing"] is False
        # and when another's TCP connection just drops, it leaves too (1006).
        b.ws.transport.abort()
        await _left(watcher, dropper.user_id)

        await wait_for_log(server, lambda t: t.count("websocket closed") >= 2)
        lines = _closed_lines(server)
        by_user = {r["user_id"]: r for r in lines}
        assert by_user[closer.user_id]["close_code"] == 4000
        assert by_user[dropper.user_id]["close_code"] == 1006
        # Each socket's bookkeeping and closing line ran once, with its connection id.
        assert all(n == 1 for n in Counter(r["conn_id"] for r in lines).values())
        assert all(r.get("conn_id") and r.get("request_id") for r in lines)
        await watcher.close()
    finally:
        await here.aclose()


async def test_sigterm_closes_parked_sockets_with_1012_and_exits(
    api: Api, server_factory: Any, database_url: str
) -> None:
    server = server_factory()
    here = Api(server.base_url, database_url)
    try:
        owner = await api.user("owner")
        room_id = await api.room(owner)
        clients = [await here.connect(owner, room_id) for _ in range(5)]
        sent_at = sigterm(server)
        codes = await asyncio.gather(*(c.closed_with(timeout=20) for c in clients))
        assert codes == [1012] * len(clients)
        assert await exited_within(server, sent_at, 30.0) < 30.0
        assert server.proc.returncode == 0
        lines = _closed_lines(server)
        assert sorted(r["close_code"] for r in lines) == [1012] * len(clients)
        assert len({r["conn_id"] for r in lines}) == len(clients)
    finally:
        await here.aclose()
