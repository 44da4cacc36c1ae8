"""A checker client for fault tests and the fault soak: clients that send over room sockets with
client ids, reconnect with `since` when their socket drops (to another server process when theirs
is gone), and record what a correct system must show afterwards.

- every acked message is stored exactly once (`verify_store`, reading the database);
- every receiver's stream of sequence numbers is gapless and duplicate-free, across reconnects;
- how long sends waited for their ack and deliveries lagged behind the ack, so a test can bound
  recovery.

Each client keeps one message in flight: it sends, waits for the ack (resending the same client id
on a new socket when the old one drops or the ack does not come), then sends the next. Every wait
is bounded.
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import asyncpg
import websockets
from websockets.asyncio.client import ClientConnection

from tests.support.clients import User

__all__ = ["CheckerClient", "StoreReport", "run_traffic", "verify_store"]

# A send whose ack has not come after this is resent on a fresh socket (a stuck socket).
ACK_TIMEOUT = 10.0
# How long a client keeps trying to get a socket back before the test fails.
RECONNECT_DEADLINE = 45.0
OPEN_TIMEOUT = 5.0


class CheckerError(AssertionError):
    """The checker could not make progress within its bounds."""


@dataclass
class Attempt:
    client_id: str
    first_sent_at: float
    acked_at: float | None = None
    message_id: str | None = None
    sequence_number: int | None = None
    tries: int = 0


@dataclass
class Reconnect:
    at: float
    close_code: int | None
    from_url: str
    to_url: str | None = None
    back_at: float | None = None


@dataclass
class _Socket:
    ws: ClientConnection
    url: str
    reader: asyncio.Task[None] | None = None
    close_code: int | None = None
    waiting: dict[str, asyncio.Future[dict[str, Any]]] = field(default_factory=dict)


class CheckerClient:
    """One user's room socket, its sends and the stream it receives."""

    def __init__(
        self,
        name: str,
        user: User,
        room_id: str,
        ws_bases: Sequence[str],
        *,
        home: int = 0,
        ack_times: dict[int, float] | None = None,
    ) -> None:
        self.name = name
        self.user = user
        self.room_id = room_id
        self.ws_bases = list(ws_bases)
        self.current = home % len(self.ws_bases)
        # Shared by the clients of one room: when each sequence number was acked to its sender.
        self.ack_times = ack_times if ack_times is not None else {}
        self.sock: _Socket | None = None
        self.last_seq = 0
        self.received: list[int] = []
        self.received_at: dict[int, float] = {}
        self.gaps: list[tuple[int, int]] = []
        self.duplicates: list[int] = []
        self.sent: list[Attempt] = []
        self.reconnects: list[Reconnect] = []
        self.errors: list[dict[str, Any]] = []
        self.ack_timeouts = 0
        self.caught_up = asyncio.Event()
        self._target = 0

    # ---------------------------------------------------------------- the socket

    @property
    def url(self) -> str:
        return self.ws_bases[self.current]

    async def connect(self) -> None:
        """Open the socket with `since` = the last sequence number received (0 at first)."""
        url = f"{self.url}/ws/{self.room_id}?since={self.last_seq}"
        ws = await websockets.connect(
            url, additional_headers=self.user.headers, open_timeout=OPEN_TIMEOUT, max_size=2**22
        )
        try:
            async with asyncio.timeout(OPEN_TIMEOUT):
                frame = json.loads(await ws.recv())
            if frame.get("type") != "connected":
                raise CheckerError(f"{self.name}: first frame {frame}")
        except BaseException:
            await ws.close()
            raise
        sock = _Socket(ws, self.url)
        sock.reader = asyncio.create_task(self._read(sock), name=f"checker-{self.name}")
        self.sock = sock

    async def _read(self, sock: _Socket) -> None:
        try:
            async for raw in sock.ws:
                frame = json.loads(raw)
                kind = frame.get("type")
                if kind == "message" or (kind == "system" and "sequence_number" in frame):
                    self._on_sequenced(int(frame["sequence_number"]))
                elif kind == "ack":
                    frame["_received_at"] = time.monotonic()
                    waiter = sock.waiting.pop(frame.get("client_id") or "", None)
                    if waiter is not None and not waiter.done():
                        waiter.set_result(frame)
                elif kind == "error":
                    self.errors.append(frame)
                    waiter = sock.waiting.pop(frame.get("client_id") or "", None)
                    if waiter is not None and not waiter.done():
                        waiter.set_exception(CheckerError(f"{self.name}: send refused: {frame}"))
        except websockets.ConnectionClosed:
            pass
        finally:
            rcvd = sock.ws.protocol.close_rcvd
            sock.close_code = rcvd.code if rcvd is not None else 1006
            for waiter in sock.waiting.values():
                if not waiter.done():
                    waiter.set_exception(ConnectionError(f"socket closed {sock.close_code}"))

    def _on_sequenced(self, seq: int) -> None:
        if seq <= self.last_seq:
            self.duplicates.append(seq)
            return
        if seq != self.last_seq + 1:
            self.gaps.append((self.last_seq, seq))
        self.last_seq = seq
        self.received.append(seq)
        self.received_at[seq] = time.monotonic()
        if self._target and self.last_seq >= self._target:
            self.caught_up.set()

    async def _drop(self) -> None:
        sock, self.sock = self.sock, None
        if sock is None:
            return
        try:
            async with asyncio.timeout(2):
                await sock.ws.close()
        except (TimeoutError, OSError, websockets.WebSocketException):
            pass
        if sock.reader is not None:
            sock.reader.cancel()
            try:
                await sock.reader
            except asyncio.CancelledError:
                pass

    async def ensure_connected(self) -> None:
        """A live socket; after a drop, reconnect (own server first, then the others) with
        `since`, backing off between attempts, failing after RECONNECT_DEADLINE."""
        if self.sock is not None and self.sock.reader is not None and not self.sock.reader.done():
            return
        event: Reconnect | None = None
        if self.sock is not None:
            event = Reconnect(time.monotonic(), self.sock.close_code, self.sock.url)
            self.reconnects.append(event)
            await self._drop()
        deadline = time.monotonic() + RECONNECT_DEADLINE
        backoff = 0.1
        last_error: BaseException | None = None
        while time.monotonic() < deadline:
            for _ in range(len(self.ws_bases)):
                try:
                    await self.connect()
                except (OSError, TimeoutError, CheckerError, websockets.WebSocketException) as exc:
                    last_error = exc
                    self.current = (self.current + 1) % len(self.ws_bases)
                    continue
                if event is not None:
                    event.to_url, event.back_at = self.url, time.monotonic()
                return
            # Every server refused: a retry pace, not a stand-in for synchronisation.
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, 1.0)
        raise CheckerError(f"{self.name}: no socket within {RECONNECT_DEADLINE}s: {last_error!r}")

    async def close(self) -> None:
        await self._drop()

    # ---------------------------------------------------------------- sending

    async def send_one(self, content: str, **extra: Any) -> Attempt:
        """Send until acked: the same client id on every try (`extra`: more frame fields)."""
        attempt = Attempt(uuid.uuid4().hex, time.monotonic())
        self.sent.append(attempt)
        while True:
            await self.ensure_connected()
            sock = self.sock
            assert sock is not None
            loop = asyncio.get_running_loop()
            waiter: asyncio.Future[dict[str, Any]] = loop.create_future()
            sock.waiting[attempt.client_id] = waiter
            attempt.tries += 1
            try:
                await sock.ws.send(
                    json.dumps(
                        {"type": "message", "content": content, "client_id": attempt.client_id, **extra}
                    )
                )
                async with asyncio.timeout(ACK_TIMEOUT):
                    ack = await waiter
            except TimeoutError:
                # The socket is open but the ack does not come: give up on this socket (its
                # reader ends, and the next try reconnects with `since`).
                self.ack_timeouts += 1
                sock.waiting.pop(attempt.client_id, None)
                sock.ws.transport.abort()
                if sock.reader is not None:
                    await asyncio.wait([sock.reader], timeout=5)
                continue
            except (ConnectionError, websockets.ConnectionClosed):
                continue
            attempt.acked_at = float(ack["_received_at"])
            attempt.message_id = ack["message_id"]
            attempt.sequence_number = int(ack["sequence_number"])
            self.ack_times[attempt.sequence_number] = attempt.acked_at
            return attempt

    async def send_for(self, duration: float, interval: float, stop: asyncio.Event | None = None) -> None:
        """Send one message after another for `duration` seconds, `interval` apart."""
        end = time.monotonic() + duration
        n = 0
        while time.monotonic() < end and not (stop is not None and stop.is_set()):
            n += 1
            await self.send_one(f"{self.name} #{n}")
            await asyncio.sleep(interval)

    async def catch_up(self, last_seq: int, timeout: float) -> None:
        """Wait until the stream reached `last_seq` (reconnecting if the socket dropped)."""
        self._target = last_seq
        if self.last_seq >= last_seq:
            return
        self.caught_up.clear()
        deadline = time.monotonic() + timeout
        while self.last_seq < last_seq:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise CheckerError(f"{self.name}: stream at {self.last_seq}, expected {last_seq}")
            await self.ensure_connected()
            sock = self.sock
            assert sock is not None and sock.reader is not None
            waiter = asyncio.ensure_future(self.caught_up.wait())
            try:
                await asyncio.wait([waiter, sock.reader], timeout=remaining, return_when=asyncio.FIRST_COMPLETED)
            finally:
                waiter.cancel()

    # ---------------------------------------------------------------- figures

    def acked(self) -> list[Attempt]:
        return [a for a in self.sent if a.acked_at is not None]

    def max_ack_wait(self, after: float = 0.0) -> float:
        waits = [a.acked_at - a.first_sent_at for a in self.acked() if a.acked_at and a.acked_at >= after]
        return max(waits, default=0.0)

    def delivery_lags(self) -> list[float]:
        """For every received message that a checker sent: receive time minus its ack time."""
        return [
            at - self.ack_times[seq] for seq, at in self.received_at.items() if seq in self.ack_times
        ]


