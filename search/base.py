"""The search backend protocol and the plain values it trades in.

`search` imports neither `api` nor `workers`: callers hand it `SearchDocument`s built from
their rows (see `search.documents`) and `SearchQuery`s built from a parsed `q` plus the
caller's readable rooms (see `search.compose`).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from datetime import datetime
from typing import Protocol, runtime_checkable

import msgspec

# The deepest result page a backend serves (offset + limit); `total` is still exact beyond it.
# Meilisearch cannot page further than its `maxTotalHits` setting, which is set to this.
MAX_RESULT_WINDOW = 10_000

MESSAGE_TYPES = ("text", "image_ref", "file_ref", "incident_data", "system")


class SearchDocument(msgspec.Struct, frozen=True, kw_only=True):
    """One message as the index sees it.

    `content` is the text to index; for `incident_data` a text rendering of the JSON
    (`search.documents.incident_data_text`). `version` orders the writes of one message
    (its edit count, or its `updated_at` in microseconds): a backend never lets a document
    replace a stored one with a higher version. `created_at` must be timezone-aware.
    """

    message_id: str
    room_id: str
    sender_id: str
    sender_display_name: str
    message_type: str
    content: str
    created_at: datetime
    sequence_number: int
    version: int


class QueryTerm(msgspec.Struct, frozen=True):
    """A word or a quoted phrase of `q`, as typed.

    A word must match as a word (a part number or a mixed-script word as the sequence of its
    pieces), a phrase as consecutive words; `prefix` makes the term's last piece match as a
    prefix (set on the query's last word). CJK text matches by substring either way.
    """

    text: str
    phrase: bool = False
    prefix: bool = False


class SearchQuery(msgspec.Struct, frozen=True, kw_only=True):
    """What to look for, and where.

    `room_ids` are the rooms the caller may read now: it is ALWAYS applied, and an empty list
    matches nothing. `terms` all must match; with no terms the filters alone select messages,
    newest first. `sender_ids` / `message_types` are OR-ed within themselves (None: any).
    `after` / `before` bound `created_at` (exclusive).
    """

    room_ids: Sequence[str]
    terms: Sequence[QueryTerm] = ()
    sender_ids: Sequence[str] | None = None
    message_types: Sequence[str] | None = None
    after: datetime | None = None
    before: datetime | None = None
    limit: int = 20
    offset: int = 0


class SearchHit(msgspec.Struct, frozen=True, kw_only=True):
    """One result: the message id (the caller loads the message object) and its highlight.

    `highlighted_content` is the indexed content HTML-escaped, with `<mark>`...`</mark>` around
    every matched word or CJK substring and no other markup.
    """

    message_id: str
    room_id: str
    highlighted_content: str
    score: float


class SearchResults(msgspec.Struct, frozen=True, kw_only=True):
    """A page of hits, ranked by relevance then newest first; `total` counts every match.

    `total_exact` is False when the engine estimated `total` (Meilisearch's estimatedTotalHits,
    or PostgreSQL beyond its counting window, see docs/search.md); it is then never below the
    number of matches already seen.
    """

    hits: list[SearchHit]
    total: int
    total_exact: bool = True


class IndexedEntry(msgspec.Struct, frozen=True):
    """A live document in the index, for reconciliation against the database."""

    message_id: str
    version: int


class SearchUnavailable(RuntimeError):
    """The search engine could not be reached or answered with an error."""


@runtime_checkable
class SearchBackend(Protocol):
    """What every search engine offers. One contract suite (tests/search) runs against each."""

    async def ensure_ready(self) -> None:
        """Create the index and its settings if needed (idempotent; waits until applied)."""
        ...

    async def index(self, docs: Sequence[SearchDocument]) -> None:
        """Insert or replace documents; a stored version higher than a doc's wins.

        A message removed with `delete` stays removed: later `index` calls for it are ignored.
        """
        ...

    async def delete(self, message_ids: Sequence[str]) -> None:
        """Remove messages from search for good (idempotent, unknown ids are fine)."""
        ...

    async def search(self, query: SearchQuery) -> SearchResults:
        """Run a query; never raises for odd user text (only `SearchUnavailable`)."""
        ...

    async def health(self) -> bool:
        """Whether the engine answers."""
        ...

    def iter_indexed_ids(
        self, batch_size: int = 1000, after: str | None = None
    ) -> AsyncIterator[list[IndexedEntry]]:
        """Every live indexed message with its version, in batches ordered by message id.

        `after` resumes after that message id. Reconciliation compares these against the
        database and calls `delete` for messages deleted there (or `index` for stale ones).
        """
        ...

    async def close(self) -> None:
        """Release connections the backend opened itself (not an engine it was given)."""
        ...
