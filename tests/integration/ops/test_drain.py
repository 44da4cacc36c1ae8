"""Graceful drain on SIGTERM: readiness goes down, new sockets are refused with 1012, sends already
taken commit and are acknowledged, every socket closes with 1012, clients resume elsewhere with
`since` and miss nothing, and the process exits within its bound."""

from __future__ import annotations

import asyncio
import json
import uuid
from typing import Any

import asyncpg
import pytest
import websockets

from tests.integration.ops.support import exited_within, sigterm, wait_http
from tests.support.clients import Api, User, WsClient

# uvicorn's timeout_graceful_shutdown (10 s) after the app's drain (bounded at 14 s), plus start-up slack.
EXIT_BOUND = 30.0


def _pg(url: str) -> str:
    return url.replace("postgresql+asyncpg://", "postgresql://")


async def test_drain_acks_the_send_in_flight_refuses_newcomers_and_exits(
    api: Api, server_factory: Any, database_url: str
) -> None:
    victim = server_factory()
    on_victim = Api(victim.base_url, database_url)
    db = await asyncpg.connect(_pg(database_url))
    try:
        owner, sender_user = await api.user("owner"), await api.user("sender")
        room_id = await api.room_with(owner, (sender_user, "EDITOR"))
        sender = await on_victim.connect(sender_user, room_id)
        # Given a send stuck behind the room's row lock (the writer is mid-transaction) ...
        lock = db.transaction()
        await lock.start()
        await db.execute("SELECT 1 FROM incident_rooms WHERE room_id = $1 FOR UPDATE", uuid.UUID(room_id))
        await sender.send({"type": "message", "content": "in flight at SIGTERM", "client_id": "inflight-1"})
        await _until_a_backend_waits_for_a_lock(db)

        # ... when the process is told to stop,
        sent_at = sigterm(victim)
        # then it reports not ready while it drains, and refuses new sockets with 1012,
        assert await wait_http(f"{victim.base_url}/readyz", lambda s: s == 503, timeout=5) == 503
        newcomer = await on_victim.connect(sender_user, room_id, expect_connected=False)
        assert await newcomer.closed_with(timeout=5) == 1012
        # and once the transaction can finish, the sender gets its ack before its socket closes.
        await lock.rollback()
        ack = await sender.next("ack", timeout=10)
        assert ack["client_id"] == "inflight-1"
        assert await sender.closed_with(timeout=10) == 1012
        assert await exited_within(victim, sent_at, EXIT_BOUND) < EXIT_BOUND
        assert victim.proc.returncode == 0
        stored = await db.fetch(
            "SELECT sequence_number FROM messages WHERE room_id = $1 AND client_id = 'inflight-1'",
            uuid.UUID(room_id),
        )
        assert [r["sequence_number"] for r in stored] == [ack["sequence_number"]]
        assert "draining" in victim.log()
    finally:
        await db.close()
        await on_victim.aclose()