@dataclass
class StoreReport:
    acked: int
    stored: int
    lost: list[str]
    duplicated: list[str]
    mismatched: list[str]
    unacked_stored: list[str]
    room_last_seq: int

    @property
    def ok(self) -> bool:
        return not (self.lost or self.duplicated or self.mismatched or self.unacked_stored)


async def verify_store(pg_url: str, room_id: str, clients: Sequence[CheckerClient]) -> StoreReport:
    """Read the room's messages from PostgreSQL and compare with every ack the clients got."""
    conn = await asyncpg.connect(pg_url.replace("postgresql+asyncpg://", "postgresql://"), timeout=10)
    try:
        rows = await conn.fetch(
            "SELECT client_id, message_id::text AS message_id, sequence_number FROM messages "
            "WHERE room_id = $1 AND client_id IS NOT NULL",
            uuid.UUID(room_id),
        )
        last = await conn.fetchval("SELECT last_seq FROM incident_rooms WHERE room_id = $1", uuid.UUID(room_id))
    finally:
        await conn.close()
    stored: dict[str, list[tuple[str, int]]] = {}
    for row in rows:
        stored.setdefault(row["client_id"], []).append((row["message_id"], int(row["sequence_number"])))
    acked = {a.client_id: a for c in clients for a in c.acked()}
    sent = {a.client_id for c in clients for a in c.sent}
    lost = [cid for cid in acked if cid not in stored]
    duplicated = [cid for cid, found in stored.items() if len(found) > 1]
    mismatched = [
        cid
        for cid, a in acked.items()
        if cid in stored and stored[cid][0] != (a.message_id, a.sequence_number)
    ]
    # Stored but never acked: only possible for the checker's own ids if a send was abandoned.
    unacked_stored = [cid for cid in stored if cid in sent and cid not in acked]
    return StoreReport(len(acked), len(rows), lost, duplicated, mismatched, unacked_stored, int(last))


async def run_traffic(
    clients: Sequence[CheckerClient], duration: float, interval: float
) -> None:
    """Every client sends for `duration` seconds; the first failure fails the whole run."""
    async with asyncio.TaskGroup() as group:
        for client in clients:
            group.create_task(client.send_for(duration, interval))
