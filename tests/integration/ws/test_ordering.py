"""Sequence integrity, ordered fan-out across processes, resume, and a publisher that dies after commit."""

from __future__ import annotations

import asyncio
import json
import socket
import uuid
from urllib.parse import urlsplit

import asyncpg

from tests.support.clients import Api, User, WsClient
from tests.support.servers import ServerProcess

SENDERS = 60
PER_SENDER = 10


async def _burst(api: Api, senders: list[WsClient]) -> None:
    async def one(i: int, ws: WsClient) -> None:
        for j in range(PER_SENDER):
            await ws.send({"type": "message", "content": f"sender {i} message {j}", "client_id": f"{i}-{j}"})

    await asyncio.gather(*(one(i, ws) for i, ws in enumerate(senders)))


async def _assert_stream(receivers: list[WsClient], first: int, count: int) -> None:
    for ws in receivers:
        frames = await ws.sequenced(count, timeout=60)
        assert [f["sequence_number"] for f in frames] == list(range(first, first + count))


async def _setup(api: Api, n: int) -> tuple[User, list[User], str]:
    owner = await api.user("owner")
    users = await asyncio.gather(*(api.user(f"s{i}") for i in range(n)))
    room_id = await api.room(owner)
    for u in users:
        await api.add_member(owner, room_id, u)
    return owner, list(users), room_id


async def _commit_without_publish(database_url: str, room_id: str, sender_id: str, content: str) -> None:
    conn = await asyncpg.connect(database_url.replace("+asyncpg", ""))
    try:
        async with conn.transaction():
            seq = await conn.fetchval(
                "UPDATE incident_rooms SET last_seq = last_seq + 1 WHERE room_id = $1 RETURNING last_seq",
                uuid.UUID(room_id),
            )
            await conn.execute(
                "INSERT INTO messages (message_id, room_id, sequence_number, sender_id, message_type, content) "
                "VALUES ($1, $2, $3, $4, 'text', $5)",
                uuid.uuid4(),
                uuid.UUID(room_id),
                seq,
                sender_id,
                content,
            )
    finally:
        await conn.close()


async def test_60_concurrent_senders_get_consecutive_numbers_and_everyone_sees_them_in_order(
    api: Api, database_url: str
) -> None:
    owner, users, room_id = await _setup(api, SENDERS)
    base = SENDERS + 1  # member_added events took 1..60
    receivers = [await api.connect(owner, room_id), await api.connect(users[0], room_id)]
    senders = [await api.connect(u, room_id) for u in users]
    await _burst(api, senders)
    await _assert_stream(receivers + senders[:5], base, SENDERS * PER_SENDER)
    conn = await asyncpg.connect(database_url.replace("+asyncpg", ""))
    try:
        seqs = [
            r["sequence_number"]
            for r in await conn.fetch(
                "SELECT sequence_number FROM messages WHERE room_id = $1 AND message_type = 'text' ORDER BY 1",
                uuid.UUID(room_id),
            )
        ]
    finally:
        await conn.close()
    assert seqs == list(range(base, base + SENDERS * PER_SENDER))
    # Each sender's own messages are stored in the order it sent them.
    history = []
    after = 0
    while True:
        page = await api.history(owner, room_id, after_sequence=after, limit=200)
        history += page["messages"]
        if not page["has_more"]:
            break
        after = page["messages"][-1]["sequence_number"]
    for i in range(SENDERS):
        mine = [
            m["content"]
            for m in history
            if m["message_type"] == "text" and m["content"].startswith(f"sender {i} ")
        ]
        assert mine == [f"sender {i} message {j}" for j in range(PER_SENDER)]


async def test_two_server_processes_deliver_one_ordered_stream(
    api: Api, server_factory, database_url: str
) -> None:
    second: ServerProcess = server_factory()
    other = Api(second.base_url, database_url)
    try:
        owner, users, room_id = await _setup(api, 20)
        base = 21
        receivers = [await api.connect(owner, room_id), await other.connect(owner, room_id)]
        senders = [await (api if i % 2 else other).connect(u, room_id) for i, u in enumerate(users)]

        async def one(i: int, ws: WsClient) -> None:
            for j in range(PER_SENDER):
                await ws.send({"type": "message", "content": f"{i}/{j}", "client_id": f"{i}-{j}"})

        await asyncio.gather(*(one(i, ws) for i, ws in enumerate(senders)))
        await _assert_stream(receivers + senders[:4], base, 20 * PER_SENDER)
    finally:
        await other.aclose()


