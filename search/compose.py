"""Combine a parsed `q` with the request's parameters and the caller's rooms into one query.

`GET /api/search/messages?q=&room_id=&sender_id=&message_type=&after=&before=&limit=&offset=`
narrows in two places, the operators inside `q` and the query parameters; both narrow (AND),
repeated operators of one kind widen among themselves (OR). The rooms the caller can read
now bound everything. When the combination can match nothing, `compose_query` returns None
and the backend need not be asked.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from search.base import SearchQuery
from search.query_syntax import ParsedQuery


def _narrow(current: list[str] | None, allowed: Sequence[str]) -> list[str]:
    allowed_set = set(allowed)
    if current is None:
        return list(dict.fromkeys(allowed))
    return [v for v in current if v in allowed_set]


def compose_query(
    parsed: ParsedQuery,
    *,
    readable_room_ids: Sequence[str],
    from_sender_ids: Sequence[str] | None = None,
    room_id: str | None = None,
    sender_id: str | None = None,
    message_type: str | None = None,
    after: datetime | None = None,
    before: datetime | None = None,
    limit: int = 20,
    offset: int = 0,
) -> SearchQuery | None:
    """The backend query, or None when nothing can match.

    `readable_room_ids`: the rooms the caller can read now (members' rooms; every room for a
    system admin). `from_sender_ids`: the user ids the caller resolved the `from:` values to
    (None when `q` has no `from:`; an empty list when it has one that names nobody).
    `room_id` / `sender_id` / `message_type`: the query parameters, if given. Room ids are
    compared as given: pass them in one canonical form (lower-case UUID strings).
    """
    rooms = _narrow(None, readable_room_ids)
    if parsed.in_rooms:
        rooms = _narrow(rooms, parsed.in_rooms)
    if room_id is not None:
        rooms = _narrow(rooms, [room_id])
    senders: list[str] | None = None
    if parsed.from_users:
        senders = list(dict.fromkeys(from_sender_ids or ()))
    if sender_id is not None:
        senders = _narrow(senders, [sender_id])
    types: list[str] | None = list(parsed.has_types) if parsed.has_types else None
    if message_type is not None:
        types = _narrow(types, [message_type])
    if not rooms or (senders is not None and not senders) or (types is not None and not types):
        return None
    if after is not None and before is not None and after >= before:
        return None
    return SearchQuery(
        room_ids=rooms,
        terms=parsed.terms,
        sender_ids=senders,
        message_types=types,
        after=after,
        before=before,
        limit=limit,
        offset=offset,
    )
