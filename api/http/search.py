"""GET /api/search/messages: parse `q`, bound it by the caller's rooms, ask the backend."""

from __future__ import annotations

from typing import Any

from litestar import Request, get
from litestar.di import Provide
from litestar.exceptions import HTTPException

from api.domain.auth.sessions import AuthUser
from api.domain.core.errors import Invalid
from api.domain.events import SearchHit
from api.domain.search_support import live_messages, readable_room_ids, resolve_senders
from api.http.deps import current_user, int_param, services_of, ts_param
from search.base import MAX_RESULT_WINDOW, MESSAGE_TYPES, SearchBackend, SearchUnavailable
from search.compose import compose_query
from search.names import like_patterns, name_matches
from search.query_syntax import EmptyQuery, ParsedQuery, QuerySyntaxError, QueryTooLong, parse_query

AUTH = {"user": Provide(current_user)}
MAX_LIMIT = 100


@get("/api/search/messages", dependencies=AUTH, summary="Full-text search over the rooms the caller can read")
async def search_messages(
    request: Request[Any, Any, Any],
    user: AuthUser,
    q: str | None = None,
    room_id: str | None = None,
    sender_id: str | None = None,
    message_type: str | None = None,
    after: str | None = None,
    before: str | None = None,
    limit: str | None = None,
    offset: str | None = None,
) -> dict[str, Any]:
    n, skip = _window(limit, offset)
    if message_type is not None and message_type not in MESSAGE_TYPES:
        raise Invalid("unknown message_type", code="unprocessable")
    parsed = _parse(q)
    if parsed is None:
        return {"hits": [], "total": 0}
    services = services_of(request)
    rooms = await readable_room_ids(services, user)
    senders = (
        await resolve_senders(
            services, list(parsed.from_users), like_patterns=like_patterns, name_matches=name_matches
        )
        if parsed.from_users
        else None
    )
    query = compose_query(
        parsed,
        readable_room_ids=rooms,
        from_sender_ids=senders,
        room_id=room_id.lower() if room_id else None,
        sender_id=sender_id.strip().lower() if sender_id else None,
        message_type=message_type,
        after=ts_param(after, "after"),
        before=ts_param(before, "before"),
        limit=n,
        offset=skip,
    )
    if query is None:
        return {"hits": [], "total": 0}
    backend: SearchBackend = request.app.state.search_backend
    try:
        results = await backend.search(query)
    except SearchUnavailable as exc:
        raise HTTPException(status_code=503, detail="search is unavailable right now") from exc
    messages = await live_messages(services, [h.message_id for h in results.hits], user.user_id)
    hits = []
    for hit in results.hits:
        message = messages.get(hit.message_id)
        if message is None:
            continue  # deleted since it was indexed
        hits.append(SearchHit(**message.fields(), highlighted_content=hit.highlighted_content))
    return {"hits": hits, "total": results.total, "total_exact": results.total_exact}


def _window(limit: str | None, offset: str | None) -> tuple[int, int]:
    """(limit, offset) of the page asked for, within the backends' result window."""
    requested = int_param(limit, "limit")
    n = 20 if requested is None else requested
    if n < 1:
        raise Invalid("limit must be at least 1", code="unprocessable")
    n = min(n, MAX_LIMIT)
    skip = int_param(offset, "offset", 0) or 0
    if skip + n > MAX_RESULT_WINDOW:
        raise Invalid(f"offset + limit may be at most {MAX_RESULT_WINDOW}", code="unprocessable")
    return n, skip


def _parse(q: str | None) -> ParsedQuery | None:
    """The parsed query; None for an empty one (no hits, not an error)."""
    try:
        return parse_query(q or "")
    except QueryTooLong as exc:
        raise Invalid("q is too long", code="unprocessable") from exc
    except EmptyQuery:
        return None
    except QuerySyntaxError as exc:
        raise Invalid(f"q could not be understood: {exc}", code="unprocessable") from exc