async def test_resume_with_since_while_traffic_continues(api: Api) -> None:
    owner, users, room_id = await _setup(api, 4)
    senders = [await api.connect(u, room_id) for u in users]
    stop = asyncio.Event()

    async def chatter(i: int, ws: WsClient) -> None:
        j = 0
        while not stop.is_set() and j < 200:
            await ws.send({"type": "message", "content": f"{i}:{j}", "client_id": f"{i}-{j}"})
            await ws.next("ack", timeout=20)
            j += 1

    tasks = [asyncio.create_task(chatter(i, ws)) for i, ws in enumerate(senders)]
    try:
        watcher = await api.connect(owner, room_id)
        got = await watcher.sequenced(30)
        last = got[-1]["sequence_number"]
        await watcher.close()
        # Reconnect from a point in the past while messages keep coming.
        resumed = await api.connect(owner, room_id, since=last - 10)
        frames: list[dict] = []
        saw_complete = None
        while len(frames) < 60:
            frame = await resumed.next("message", "system", "sync_complete", timeout=20)
            if frame["type"] == "sync_complete":
                saw_complete = frame
                continue
            if "sequence_number" in frame:
                frames.append(frame)
        seqs = [f["sequence_number"] for f in frames]
        assert seqs == list(range(last - 9, last - 9 + 60)), seqs
        assert saw_complete is not None and saw_complete["last_sequence_number"] >= last
        # The `sync` frame on an open socket does the same. Live frames already on the wire when
        # the server reads the `sync` arrive first; the replay then starts exactly at since + 1.
        since = seqs[-1] - 5
        await resumed.send({"type": "sync", "since": since})
        received: list[int] = []
        while True:
            frame = await resumed.next("message", "sync_complete", timeout=20)
            if frame["type"] == "sync_complete":
                break
            received.append(frame["sequence_number"])
        start = max(i for i, n in enumerate(received) if n == since + 1)
        in_flight, replay = received[:start], received[start:]
        assert in_flight == list(range(seqs[-1] + 1, seqs[-1] + 1 + len(in_flight)))
        assert replay == list(range(since + 1, since + 1 + len(replay)))
        assert replay[-1] >= (in_flight[-1] if in_flight else seqs[-1])
        after = await resumed.sequenced(10)
        assert [f["sequence_number"] for f in after] == list(range(replay[-1] + 1, replay[-1] + 11))
    finally:
        stop.set()
        await asyncio.gather(*tasks, return_exceptions=True)


async def test_message_committed_by_a_process_that_died_before_publishing_still_arrives(
    api: Api, database_url: str
) -> None:
    owner, users, room_id = await _setup(api, 1)
    receiver = await api.connect(owner, room_id)
    sender = await api.connect(users[0], room_id)
    await sender.send_message("before")
    assert [f["sequence_number"] for f in await receiver.sequenced(1)] == [2]
    # Exactly what a crashed publisher leaves behind: a committed row, no publish.
    await _commit_without_publish(database_url, room_id, users[0].user_id, "orphan")
    # With no later message to reveal the gap, the tail check finds it.
    orphan = (await receiver.sequenced(1))[0]
    assert orphan["sequence_number"] == 3 and orphan["content"] == "orphan"
    await sender.send_message("after")
    assert [f["sequence_number"] for f in await receiver.sequenced(1)] == [4]


async def test_gap_revealed_by_the_next_message_is_filled_in_order(api: Api, database_url: str) -> None:
    owner, users, room_id = await _setup(api, 1)
    receiver = await api.connect(owner, room_id)
    sender = await api.connect(users[0], room_id)
    # Exactly what a crashed publisher leaves behind: a committed row, no publish.
    await _commit_without_publish(database_url, room_id, users[0].user_id, "lost publish")
    await sender.send_message("next")
    frames = await receiver.sequenced(2)
    assert [(f["sequence_number"], f["content"]) for f in frames] == [(2, "lost publish"), (3, "next")]


async def test_slow_consumer_is_closed_with_1013(api: Api, server_factory, database_url: str) -> None:
    srv = server_factory(WS_SEND_QUEUE_MAX="5")
    local = Api(srv.base_url, database_url)
    try:
        owner, users, room_id = await _setup(api, 1)
        import websockets

        # A raw client on the small-queue server that never reads: its queue fills. The
        # sender is on the shared server; fan-out crosses processes through Redis. Its receive
        # buffer is fixed small before connecting: Linux otherwise grows it on demand (up to
        # tcp_rmem's maximum, 32 MiB here), and the kernel alone could absorb the whole burst
        # without the server ever seeing a paused transport.
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        sock.setblocking(False)
        host, port = urlsplit(local.ws_base).hostname, urlsplit(local.ws_base).port
        await asyncio.get_running_loop().sock_connect(sock, (host, port))
        slow = await websockets.connect(
            f"{local.ws_base}/ws/{room_id}", additional_headers=owner.headers, max_queue=1, sock=sock
        )
        # Joined before the burst: a socket still opening would get the burst as its resume's
        # replay, which waits for room in the queue instead of closing (on a busy machine the
        # opening can take longer than the 200 sends).
        async with asyncio.timeout(30):
            first = json.loads(await slow.recv())
        assert first["type"] == "connected"
        sender = await api.connect(users[0], room_id)
        for i in range(200):
            await sender.send({"type": "message", "content": "x" * 2000 + str(i)})
        await sender.sequenced(200, timeout=60)
        code = None
        try:
            async with asyncio.timeout(30):
                while True:
                    await slow.recv()
        except websockets.ConnectionClosed as exc:
            code = exc.rcvd.code if exc.rcvd else None
        assert code == 1013
    finally:
        await local.aclose()
