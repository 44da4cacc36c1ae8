"""A connect storm into a big room (issue 19, docs/big-rooms.md): the presence frames it causes
must grow with the members, not with members² — no `user_joined` per join once the room is
large, and at most one `presence` per member per interval.

Sixty members open the room at once over two server processes (a list maximum of 4, so the
room is large after a handful of joins). Every frame each socket receives is counted until every
socket has seen the final count of 60.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections import Counter
from typing import Any

import websockets

from tests.support.clients import Api, User

MEMBERS = 60
LIST_MAX = 4
SLOTS = 4
INTERVAL = 0.5


class Counting:
    """One member's socket: reads every frame in the background, counting them by kind."""

    def __init__(self, ws: Any) -> None:
        self.ws = ws
        self.kinds: Counter[str] = Counter()
        self.last_count = 0
        self.reader = asyncio.create_task(self._read())

    @classmethod
    async def open(cls, base: str, user: User, room_id: str) -> Counting:
        ws = await websockets.connect(f"{base}/ws/{room_id}", additional_headers=user.headers, open_timeout=60)
        return cls(ws)

    async def _read(self) -> None:
        try:
            async for raw in self.ws:
                frame = json.loads(raw)
                kind = frame.get("type")
                if kind == "system" and frame.get("event") in ("user_joined", "user_left"):
                    kind = frame["event"]
                self.kinds[kind] += 1
                if kind in ("presence", "connected"):
                    self.last_count = frame.get("online_count", len(frame["online"]))
        except websockets.ConnectionClosed:
            return

    async def close(self) -> None:
        await self.ws.close()
        await asyncio.wait_for(self.reader, 10)


async def test_a_connect_storm_into_a_large_room_costs_frames_linear_in_members(
    server_factory, database_url: str
) -> None:
    settings = {
        "PRESENCE_LIST_MAX": str(LIST_MAX),
        "PRESENCE_LARGE_INTERVAL": str(INTERVAL),
        "WS_SETUP_CONCURRENCY": str(SLOTS),
    }
    servers = [server_factory(**settings), server_factory(**settings)]
    api = Api(servers[0].base_url, database_url)
    sockets: list[Counting] = []
    try:
        owner = await api.user("owner")
        crew = [await api.user(f"crew{i}") for i in range(MEMBERS - 1)]
        room_id = await api.room_with(owner, *((u, "EDITOR") for u in crew))
        members = [owner, *crew]
        started = time.monotonic()
        opened = await asyncio.wait_for(
            asyncio.gather(
                *(Counting.open(servers[i % 2].ws_url, u, room_id) for i, u in enumerate(members)),
                return_exceptions=True,
            ),
            90,
        )
        sockets = [o for o in opened if isinstance(o, Counting)]
        assert len(sockets) == MEMBERS, [o for o in opened if isinstance(o, BaseException)][:3]
        async with asyncio.timeout(60):
            while any(s.last_count != MEMBERS or not s.kinds["connected"] for s in sockets):
                await asyncio.sleep(0.05)  # polling the counters the readers keep
        storm = time.monotonic() - started

        joins = [s.kinds["user_joined"] for s in sockets]
        presence = [s.kinds["presence"] for s in sockets]
        # Joins are told per join only while a process still reads the room as small: at most the
        # list's maximum plus the sockets opening together on each of the two processes.
        small_phase = LIST_MAX + 2 * SLOTS
        assert max(joins) <= small_phase, joins
        assert sum(joins) <= small_phase * MEMBERS, sum(joins)
        # Presence: one frame per change while small, then at most one per interval (+1 for the
        # interval already running and +1 for the heartbeat's re-check).
        bound = small_phase + storm / INTERVAL + 2
        assert max(presence) <= bound, (presence, storm)
        # Linear, not quadratic: far fewer frames than one join per member per member.
        assert sum(joins) + sum(presence) < MEMBERS * MEMBERS / 2, (sum(joins), sum(presence))
    finally:
        await asyncio.gather(*(s.close() for s in sockets), return_exceptions=True)
        await api.aclose()
