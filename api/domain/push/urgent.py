"""Urgent pages (docs/alerts.md): what they are, why one stops, and acknowledging one. The room's
paging settings and a member's opt-in are in `urgent_settings`, the schedule the workers run in
`urgent_rounds`.

A message sent with `priority: urgent` pages each mentioned member (or, when it mentions nobody,
each member who opted in to urgent alerts), the sender excepted: one `urgent_pages` row per
paged user, planned by the push planning job in the same transaction as the message's other
pushes. Round 1 is due at once; each round plans one push per subscription (`push_deliveries`
with `page_round`) and an in-app `urgent_page` frame, and sets `next_at` one interval later,
until `1 + max_repeats` rounds went out. All of it is PostgreSQL state, so a worker or API
restart neither loses nor repeats a round: the worker's relay publishes due pages, and a round is
recorded in the same transaction as its pushes, guarded by the round number it was published for.

Paging stops at once when the paged user acknowledges (`urgent_acks`), when the message is
deleted, or when the room is archived: the round task closes the page, and a push already
planned for it is skipped when a worker claims it (`deliveries.claim`).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import text

from api.domain.auth.access import access_room, parse_uuid
from api.domain.auth.sessions import AuthUser
from api.domain.core.errors import Forbidden, Invalid, NotFound
from api.domain.core.services import Services
from api.domain.core.timefmt import iso
from api.domain.events import Acknowledgement, acknowledged_frame

# Why a page stopped (`urgent_pages.stop_reason`).
ACKNOWLEDGED = "acknowledged"
DELETED = "deleted"
ARCHIVED = "archived"
NOT_MEMBER = "not_member"
EXHAUSTED = "exhausted"


# ------------------------------------------------------------------ acknowledgement

# The row lock the `updated_at` touch below needs, taken at once: two acknowledgements that both
# held FOR SHARE and then both wanted to update would deadlock. It does not block inserts that
# reference the message (reactions, acknowledgements), unlike FOR UPDATE.
_MESSAGE = text(
    """
    SELECT m.message_id, m.room_id, m.sequence_number, m.priority, m.deleted_at, r.status
    FROM messages m JOIN incident_rooms r ON r.room_id = m.room_id
    WHERE m.message_id = :id
    FOR NO KEY UPDATE OF m
    """
)
# An acknowledgement moves the message's `updated_at`, so a client resuming with `since_time`
# finds it among the changed messages (`api.ws.resume`) like an edit or a reaction.
_TOUCH_MESSAGE = text("UPDATE messages SET updated_at = clock_timestamp() WHERE message_id = :id")
_INSERT_ACK = text(
    """
    INSERT INTO urgent_acks (message_id, user_id, acknowledged_at)
    VALUES (:id, :u, date_trunc('milliseconds', clock_timestamp()))
    ON CONFLICT DO NOTHING
    RETURNING acknowledged_at
    """
)
_EXISTING_ACK = text("SELECT acknowledged_at FROM urgent_acks WHERE message_id = :id AND user_id = :u")
_STOP_PAGE = text(
    """
    UPDATE urgent_pages SET done_at = now(), next_at = NULL, stop_reason = :why
    WHERE message_id = :id AND user_id = :u AND done_at IS NULL
    """
)


async def do_acknowledge(
    services: Services, user: AuthUser, message_id: object, room_id: str | None = None
) -> dict[str, Any]:
    """Acknowledge an urgent message (members; idempotent).

    Returns `{message_id, user_id, at, room_id, created}`; `created` is False when the user had
    acknowledged it already (then nothing changes and nothing is broadcast). With `room_id` (the
    WebSocket path) a message of another room is `not_found`.
    """
    mid = parse_uuid(message_id, "message_id")
    async with services.db.transaction() as uow:
        conn = uow.conn
        row = (await conn.execute(_MESSAGE, {"id": mid})).first()
        if row is None or (room_id is not None and str(row.room_id) != room_id):
            raise NotFound("no such message" if room_id is None else "no such message in this room")
        await access_room(conn, row.room_id, user)
        if row.priority != "urgent":
            raise Invalid("only urgent messages can be acknowledged")
        if row.deleted_at is not None:
            raise Forbidden("the message is deleted")
        if row.status == "archived":
            raise Forbidden("the room is archived (read-only)")
        params = {"id": mid, "u": user.user_id}
        inserted = (await conn.execute(_INSERT_ACK, params)).first()
        if inserted is None:
            existing = (await conn.execute(_EXISTING_ACK, params)).first()
            assert existing is not None
            return _ack_result(row, user, iso(existing.acknowledged_at), created=False)
        await conn.execute(_STOP_PAGE, {**params, "why": ACKNOWLEDGED})
        await conn.execute(_TOUCH_MESSAGE, {"id": mid})
        result = _ack_result(row, user, iso(inserted.acknowledged_at), created=True)
        ack = Acknowledgement(user_id=user.user_id, display_name=user.display_name, at=result["at"])
        frame = acknowledged_frame(ack, message_id=str(mid), room_id=str(row.room_id))
        seq = int(row.sequence_number)
        rid = str(row.room_id)

        async def publish() -> None:
            # Room sockets, and (control `streams`) the user streams following the room, in the
            # room's order: never before the message itself.
            await services.bus.publish_ephemeral(rid, frame, after_seq=seq, control={"streams": 1})

        uow.after_commit(publish)
    return result


def _ack_result(row: Any, user: AuthUser, at: str | None, *, created: bool) -> dict[str, Any]:
    return {
        "message_id": str(row.message_id),
        "room_id": str(row.room_id),
        "user_id": user.user_id,
        "display_name": user.display_name,
        "at": at,
        "created": created,
    }
