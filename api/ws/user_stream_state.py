"""What a user stream knows of each of its rooms, and how a run of messages changes it.

`Watch` is one stream's view of one room (its counts, preview, role); `RoomRun` is what the
room's messages of one flush add to every watching stream's counts, computed once per room.
"""

from __future__ import annotations

import time
from typing import Any

import msgspec

from api.domain.auth.sessions import AuthUser
from api.domain.events import RoomEntry, encode, room_activity_frame
from api.domain.rooms.summaries import preview_of
from api.ws.connection import Connection


class Watch:
    """One user stream's view of one room."""

    __slots__ = (
        "attached_at",
        "counting",
        "created_at",
        "description",
        "gen",
        "last_at",
        "mentions",
        "preview",
        "preview_seq",
        "role",
        "room_id",
        "seq",
        "stale",
        "status",
        "stream",
        "title",
        "unread",
    )

    def __init__(self, stream: UserStream, room_id: str, seq: int) -> None:
        self.stream = stream
        self.room_id = room_id
        self.role = ""
        self.title = ""
        self.description = ""
        self.created_at: str | None = None
        self.status = ""
        # The room stream's position this view has reached.
        self.seq = seq
        self.unread = 0
        self.mentions = 0
        self.preview: msgspec.Raw | None = None
        self.preview_seq = 0
        self.last_at: str | None = None
        # While a read from PostgreSQL is under way, `unread`/`mentions` count only what the
        # room stream delivered after the read's bound; the read's result is added on arrival.
        self.counting = True
        self.gen = 0
        self.attached_at = time.monotonic()
        # The counts may be wrong (a re-read failed): the periodic check reads them again.
        self.stale = False

    def entry(self) -> RoomEntry:
        return RoomEntry(
            room_id=self.room_id,
            title=self.title,
            description=self.description,
            status=self.status,
            created_at=self.created_at,
            role=self.role,
            last_sequence_number=self.seq,
            unread_count=self.unread,
            unread_mentions=self.mentions,
            last_message_at=self.last_at,
            preview=self.preview,
        )

    def activity(self) -> bytes:
        return room_activity_frame(
            self.room_id,
            self.seq,
            unread_count=self.unread,
            unread_mentions=self.mentions,
            last_message_at=self.last_at,
            preview=self.preview,
        )

    def begin_count(self, seq: int) -> int:
        """Start a re-read bounded at `seq`; returns its generation (a newer one supersedes it)."""
        self.gen += 1
        self.counting = True
        self.unread = 0
        self.mentions = 0
        self.seq = max(self.seq, seq)
        return self.gen


class UserStream:
    """One `/ws` socket: its user and its rooms."""

    __slots__ = ("conn", "ready", "user", "watches")

    def __init__(self, conn: Connection, user: AuthUser) -> None:
        self.conn = conn
        self.user = user
        self.watches: dict[str, Watch] = {}
        # Set once the `connected` frame is queued; nothing else is sent before it.
        self.ready = False

    def send(self, frame: bytes) -> None:
        """Queue a frame (built by `api.domain.events`) once ready."""
        if self.ready:
            self.conn.push(frame)


class RoomRun:
    """What one room's messages of one flush add to its members' counts."""

    __slots__ = ("count", "last", "last_at", "last_seq", "mentioned", "own")

    def __init__(self) -> None:
        self.count = 0
        self.own: dict[str, int] = {}
        self.mentioned: dict[str, int] = {}
        self.last: msgspec.Raw | None = None
        self.last_seq = 0
        self.last_at: str | None = None

    def add(self, frame: dict[str, Any]) -> None:
        self.count += 1
        seq = int(frame["sequence_number"])
        if frame.get("type") != "system":
            sender = frame["sender_id"]
            self.own[sender] = self.own.get(sender, 0) + 1
            for user_id in frame.get("mentions") or ():
                if user_id != sender:
                    self.mentioned[user_id] = self.mentioned.get(user_id, 0) + 1
            self.last_at = frame.get("created_at")
        self.last = msgspec.Raw(encode(preview_of(frame)))
        self.last_seq = seq

    def apply(self, watch: Watch) -> None:
        user_id = watch.stream.user.user_id
        watch.unread += self.count - self.own.get(user_id, 0)
        watch.mentions += self.mentioned.get(user_id, 0)
        if self.last_seq > watch.preview_seq:
            watch.preview = self.last
            watch.preview_seq = self.last_seq
        if self.last_at is not None:
            watch.last_at = self.last_at
        watch.seq = max(watch.seq, self.last_seq)
