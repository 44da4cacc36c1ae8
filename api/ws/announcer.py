"""After a batch of messages commits: acks, this process's fan-out, then Redis, in that order.

The message writer (`api.domain.messages_send`) hands each batch's `Outcome` here,
synchronously, before its senders' futures resolve. The senders' acks are queued first, then
the messages go to this process's sockets in the room (no round trip through Redis), then they
are published for the other processes. Publishes are chained per room, so they stay in commit
order without the next batch waiting for them; a mentioned user's `mention` frame follows its
message's publish.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from api.domain.core.services import Services
from api.domain.events import Message, ack_frame, mention_frame, message_frame_bytes
from api.domain.messages.send import Outcome
from api.domain.rooms.summaries import preview_text
from api.ws.connection import Connection

log = logging.getLogger(__name__)

LocalDeliver = Callable[[str, int, list[bytes], float], None]


class Announcer:
    """Turns committed batches into acks and fan-out."""

    def __init__(self, services: Services, deliver_local: LocalDeliver) -> None:
        self.services = services
        self.deliver_local = deliver_local
        # Per room, the task publishing the latest batch.
        self._publishing: dict[str, asyncio.Task[None]] = {}

    def __call__(self, outcome: Outcome) -> None:
        for request, ack in outcome.answers:
            if isinstance(request.origin, Connection):
                request.origin.push(ack_frame(ack))
        if not outcome.messages:
            return
        frames = [message_frame_bytes(m) for m in outcome.messages]
        try:
            self.deliver_local(outcome.room_id, outcome.first_seq, frames, outcome.committed_at)
        except Exception:
            log.exception("local fan-out failed; the Redis copy delivers instead")
        previous = self._publishing.get(outcome.room_id)
        task = asyncio.create_task(self._publish(previous, outcome, frames))
        self._publishing[outcome.room_id] = task
        task.add_done_callback(lambda t: self._published(outcome.room_id, t))

    def _published(self, room_id: str, task: asyncio.Task[None]) -> None:
        if self._publishing.get(room_id) is task:
            del self._publishing[room_id]
        if not task.cancelled() and task.exception() is not None:
            log.warning("announcing a batch failed: %s", type(task.exception()).__name__)

    async def settle(self, timeout: float) -> bool:  # noqa: ASYNC109
        """Wait for the publishes under way (graceful drain); False on timeout."""
        waits = [t for t in self._publishing.values() if not t.done()]
        if not waits:
            return True
        _done, pending = await asyncio.wait(waits, timeout=timeout)
        return not pending

    async def _publish(self, previous: asyncio.Task[None] | None, outcome: Outcome, frames: list[bytes]) -> None:
        """Publish a committed batch to the other processes, after the room's previous batch."""
        if previous is not None and not previous.done():
            await asyncio.wait([previous])
        try:
            await self.services.bus.publish_sequenced(
                outcome.room_id, outcome.first_seq, frames, committed_at=outcome.committed_at
            )
        except Exception:
            log.warning("publish failed after commit; receivers fill the gap from the database")
        await self._notify_mentions(outcome.room_title, outcome.messages)

    async def _notify_mentions(self, room_title: str, messages: list[Message]) -> None:
        for msg in messages:
            for user_id in msg.mentions:
                if user_id == msg.sender_id:
                    continue
                try:
                    preview = preview_text(msg.message_type, msg.content)
                    await self.services.bus.publish_user(
                        user_id, mention_frame(msg, room_title, preview), room_id=msg.room_id
                    )
                except Exception:
                    # The mention is stored; the push worker still notifies, and the inbox lists it.
                    log.warning("mention frame publish failed")
