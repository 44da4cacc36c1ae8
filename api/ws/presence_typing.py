"""Presence and typing for this process's room sockets: ephemeral, Redis only.

Presence: a change (someone's first or last socket in the room, on any process, or the
heartbeat) schedules one debounced read of the room's online set; a `presence` frame goes
out only when the set differs from the last one sent. Typing: a `typing` frame starts a
timer per typist; it expires into `is_typing: false` after TYPING_TIMEOUT, and the typist's
message clears it at once (CONTRACT §3).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable

import msgspec

from api.domain.events import Presence as PresenceFrame
from api.domain.events import Typing, encode
from api.domain.presence import Presence
from api.ws.room_stream import RoomState

log = logging.getLogger(__name__)

PRESENCE_DEBOUNCE = 0.02

_dec = msgspec.json.Decoder()


class PresenceAndTyping:
    """Presence frames and typing timers of the rooms this process serves."""

    def __init__(self, presence: Presence, typing_timeout: float) -> None:
        self.presence = presence
        self.typing_timeout = typing_timeout

    # ------------------------------------------------------------------ presence

    def schedule_presence(self, room: RoomState) -> None:
        if room.presence_task is None or room.presence_task.done():
            room.presence_task = asyncio.create_task(self._send_presence(room))
        else:
            # The running task may already have read the old set: it must read once more.
            room.presence_again = True

    async def _send_presence(self, room: RoomState) -> None:
        while True:
            room.presence_again = False
            await asyncio.sleep(PRESENCE_DEBOUNCE)
            try:
                online = await self.presence.online(room.room_id)
            except Exception:
                # Redis is unreachable: the next change or heartbeat reads again.
                log.warning("presence read failed for a room; retried at the next heartbeat")
                return
            if online != room.last_online:
                room.last_online = online
                frame = encode(PresenceFrame(online=online))
                for conn in room.conns:
                    conn.push(frame)
            if not room.presence_again:
                return

    @staticmethod
    def note_online(room: RoomState | None, online: list[dict[str, str]]) -> None:
        """The set a new socket's `connected` frame showed: the baseline for later changes."""
        if room is not None and room.last_online is None:
            room.last_online = online

    async def heartbeat(self, rooms: Iterable[RoomState]) -> None:
        """Refresh this process's presence entries and re-check each room's set."""
        active = [r for r in rooms if r.conns]
        await self.presence.heartbeat(r.room_id for r in active)
        for room in active:
            self.schedule_presence(room)

    # ------------------------------------------------------------------ typing

    def on_typing(self, room: RoomState, user_id: str, on: bool, frame: bytes) -> None:
        timer = room.typing.pop(user_id, None)
        if timer is not None:
            timer.cancel()
        if on:
            loop = asyncio.get_running_loop()
            room.typing[user_id] = loop.call_later(self.typing_timeout, self._expired, room, user_id, frame)
        self._to_others(room, user_id, frame)

    def _expired(self, room: RoomState, user_id: str, frame: bytes) -> None:
        room.typing.pop(user_id, None)
        payload = _dec.decode(frame)
        payload["is_typing"] = False
        self._to_others(room, user_id, encode(payload))

    def clear_on_message(self, room: RoomState, frame: bytes) -> None:
        """A typist's message arrived: their indicator goes off now, before the message."""
        try:
            payload = _dec.decode(frame)
        except msgspec.DecodeError:
            return
        sender = payload.get("sender_id") if payload.get("type") == "message" else None
        if sender and sender in room.typing:
            room.typing.pop(sender).cancel()
            name = payload.get("sender_display_name", sender)
            off = encode(Typing(user_id=sender, display_name=name, is_typing=False))
            self._to_others(room, sender, off)

    @staticmethod
    def _to_others(room: RoomState, user_id: str, frame: bytes) -> None:
        for conn in room.conns:
            if conn.user_id != user_id:
                conn.push(frame)
