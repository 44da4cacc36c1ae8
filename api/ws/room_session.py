"""One room socket's protocol state machine: opening and closing it, and each client frame.

`api.ws.gateway` admits the socket (sign-in, room access) and hands it here: `open` counts it
online and sends `connected`, then resumes; `on_event` handles each client frame and learns
of the end (the server's pump calls it for a parked socket, `receive_loop` elsewhere); `close`
does the presence bookkeeping.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections import deque
from collections.abc import Mapping
from typing import Any, cast

from litestar import WebSocket

from api.domain.auth.sessions import AuthUser
from api.domain.core import metrics
from api.domain.core.errors import DomainError, Forbidden, Invalid, RateLimited
from api.domain.core.timefmt import parse_iso
from api.domain.events import Ack, Message, presence_event_frame, room_connected_frame, typing_frame
from api.domain.messages import changes as messages_ops
from api.domain.messages.send import SendRequest
from api.domain.messages.validate import check_draft
from api.domain.push import urgent
from api.ws.admission import CONTRACT_ERROR_CODES, client_frame, error_frame, pong_frame
from api.ws.connection import Connection
from api.ws.hub import Hub
from api.ws.resume import Known

log = logging.getLogger(__name__)

MAX_IN_FLIGHT = 256
# Repeated `typing` frames closer than this are one moment for the auto-clear timers (keystroke
# rate); any later one restarts them, so the indicator clears TYPING_TIMEOUT after the last.
TYPING_MIN_GAP = 0.1
CLIENT_TYPES = frozenset(
    {
        "message",
        "edit_message",
        "delete_message",
        "add_reaction",
        "remove_reaction",
        "typing",
        "sync",
        "focus",
        "ping",
        "ack_urgent",
    }
)


class RoomSession:
    """The per-socket protocol state machine."""

    __slots__ = (
        "closing",
        "conn",
        "hub",
        "in_flight",
        "peer_close_code",
        "presence_counted",
        "settings",
        "typing_after",
        "typing_sent",
        "user",
    )

    def __init__(self, hub: Hub, conn: Connection, user: AuthUser) -> None:
        self.hub = hub
        self.conn = conn
        self.user = user
        self.settings = hub.settings
        self.in_flight: set[asyncio.Future[Any]] = set()
        self.typing_sent: tuple[bool, float] = (False, 0.0)
        # The sequence number of this socket's last stored message: later typing frames are
        # delivered after it, so that message's clearing of the indicator cannot hide them.
        self.typing_after = 0
        self.presence_counted = False
        self.peer_close_code: int | None = None
        # Set once the socket is to close (rate limit): what was answered goes out first.
        self.closing: asyncio.Task[None] | None = None

    async def open(self, attached_at: int, since: int | None, known: Known | None = None) -> None:
        async with self.hub.setup_slots:
            await self._announce_open(attached_at)
        await self.hub.resume(self.conn, since, None, attached_at, known)

    async def _announce_open(self, attached_at: int) -> None:
        """Count the socket online, send `connected`, and tell the room of a first connection."""
        hub, conn, user = self.hub, self.conn, self.user
        count = await hub.presence.add(conn.room_id, user.user_id, user.display_name)
        self.presence_counted = True
        online = await hub.connected_online(conn.room_id, user.user_id, user.display_name)
        conn.open(
            room_connected_frame(
                room_id=conn.room_id,
                user_id=user.user_id,
                role=conn.role,
                last_sequence_number=attached_at,
                online=online,
            )
        )
        if count == 1:
            # In a large room the `presence` count says it (docs/big-rooms.md): a join frame to
            # thousands of members per join would cost O(members²); processes still re-read.
            large = hub.room_is_large(conn.room_id)
            frame = b"" if large else self._presence_event("user_joined")
            await hub.services.bus.publish_ephemeral(
                conn.room_id, frame, exclude_user=user.user_id, control={"presence": 1}
            )

    def _presence_event(self, event: str) -> bytes:
        user = self.user
        return presence_event_frame(event, user_id=user.user_id, display_name=user.display_name)

    async def close(self) -> None:
        self.hub.detach(self.conn)
        # Bounded like opening: thousands of sockets closing at once (a network drop) would
        # otherwise each take a Redis connection and grow the pool to its maximum.
        async with self.hub.setup_slots:
            await self._announce_close()

    async def _announce_close(self) -> None:
        hub, conn, user = self.hub, self.conn, self.user
        try:
            if conn.focused:
                await hub.presence.set_focus(conn.room_id, user.user_id, -1)
        except Exception:
            # The focus entry expires with this process's presence TTL; pushes resume then.
            log.warning("could not clear focus on close; it expires with the presence TTL")
        if self.presence_counted:
            try:
                left = await hub.presence.remove(conn.room_id, user.user_id)
                if left == 0:
                    large = hub.room_is_large(conn.room_id)
                    frame = b"" if large else self._presence_event("user_left")
                    await hub.services.bus.publish_ephemeral(conn.room_id, frame, control={"presence": 1})
                if self.typing_sent[0]:
                    await self._publish_typing(False)
            except Exception as exc:
                # Redis is unreachable: this process's presence entries expire within the TTL,
                # and the other members' typing timers clear the indicator.
                log.warning("presence cleanup on close failed: %s", type(exc).__name__)

    async def receive_loop(self, socket: WebSocket[Any, Any, Any]) -> None:
        """Read client frames until the session is over (servers that cannot park a socket)."""
        conn = self.conn
        # After a failed send the peer is gone: read on until its disconnect event arrives
        # (uvicorn queues it), only to learn the close code; frames after that are not handled.
        while not conn.closed or conn.writer_failed:
            if await self.on_event(await socket.receive()):
                return

    async def on_event(self, event: Mapping[str, Any]) -> bool:
        """Handle one ASGI event of this socket; True once the session is over.

        Over: the disconnect came (its code noted), or the socket was closed from this side
        (and not because a send failed: then only the disconnect, with the peer's code, ends
        it). Called by `receive_loop`, or for a parked socket by the server's pump
        (`api.ws.protocol`), one event at a time in arrival order.
        """
        conn = self.conn
        kind = event["type"]
        if kind == "websocket.disconnect":
            self.peer_close_code = cast("int | None", event.get("code"))
            return True
        if kind == "websocket.receive" and not conn.closed and self.closing is None:
            frame = client_frame(conn, event)
            if frame is not None:
                await self._handle_frame(frame)
        return conn.closed and not conn.writer_failed

    async def _handle_frame(self, frame: dict[str, Any]) -> None:
        conn = self.conn
        try:
            await self.handle(frame)
        except DomainError as err:
            if err.code not in CONTRACT_ERROR_CODES:
                # e.g. the pool timed out: no contract code fits; the client resumes and resends.
                log.warning("frame failed: %s", err.code)
                conn.close(1011, "server busy; resume and resend")
                return
            conn.push(
                error_frame(
                    err.code,
                    err.message,
                    client_id=frame.get("client_id") if isinstance(frame.get("client_id"), str) else None,
                    message_id=frame.get("message_id") if isinstance(frame.get("message_id"), str) else None,
                )
            )
        except Exception:
            log.exception("frame handling failed")
            conn.close(1011, "server error; resume and resend")

    async def handle(self, frame: dict[str, Any]) -> None:
        kind = frame.get("type")
        if not isinstance(kind, str) or kind not in CLIENT_TYPES:
            raise Invalid("unknown frame type")
        if kind == "message":
            await self.on_message(frame)
        elif kind == "typing":
            await self.on_typing(frame)
        elif kind == "sync":
            await self.on_sync(frame)
        elif kind == "focus":
            await self.on_focus(frame)
        elif kind == "ping":
            self.conn.push(pong_frame(frame))
        elif kind == "edit_message":
            await messages_ops.do_edit_message(
                self.hub.services, self.user, self.conn.room_id, frame.get("message_id"), frame.get("content")
            )
        elif kind == "ack_urgent":
            await urgent.do_acknowledge(
                self.hub.services, self.user, frame.get("message_id"), room_id=self.conn.room_id
            )
        elif kind == "delete_message":
            await messages_ops.do_delete_message(
                self.hub.services, self.user, self.conn.room_id, frame.get("message_id")
            )
        else:
            await messages_ops.do_react(
                self.hub.services,
                self.user,
                self.conn.room_id,
                frame.get("message_id"),
                frame.get("emoji"),
                add=kind == "add_reaction",
            )

    # ---------------------------------------------------------------- message

    def _refused(self) -> None:
        now = time.monotonic()
        refusals = self.conn.refusals
        if refusals is None:
            refusals = self.conn.refusals = deque()
        refusals.append(now)
        while refusals and now - refusals[0] > 10.0:
            refusals.popleft()
        if len(refusals) > 5 * self.settings.rate_limit_per_second and self.closing is None:
            self.closing = asyncio.create_task(self._close_after_answers(1008, "rate limit exceeded"))

    async def _close_after_answers(self, code: int, reason: str) -> None:
        """Close once the sends already taken are answered and every queued frame has gone out.

        Frames arriving meanwhile are not handled. Every wait is bounded.
        """
        if self.in_flight:
            await asyncio.wait(list(self.in_flight), timeout=5.0)
        await self.conn.close_after_flush(code, reason)

    async def on_message(self, frame: dict[str, Any]) -> None:
        received_at = time.perf_counter()
        conn = self.conn
        # The role is checked once, by the writer against the database (`messages_send._authorise`).
        draft = check_draft(frame)
        if not self.hub.rate_limiter.allow(self.user.user_id, conn.room_id):
            self._refused()
            raise RateLimited("too many messages; slow down")
        while len(self.in_flight) >= MAX_IN_FLIGHT:
            await asyncio.wait(self.in_flight, return_when=asyncio.FIRST_COMPLETED, timeout=30)
        request = SendRequest(room_id=uuid.UUID(conn.room_id), sender=self.user, draft=draft, origin=conn)
        task = self.hub.writer.submit(request)
        self.in_flight.add(task)
        client_id = draft.client_id

        def done(t: asyncio.Future[Any]) -> None:
            self.in_flight.discard(t)
            if t.cancelled():
                return
            err = t.exception()
            if err is None:
                # The announcer queued the ack just before this future resolved.
                metrics.ACK_LATENCY.observe(time.perf_counter() - received_at)
                self._message_stored(t.result())
                return
            if isinstance(err, DomainError) and err.code in CONTRACT_ERROR_CODES:
                conn.push(error_frame(err.code, err.message, client_id=client_id))
                if isinstance(err, RateLimited):  # the shared limit (other processes' sends counted)
                    self._refused()
            else:
                # Not stored (database busy or failing). No contract error code fits: close so
                # the client resumes with `since` and resends with the same client_id (deduped).
                conn.close(1011, "message not stored; resume and resend")

        task.add_done_callback(done)

    # ---------------------------------------------------------------- typing / focus / sync

    def _message_stored(self, result: Message | Ack) -> None:
        """Delivering the message clears its sender's indicator (`clear_on_message`)."""
        if isinstance(result, Message):
            self.typing_sent = (False, 0.0)
            self.typing_after = max(self.typing_after, result.sequence_number)

    async def _publish_typing(self, on: bool) -> None:
        frame = typing_frame(self.user.user_id, display_name=self.user.display_name, is_typing=on)
        self.typing_sent = (on, time.monotonic())
        await self.hub.services.bus.publish_ephemeral(
            self.conn.room_id,
            frame,
            after_seq=self.typing_after,
            exclude_user=self.user.user_id,
            control={"typing": self.user.user_id, "on": on},
        )

    async def on_typing(self, frame: dict[str, Any]) -> None:
        if self.conn.role not in ("OWNER", "EDITOR"):
            raise Forbidden("only OWNER and EDITOR members may type")
        value = frame.get("is_typing", True)
        if not isinstance(value, bool):
            raise Invalid("is_typing must be a boolean")
        if self.in_flight:
            # Typing again right after sending: the message, once delivered, clears the indicator;
            # this frame must come after it or the new indicator would be lost.
            await asyncio.wait(list(self.in_flight), timeout=5.0)
        last_on, last_at = self.typing_sent
        # Every frame restarts the auto-clear timers (each process's hub de-duplicates what it
        # forwards); only keystroke-rate repeats are not published again.
        if value and last_on and time.monotonic() - last_at < TYPING_MIN_GAP:
            return
        if not value and not last_on:
            return
        await self._publish_typing(value)

    async def on_focus(self, frame: dict[str, Any]) -> None:
        focused = frame.get("focused")
        if not isinstance(focused, bool):
            raise Invalid("focused must be a boolean")
        if focused != self.conn.focused:
            self.conn.focused = focused
            await self.hub.presence.set_focus(self.conn.room_id, self.user.user_id, 1 if focused else -1)

    async def on_sync(self, frame: dict[str, Any]) -> None:
        since = frame.get("since")
        if isinstance(since, bool) or not isinstance(since, int) or since < 0:
            raise Invalid("since must be a non-negative integer")
        since_time = None
        raw_time = frame.get("since_time")
        if raw_time is not None:
            if not isinstance(raw_time, str):
                raise Invalid("since_time must be an ISO 8601 timestamp")
            try:
                since_time = parse_iso(raw_time)
            except ValueError as exc:
                raise Invalid("since_time must be an ISO 8601 timestamp") from exc
        self.hub.begin_sync(self.conn)
        await self.hub.resume(self.conn, since, since_time, self.conn.last_seq_sent)
