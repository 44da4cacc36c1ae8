"""System messages a room change posts (sequenced like any message), and nudges to user streams."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import text

from api.domain.core.db import UnitOfWork
from api.domain.core.services import Services
from api.domain.events import Message, message_frame_bytes
from api.domain.messages.sequencing import NewMessage, insert_sequenced, stored_message


async def post_system(
    uow: UnitOfWork,
    services: Services,
    room_id: uuid.UUID,
    actor_id: str,
    content: dict[str, Any],
    control: dict[str, Any] | None = None,
) -> Message:
    """Store a system event as a sequenced message and broadcast it after commit."""
    new = NewMessage(sender_id=actor_id, message_type="system", data=content)
    _, stored = await insert_sequenced(uow.conn, room_id, [new], allow_archived=True)
    _, seq, created = stored[0]
    name_row = (
        await uow.conn.execute(text("SELECT display_name, is_bot FROM tr_users WHERE user_id = :u"), {"u": actor_id})
    ).first()
    message = stored_message(
        room_id, new, seq, created, name_row.display_name if name_row else None, bool(name_row and name_row.is_bot)
    )
    frame = message_frame_bytes(message)

    async def publish() -> None:
        await services.bus.publish_sequenced(str(room_id), seq, [frame], control=control)

    uow.after_commit(publish)
    return message


def tell_user_after_commit(
    uow: UnitOfWork, services: Services, user_id: str, kind: str, room_id: uuid.UUID, seq: int = 0
) -> None:
    """After commit, tell the user's streams (`/ws`) to re-read a room (`rooms`: joined; `read`: marker moved).

    `seq`: for `rooms`, the sequence number of the `member_added` event (0 when there is none, a
    room's creator): streams start following the room from there, never before it.
    """

    async def publish() -> None:
        await services.bus.publish_user_event(user_id, kind, str(room_id), seq)

    uow.after_commit(publish)
