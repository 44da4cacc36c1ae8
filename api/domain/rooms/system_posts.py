"""System messages a room change posts (sequenced like any message), and nudges to user streams."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import text

from api.domain.core.db import UnitOfWork
from api.domain.core.services import Services
from api.domain.events import Message, message_frame_bytes
from api.domain.messages.sequencing import NewMessage, insert_sequenced, stored_message

_PEOPLE = text("SELECT user_id, display_name, is_bot FROM tr_users WHERE user_id = ANY(CAST(:ids AS text[]))")


async def post_system(
    uow: UnitOfWork,
    services: Services,
    room_id: uuid.UUID,
    actor_id: str,
    content: dict[str, Any],
    control: dict[str, Any] | None = None,
) -> Message:
    """Store a system event as a sequenced message and broadcast it after commit.

    The event keeps the display names of the people it names as they are now
    (`user_display_name`, `actor_display_name`; docs/user-stream.md), read with the actor's
    own row in one query, so a room list can say who without knowing the room's members.
    """
    ids = {actor_id} | {v for k in ("user_id", "actor_id") if isinstance(v := content.get(k), str)}
    people = {r.user_id: r for r in (await uow.conn.execute(_PEOPLE, {"ids": sorted(ids)})).all()}
    named = dict(content)
    for id_key, name_key in (("user_id", "user_display_name"), ("actor_id", "actor_display_name")):
        person = people.get(named.get(id_key))
        if person is not None:
            named.setdefault(name_key, person.display_name)
    new = NewMessage(sender_id=actor_id, message_type="system", data=named)
    _, stored = await insert_sequenced(uow.conn, room_id, [new], allow_archived=True)
    _, seq, created = stored[0]
    actor = people.get(actor_id)
    message = stored_message(
        room_id, new, seq, created, actor.display_name if actor else None, bool(actor and actor.is_bot)
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
