"""What searching needs from the database: readable rooms, `from:` names, message objects."""

from __future__ import annotations

import uuid
from collections.abc import Callable

from sqlalchemy import text

from api.domain.auth.sessions import AuthUser
from api.domain.core.services import Services
from api.domain.events import Message
from api.domain.messages.read import SELECT_MESSAGE, message_object

# A `from:` word shared by more display names than this is too vague to be useful.
MAX_NAME_CANDIDATES = 500


async def readable_room_ids(services: Services, user: AuthUser) -> list[str]:
    """Rooms the caller can read now: memberships, or every room for a system admin."""
    sql = (
        "SELECT room_id FROM incident_rooms"
        if user.is_admin
        else "SELECT room_id FROM room_members WHERE user_id = :u"
    )
    async with services.db.read() as conn:
        rows = (await conn.execute(text(sql), {"u": user.user_id})).all()
    return [str(r.room_id) for r in rows]


async def resolve_senders(
    services: Services,
    values: list[str],
    *,
    like_patterns: Callable[[str], list[str]],
    name_matches: Callable[[str, str], bool],
) -> list[str]:
    """User ids matching `from:` values: a user id, or a display name the search rules accept.

    The rules come from the caller (`search.names`: `from:Maintenance` finds "Maintenance
    Team"); the database narrows the candidates with `like_patterns(value)` (all must match
    the NFKC-normalised, lower-cased name) and `name_matches(display_name, value)` decides.
    """
    if not values:
        return []
    lowered = [v.strip().lower() for v in values if v.strip()]
    found: list[str] = []
    async with services.db.read() as conn:
        rows = (
            await conn.execute(
                text("SELECT user_id FROM tr_users WHERE user_id = ANY(CAST(:v AS text[]))"),
                {"v": lowered},
            )
        ).all()
        found.extend(r.user_id for r in rows)
        for value in lowered:
            patterns = like_patterns(value)
            if not patterns:
                continue
            rows = (
                await conn.execute(
                    text(
                        "SELECT user_id, display_name FROM tr_users "
                        "WHERE lower(normalize(display_name, NFKC)) LIKE ALL(CAST(:p AS text[])) "
                        "ORDER BY user_id LIMIT :n"
                    ),
                    {"p": patterns, "n": MAX_NAME_CANDIDATES},
                )
            ).all()
            found.extend(r.user_id for r in rows if name_matches(r.display_name or "", value))
    # Senders unknown to tr_users can still be searched by their id.
    return list(dict.fromkeys(found + [v for v in lowered if "@" in v]))


async def live_messages(
    services: Services, message_ids: list[str], viewer: str | None = None
) -> dict[str, Message]:
    """Message objects by id, leaving out deleted ones (the index may lag a deletion).

    Read where `viewer`'s own writes are (the replica when it has them, `Services.read_for`).
    """
    ids = []
    for mid in message_ids:
        try:
            ids.append(uuid.UUID(mid))
        except ValueError:
            continue  # Not a message id (the index holds only UUIDs): nothing to show for it.
    if not ids:
        return {}
    async with services.read_for(viewer) as conn:
        rows = (
            await conn.execute(
                text(
                    SELECT_MESSAGE
                    + " WHERE m.message_id = ANY(CAST(:ids AS uuid[])) AND m.deleted_at IS NULL"
                ),
                {"ids": ids},
            )
        ).all()
    return {str(r.message_id): message_object(r) for r in rows}
