"""Both ways frames leave the server: the direct path (no compression) and the ASGI path that a
socket with permessage-deflate takes, on one server and one room, in one order."""

from __future__ import annotations

import asyncio
import json

import websockets

from tests.support.clients import Api, WsClient


async def test_compressed_and_plain_sockets_see_the_same_stream(
    api: Api, server_factory, database_url: str
) -> None:
    srv = server_factory(WS_COMPRESSION="true")
    local = Api(srv.base_url, database_url)
    try:
        owner = await local.user("owner")
        editor = await local.user("editor")
        room_id = await local.room_with(owner, (editor, "EDITOR"))
        url = f"{local.ws_base}/ws/{room_id}"
        compressed = WsClient(
            await websockets.connect(url, additional_headers=owner.headers, compression="deflate")
        )
        plain = WsClient(await websockets.connect(url, additional_headers=owner.headers, compression=None))
        for ws in (compressed, plain):
            ws.connected = await ws.next("connected")
        assert compressed.ws.protocol.extensions, "the server did not negotiate permessage-deflate"
        assert not plain.ws.protocol.extensions
        sender = await local.connect(editor, room_id)
        # Large enough that compression matters, many enough to come in batches.
        for i in range(40):
            await sender.send({"type": "message", "content": f"reading {i}: " + "pressure ok " * 50})
        streams = await asyncio.gather(compressed.sequenced(40, timeout=30), plain.sequenced(40, timeout=30))
        assert plain.connected is not None and compressed.connected is not None
        base = plain.connected["last_sequence_number"]
        assert compressed.connected["last_sequence_number"] == base
        for frames in streams:
            assert [f["sequence_number"] for f in frames] == list(range(base + 1, base + 41))
            assert frames[7]["content"].startswith("reading 7: ")
        assert [json.dumps(f, sort_keys=True) for f in streams[0]] == [
            json.dumps(f, sort_keys=True) for f in streams[1]
        ]
        for ws in (compressed, plain, sender):
            await ws.ws.close()
    finally:
        await local.aclose()
