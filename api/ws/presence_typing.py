"""Presence and typing for this process's room sockets: ephemeral, Redis only.

Presence: a change (someone's first or last socket in the room, on any process, or the
heartbeat) schedules one debounced read of the room's online set; a `presence` frame goes
out only when the set differs from the last one sent. Typing: each `typing` frame (re)starts a
timer per typist; it expires into `is_typing: false` TYPING_TIMEOUT after the last one, and the
typist's message clears it at once (CONTRACT §3).

Large rooms (more than `presence_list_max` online; docs/big-rooms.md): a full `online` list to
every member on every change would cost O(members²) bytes, so `presence` and `connected` carry a
sample (the room's recent speakers first, then by user id) with `online_count` and
`truncated: true`; the set is read at most every `presence_large_interval` seconds, and
`user_joined` / `user_left` are not broadcast.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Iterable
from typing import Any

import msgspec

from api.domain.events import presence_frame, typing_frame
from api.domain.presence import Presence
from api.ws.room_stream import RoomState

log = logging.getLogger(__name__)

PRESENCE_DEBOUNCE = 0.02
# Every this many heartbeats, every room's online set is read again (the others read only the
# rooms where a crashed process's entries expired).
FULL_RECHECK_BEATS = 6

_dec = msgspec.json.Decoder()


class PresenceAndTyping:
    """Presence frames and typing timers of the rooms this process serves."""

    def __init__(
        self, presence: Presence, typing_timeout: float, list_max: int = 100, large_interval: float = 1.0
    ) -> None:
        self.presence = presence
        self.typing_timeout = typing_timeout
        self.list_max = list_max
        self.large_interval = large_interval
        self._beats = 0

    # ------------------------------------------------------------------ large rooms

    def is_large(self, room: RoomState | None) -> bool:
        return room is not None and room.online_count > self.list_max

    def _sample(self, room: RoomState, online: list[dict[str, str]]) -> list[dict[str, str]]:
        """At most `list_max` of `online`: the most recent speakers first, then by user id."""
        by_id = {u["user_id"]: u for u in online}
        picked: list[dict[str, str]] = []
        for uid in reversed(room.speakers):
            entry = by_id.get(uid)
            if entry is not None:
                picked.append(entry)
                if len(picked) == self.list_max:
                    return picked
        chosen = {u["user_id"] for u in picked}
        for entry in online:  # sorted by user id
            if entry["user_id"] not in chosen:
                picked.append(entry)
                if len(picked) == self.list_max:
                    break
        return picked

    def _read(self, room: RoomState, online: list[dict[str, str]]) -> None:
        room.recent_online = online
        room.online_count = len(online)
        room.online_read_at = time.monotonic()
        room.speakers_tracked = room.online_count > self.list_max

    def _shape(self, room: RoomState, online: list[dict[str, str]]) -> dict[str, Any]:
        """The `online` fields of a frame for this room's current size."""
        if len(online) <= self.list_max:
            return {"online": online}
        return {"online": self._sample(room, online), "online_count": len(online), "truncated": True}

    async def connected_view(self, room: RoomState | None, room_id: str, user: dict[str, str]) -> dict[str, Any]:
        """The `online` fields of a new socket's `connected` frame (which must list its user).

        A large room's recent read is reused, with the user put first, rather than reading a set
        of thousands per connection.
        """
        if (
            room is not None
            and self.is_large(room)
            and time.monotonic() - room.online_read_at < self.large_interval
        ):
            sample = [user] + [u for u in self._sample(room, room.recent_online) if u["user_id"] != user["user_id"]]
            return {"online": sample[: self.list_max], "online_count": room.online_count, "truncated": True}
        online = await self.presence.online(room_id)
        if room is None:
            return {"online": online}
        self._read(room, online)
        if room.last_online is None:
            room.last_online = online
        shaped = self._shape(room, online)
        if shaped.get("truncated"):
            others = [u for u in shaped["online"] if u["user_id"] != user["user_id"]]
            shaped["online"] = [user, *others][: self.list_max]
        return shaped

    def note_speaker(self, room: RoomState, sender: str) -> None:
        speakers = room.speakers
        speakers.pop(sender, None)
        speakers[sender] = None
        if len(speakers) > 4 * self.list_max:
            del speakers[next(iter(speakers))]

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
            # A large room's changes are gathered for longer: one frame per interval at most.
            await asyncio.sleep(self.large_interval if self.is_large(room) else PRESENCE_DEBOUNCE)
            try:
                version, online = await self.presence.online_versioned(room.room_id)
            except Exception:
                # Redis is unreachable: the next change or heartbeat reads again.
                log.warning("presence read failed for a room; retried at the next heartbeat")
                return
            before = self._shape(room, room.last_online) if room.last_online is not None else None
            self._read(room, online)
            room.last_online = online
            room.presence_version = version
            shaped = self._shape(room, online)
            if shaped != before:
                frame = presence_frame(shaped)
                for conn in room.conns:
                    conn.push(frame)
            if not room.presence_again:
                return

    async def heartbeat(self, rooms: Iterable[RoomState]) -> None:
        """Refresh this process's presence entries and re-read the rooms whose set may have changed
        unannounced.

        Joins and leaves are announced; what is not is a crashed process's entries expiring, so
        each heartbeat (one script call per room, in one pipeline) also says which rooms list an
        expired process, and only those are read. Every FULL_RECHECK_BEATS-th heartbeat also
        returns every room's presence version, and the rooms whose version moved since this
        process last read them are re-read: an announcement lost on pub/sub is caught there.
        (Reading every room every beat was most of an idle process's CPU at 10,000 sockets, and
        reading every room every sixth beat a fifth of it at 19,000: docs/benchmarks.md.)
        """
        active = [r for r in rooms if r.conns]
        self._beats += 1
        full = not self._beats % FULL_RECHECK_BEATS
        stale, versions = await self.presence.beat((r.room_id for r in active), with_versions=full)
        if full:
            stale |= {r.room_id for r in active if r.presence_version != versions.get(r.room_id)}
        for room in active:
            if room.room_id in stale:
                self.schedule_presence(room)

    # ------------------------------------------------------------------ typing

    def on_typing(self, room: RoomState, user_id: str, on: bool, frame: bytes) -> None:
        """Every `typing` restarts the typist's auto-clear timer (the indicator goes off
        TYPING_TIMEOUT after the last one, CONTRACT §3); members get a change at once and a
        repeat at most every `typing_timeout / 6`, which keeps their own fallback expiry fresh."""
        entry = room.typing.pop(user_id, None)
        if entry is not None:
            entry[0].cancel()
        now = time.monotonic()
        if on:
            loop = asyncio.get_running_loop()
            forwarded = entry[1] if entry is not None else None
            if forwarded is None or now - forwarded >= self.typing_timeout / 6:
                forwarded = now
                self._to_others(room, user_id, frame)
            timer = loop.call_later(self.typing_timeout, self._expired, room, user_id, frame)
            room.typing[user_id] = (timer, forwarded)
        elif entry is not None:
            self._to_others(room, user_id, frame)

    def _expired(self, room: RoomState, user_id: str, frame: bytes) -> None:
        room.typing.pop(user_id, None)
        name = _dec.decode(frame).get("display_name", user_id)
        self._to_others(room, user_id, typing_frame(user_id, display_name=name, is_typing=False))

    def clear_on_message(self, room: RoomState, frame: bytes) -> None:
        """A typist's message arrived: their indicator goes off now, before the message.

        In a large room the sender is also noted as a recent speaker (shown first in `online`).
        """
        try:
            payload = _dec.decode(frame)
        except msgspec.DecodeError:
            return
        sender = payload.get("sender_id") if payload.get("type") == "message" else None
        if sender and room.speakers_tracked:
            self.note_speaker(room, sender)
        if sender and sender in room.typing:
            room.typing.pop(sender)[0].cancel()
            name = payload.get("sender_display_name", sender)
            off = typing_frame(sender, display_name=name, is_typing=False)
            self._to_others(room, sender, off)

    @staticmethod
    def _to_others(room: RoomState, user_id: str, frame: bytes) -> None:
        for conn in room.conns:
            if conn.user_id != user_id:
                conn.push(frame)
