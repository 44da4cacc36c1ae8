"""A socket's outgoing queue on the direct path: runs of frames, skipping, bounds, one write."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

from api.domain.auth.sessions import AuthUser
from api.ws.connection import Connection, Direct, Flusher
from api.ws.protocol import Gate, text_frame

USER = AuthUser("u1", "User One", False, b"", datetime.now(UTC) + timedelta(hours=1))


class _Peer:
    """Stands in for the protocol's direct extension: records what would reach the socket."""

    def __init__(self) -> None:
        self.writes: list[bytes] = []
        self.gate = Gate()

    def write(self, data: bytes) -> None:
        self.writes.append(data)


async def _noop_send(message: dict[str, Any]) -> None:
    return None


def _open_conn(peer: _Peer, flusher: Flusher, max_queue: int = 100) -> Connection:
    conn = Connection(_noop_send, USER, "room", "EDITOR", max_queue, Direct(peer.write, peer.gate), flusher)
    conn.open(b'{"type":"connected"}')
    conn.syncing = False
    return conn


async def _turn() -> None:
    """Let the flusher's end-of-turn callback run."""
    await asyncio.sleep(0)


async def test_a_run_and_single_frames_leave_in_one_write_in_order() -> None:
    peer, flusher = _Peer(), Flusher()
    conn = _open_conn(peer, flusher)
    frames = [b'{"n":%d}' % i for i in range(1, 4)]
    conn.push_run(1, frames, [text_frame(f) for f in frames])
    conn.push(b'{"type":"ack"}')
    await _turn()
    assert peer.writes == [
        b"".join(text_frame(f) for f in [b'{"type":"connected"}', *frames, b'{"type":"ack"}'])
    ]
    assert conn.last_seq_sent == 3


async def test_a_run_overlapping_what_was_sent_only_adds_the_new_numbers() -> None:
    peer, flusher = _Peer(), Flusher()
    conn = _open_conn(peer, flusher)
    conn.last_seq_sent = 5
    frames = [b'{"n":%d}' % i for i in range(4, 8)]
    conn.push_run(4, frames, [text_frame(f) for f in frames])
    conn.push_run(2, frames[:2], [text_frame(f) for f in frames[:2]])  # all old: nothing
    await _turn()
    assert peer.writes == [b"".join(text_frame(f) for f in [b'{"type":"connected"}', b'{"n":6}', b'{"n":7}'])]
    assert conn.last_seq_sent == 7


async def test_a_run_past_the_queue_bound_closes_with_1013() -> None:
    peer, flusher = _Peer(), Flusher()
    conn = _open_conn(peer, flusher, max_queue=3)
    frames = [b'{"n":%d}' % i for i in range(1, 4)]
    conn.push_run(1, frames, [text_frame(f) for f in frames])  # 1 queued + 3 > 3
    assert conn.closed and conn.close_code == 1013
    await _turn()
    assert peer.writes == []


async def test_a_run_while_syncing_waits_in_the_sync_buffer() -> None:
    peer, flusher = _Peer(), Flusher()
    conn = _open_conn(peer, flusher)
    conn.syncing = True
    frames = [b'{"n":1}', b'{"n":2}']
    conn.push_run(1, frames, [text_frame(f) for f in frames])
    assert [(seq, frame) for seq, frame, _wire in conn.sync_buffer] == [(1, frames[0]), (2, frames[1])]


async def test_frames_wait_while_the_transport_is_paused_and_leave_when_it_resumes() -> None:
    peer, flusher = _Peer(), Flusher()
    conn = _open_conn(peer, flusher)
    await _turn()
    peer.writes.clear()
    peer.gate.clear()
    conn.push(b'{"n":1}')
    await _turn()
    assert peer.writes == [] and len(conn.queue) == 1
    peer.gate.set()
    async with asyncio.timeout(5):
        await conn.flush()
    assert peer.writes == [text_frame(b'{"n":1}')]