async def _until_a_backend_waits_for_a_lock(db: asyncpg.Connection, timeout: float = 10.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        waiting = await db.fetchval(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
            "AND wait_event_type = 'Lock' AND pid <> pg_backend_pid()"
        )
        if waiting:
            return
        if loop.time() > deadline:
            raise TimeoutError("the send never reached the database")
        await asyncio.sleep(0.02)


class _Receiver:
    """One socket's view of the stream across the drain: every sequence number it was sent."""

    def __init__(self, user: User, ws: WsClient) -> None:
        assert ws.connected is not None
        self.user = user
        self.ws = ws
        self.start = int(ws.connected["last_sequence_number"]) + 1
        self.seqs: list[int] = []
        self.first_close: int | None = None
        self.resumed = False

    @property
    def last(self) -> int:
        return self.seqs[-1] if self.seqs else self.start - 1

    async def _read(self, ws: Any, until: Any) -> None:
        while not until(self):
            frame = json.loads(await ws.recv())
            if frame.get("type") in ("message", "system") and "sequence_number" in frame:
                self.seqs.append(frame["sequence_number"])
            elif frame.get("type") == "sync_complete":
                self.resumed = True

    async def run(
        self,
        survivor: Api,
        room_id: str,
        warmed: asyncio.Event,
        warm_count: list[int],
        resumed: asyncio.Event,
        resumed_count: list[int],
        final: asyncio.Future[int],
    ) -> None:
        try:
            await self._read(self.ws.ws, lambda r: len(r.seqs) >= 3)
            warm_count.pop()
            if not warm_count:
                warmed.set()
            await self._read(self.ws.ws, lambda r: False)
        except websockets.ConnectionClosed as exc:
            self.first_close = exc.rcvd.code if exc.rcvd else None
        again = await survivor.connect(self.user, room_id, since=self.last)
        try:
            await self._read(again.ws, lambda r: r.resumed)
            resumed_count.pop()
            if not resumed_count:
                resumed.set()
            target = await final
            await self._read(again.ws, lambda r: r.last >= target)
        finally:
            await again.ws.close()


async def _sender(
    name: str,
    first: Api,
    then: Api,
    user: User,
    room_id: str,
    stop: asyncio.Event,
    acked: dict[str, int],
) -> int:
    """Sends until told to stop, one at a time; on 1012 it resends the unacknowledged message
    (same client_id) on the other process. Returns how many times it reconnected."""
    ws = await first.connect(user, room_id)
    reconnects = 0
    index = 0
    try:
        while not stop.is_set():
            client_id = f"{name}-{index}"
            try:
                await ws.send({"type": "message", "content": f"{name} {index}", "client_id": client_id})
                frame = await ws.next("ack", timeout=20)
            except websockets.ConnectionClosed as exc:
                assert exc.rcvd is not None and exc.rcvd.code == 1012, exc
                reconnects += 1
                ws = await then.connect(user, room_id)
                continue
            assert frame["client_id"] == client_id
            acked[client_id] = frame["sequence_number"]
            index += 1
            await asyncio.sleep(0.1)  # pacing (not synchronisation): about 10 messages a second
    finally:
        await ws.ws.close()
    return reconnects


@pytest.mark.timeout(300)
async def test_sigterm_with_200_clients_they_resume_on_the_other_process_without_gap_or_duplicate(
    api: Api, server_factory: Any, database_url: str
) -> None:
    victim, survivor_proc = server_factory(), server_factory()
    on_victim = Api(victim.base_url, database_url)
    on_survivor = Api(survivor_proc.base_url, database_url)
    tasks: list[asyncio.Task[Any]] = []
    try:
        owner = await api.user("owner")
        readers = [await api.user(f"r{i}") for i in range(10)]
        talkers = [await api.user("talker-victim"), await api.user("talker-survivor")]
        room_id = await api.room_with(owner, *((u, "EDITOR") for u in readers + talkers))

        receivers: list[_Receiver] = []
        for batch in range(10):
            sockets = await asyncio.gather(
                *(on_victim.connect(readers[i % 10], room_id) for i in range(batch * 20, batch * 20 + 20))
            )
            receivers += [_Receiver(readers[i % 10], ws) for i, ws in enumerate(sockets)]
        assert len(receivers) == 200

        warmed, resumed = asyncio.Event(), asyncio.Event()
        warm_count, resumed_count = [1] * 200, [1] * 200
        final: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        tasks = [
            asyncio.create_task(
                r.run(on_survivor, room_id, warmed, warm_count, resumed, resumed_count, final)
            )
            for r in receivers
        ]
        stop = asyncio.Event()
        acked: dict[str, int] = {}
        senders = [
            asyncio.create_task(_sender("v", on_victim, on_survivor, talkers[0], room_id, stop, acked)),
            asyncio.create_task(_sender("s", on_survivor, on_survivor, talkers[1], room_id, stop, acked)),
        ]

        await asyncio.wait_for(warmed.wait(), 60)
        sent_at = sigterm(victim)
        await asyncio.wait_for(resumed.wait(), 90)
        # Traffic continues after everyone is back; then the senders stop.
        loop = asyncio.get_running_loop()
        wanted, deadline = len(acked) + 10, loop.time() + 30
        while len(acked) < wanted:
            for task in senders:
                if task.done():
                    task.result()  # a sender that failed says why
            assert loop.time() < deadline, "the senders stalled after the drain"
            await asyncio.sleep(0.05)
        stop.set()
        victim_reconnects, survivor_reconnects = await asyncio.wait_for(asyncio.gather(*senders), 30)
        assert victim_reconnects == 1 and survivor_reconnects == 0

        db = await asyncpg.connect(_pg(database_url))
        try:
            last = await db.fetchval(
                "SELECT last_seq FROM incident_rooms WHERE room_id = $1", uuid.UUID(room_id)
            )
            rows = await db.fetch(
                "SELECT client_id, sequence_number FROM messages WHERE room_id = $1 AND client_id = ANY($2::text[])",
                uuid.UUID(room_id),
                list(acked),
            )
        finally:
            await db.close()
        final.set_result(int(last))
        await asyncio.wait_for(asyncio.gather(*tasks), 90)

        # Every acknowledged message is stored exactly once, under the number its ack gave.
        assert sorted((r["client_id"], r["sequence_number"]) for r in rows) == sorted(acked.items())
        for r in receivers:
            assert r.first_close == 1012, (r.user.user_id, r.first_close)
            assert r.seqs == list(range(r.start, int(last) + 1)), (r.start, r.seqs[:5], r.seqs[-5:])
        assert await exited_within(victim, sent_at, EXIT_BOUND) < EXIT_BOUND
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await on_victim.aclose()
        await on_survivor.aclose()
