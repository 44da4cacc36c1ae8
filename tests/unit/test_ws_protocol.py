"""The lean uvicorn WebSocket protocol's parts: frame encoding, inbox and writable gate."""

from __future__ import annotations

import asyncio

import pytest
from websockets.frames import Frame, Opcode
from websockets.protocol import Protocol, Side, State

from api.ws.protocol import Gate, _Inbox, text_frame


def _parse(data: bytes) -> list[Frame]:
    """Frames as a websockets client reads them (it rejects any framing error)."""
    client = Protocol(Side.CLIENT, state=State.OPEN, max_size=None)
    client.receive_data(data)
    assert client.parser_exc is None
    return [e for e in client.events_received() if isinstance(e, Frame)]


@pytest.mark.parametrize("length", [0, 1, 125, 126, 127, 65535, 65536, 70000])
def test_text_frame_is_read_back_by_websockets_at_every_length_boundary(length: int) -> None:
    payload = ("é" * length).encode()[:length]
    payload = payload.decode("utf-8", "ignore").encode()  # whole characters only
    frames = _parse(text_frame(payload))
    assert len(frames) == 1
    assert frames[0].opcode is Opcode.TEXT
    assert frames[0].fin
    assert bytes(frames[0].data) == payload


def test_concatenated_frames_keep_their_order_and_bounds() -> None:
    payloads = [b'{"n":%d}' % i for i in range(50)] + [b"x" * 300]
    joined = b"".join(text_frame(p) for p in payloads)
    assert [bytes(f.data) for f in _parse(joined)] == payloads


async def test_inbox_hands_items_in_order_and_wakes_a_waiting_reader() -> None:
    inbox = _Inbox()
    inbox.put_nowait(1)
    inbox.put_nowait(2)
    assert not inbox.empty()
    assert [await inbox.get(), await inbox.get()] == [1, 2]
    assert inbox.empty()
    reader = asyncio.create_task(inbox.get())
    await asyncio.sleep(0)  # the reader is now waiting on its future
    assert not reader.done()
    inbox.put_nowait(3)
    async with asyncio.timeout(5):
        assert await reader == 3


async def test_gate_blocks_while_closed_and_releases_every_waiter() -> None:
    gate = Gate()
    assert gate.is_set()
    assert await gate.wait()
    gate.clear()
    waiters = [asyncio.create_task(gate.wait()) for _ in range(3)]
    await asyncio.sleep(0)
    assert not any(w.done() for w in waiters)
    gate.set()
    async with asyncio.timeout(5):
        assert await asyncio.gather(*waiters) == [True, True, True]


async def test_a_cancelled_gate_waiter_is_forgotten() -> None:
    gate = Gate()
    gate.clear()
    waiter = asyncio.create_task(gate.wait())
    await asyncio.sleep(0)
    waiter.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiter
    gate.set()
    assert gate.is_set()
