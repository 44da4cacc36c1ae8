"""Fan-out through Redis pub/sub, after commit.

A room channel carries envelopes: one JSON header line, then the encoded frames, one per
line (encoded JSON never contains a raw newline). Sequenced envelopes hold consecutive
sequence numbers starting at `s`; receivers order them and fill gaps from PostgreSQL,
since pub/sub is at-most-once.

Room and user channels carry their id as a hash tag (`andon:room:{id}`): on a Redis Cluster
they are shard channels (SPUBLISH/SSUBSCRIBE, `api.domain.core.pubsub`), each on the shard that
also holds the room's keys; the control channel has no tag and reaches every node. Ephemeral envelopes (typing, presence, reactions, edits)
carry `a`, the sequence number they relate to, so a receiver never shows an edit before
the message it edits.
"""

from __future__ import annotations

from typing import Any

import msgspec
from redis.asyncio import Redis
from redis.asyncio.cluster import RedisCluster

from api.domain.core.pubsub import Channels, channels_for

_enc = msgspec.json.Encoder()
_dec = msgspec.json.Decoder()


class Sequenced(msgspec.Struct, frozen=True):
    """Stored frames of one room with consecutive sequence numbers from `first`."""

    room_id: str
    first: int
    frames: list[bytes]
    # Socket-level effect of the last frame (a removal, a role change), if any.
    control: dict[str, Any] | None
    # Commit time (wall clock) for the fan-out latency metric.
    committed_at: float | None

    @property
    def last(self) -> int:
        return self.first + len(self.frames) - 1


class Ephemeral(msgspec.Struct, frozen=True):
    """An unsequenced frame of one room, held back until `after` has been delivered."""

    room_id: str
    after: int
    frame: bytes
    exclude_user: str | None
    control: dict[str, Any]


class ForUser(msgspec.Struct, frozen=True):
    """Something for one user's sockets: a frame (`kind` "user") or a re-read cue ("read", "rooms")."""

    user_id: str
    kind: str
    room_id: str | None
    frame: bytes
    # For `rooms`: the sequence number of the membership's `member_added` event (0: none).
    seq: int = 0


class Control(msgspec.Struct, frozen=True):
    """Process-wide control: token hashes (hex) whose sockets must close."""

    revoked: list[str]


Envelope = Sequenced | Ephemeral | ForUser | Control


class Bus:
    """Publishes envelopes to room, user and control channels."""

    def __init__(self, redis: Redis | RedisCluster, prefix: str, channels: Channels | None = None) -> None:
        self.redis = redis
        self.prefix = prefix
        self.channels = channels if channels is not None else channels_for(redis)

    def room_channel(self, room_id: str) -> str:
        return f"{self.prefix}:room:{{{room_id}}}"

    def user_channel(self, user_id: str) -> str:
        return f"{self.prefix}:user:{{{user_id}}}"

    @property
    def control_channel(self) -> str:
        return f"{self.prefix}:control"

    def room_of(self, channel: str) -> str | None:
        """The room id of a room channel's name (None for any other channel)."""
        return _tagged(channel, f"{self.prefix}:room:")

    def decode(self, channel: str, data: bytes) -> Envelope | None:
        """What a message received on `channel` says (None for a channel that is not ours)."""
        if channel == self.control_channel:
            return Control(revoked=list(_dec.decode(data).get("revoked") or []))
        head, _, body = data.partition(b"\n")
        header: dict[str, Any] = _dec.decode(head)
        room_id = self.room_of(channel)
        if room_id is not None:
            if header.get("t") == "seq":
                return Sequenced(
                    room_id, int(header["s"]), body.split(b"\n"), header.get("c"), header.get("ts")
                )
            return Ephemeral(room_id, int(header.get("a", 0)), body, header.get("x"), header.get("c") or {})
        user_id = _tagged(channel, f"{self.prefix}:user:")
        if user_id is not None:
            return ForUser(user_id, str(header.get("t")), header.get("r"), body, int(header.get("s") or 0))
        return None

    @staticmethod
    def envelope(header: dict[str, Any], frames: list[bytes]) -> bytes:
        return _enc.encode(header) + b"\n" + b"\n".join(frames)

    async def publish_sequenced(
        self,
        room_id: str,
        first_seq: int,
        frames: list[bytes],
        control: dict[str, Any] | None = None,
        *,
        committed_at: float | None = None,
    ) -> None:
        """Publish frames with consecutive sequence numbers starting at `first_seq`.

        `committed_at` (wall-clock seconds) travels as `ts`, so receivers can measure fan-out latency.
        """
        header: dict[str, Any] = {"t": "seq", "s": first_seq}
        if control:
            header["c"] = control
        if committed_at is not None:
            header["ts"] = committed_at
        await self.channels.publish(self.room_channel(room_id), self.envelope(header, frames))

    async def publish_ephemeral(
        self,
        room_id: str,
        frame: bytes,
        *,
        after_seq: int = 0,
        exclude_user: str | None = None,
        control: dict[str, Any] | None = None,
    ) -> None:
        """Publish an unsequenced frame to the room (delivered once `after_seq` has been)."""
        header: dict[str, Any] = {"t": "eph", "a": after_seq}
        if exclude_user:
            header["x"] = exclude_user
        if control:
            header["c"] = control
        await self.channels.publish(self.room_channel(room_id), self.envelope(header, [frame]))

    async def publish_user(self, user_id: str, frame: bytes, *, room_id: str | None = None) -> None:
        """A frame for every open connection of one user, whatever room it is in.

        `room_id` names the room the frame is about: user streams pass it on only while the
        user is a member there.
        """
        header: dict[str, Any] = {"t": "user"}
        if room_id is not None:
            header["r"] = room_id
        await self.channels.publish(self.user_channel(user_id), self.envelope(header, [frame]))

    async def publish_user_event(self, user_id: str, kind: str, room_id: str, seq: int = 0) -> None:
        """Tell the user's streams that something of theirs changed in a room.

        `kind` is `read` (the read marker moved) or `rooms` (the user gained membership).
        The envelope carries no frame: each process re-reads what it needs.
        """
        header: dict[str, Any] = {"t": kind, "r": room_id}
        if seq:
            header["s"] = seq
        await self.channels.publish(self.user_channel(user_id), self.envelope(header, []))

    async def publish_control(self, control: dict[str, Any]) -> None:
        """Process-wide control (token revocation); every server process acts on it."""
        await self.channels.publish(self.control_channel, _enc.encode(control))


def _tagged(channel: str, head: str) -> str | None:
    """The id in `head{id}` (None when `channel` is not such a name)."""
    if channel.startswith(head) and channel.endswith("}") and channel[len(head) : len(head) + 1] == "{":
        return channel[len(head) + 1 : -1]
    return None
