"""The Meilisearch backend, used when MEILI_URL is set (meilisearch-python-sdk's AsyncClient).

- Settings: searchable `content` then `sender_display_name`; filterable `room_id`, `sender_id`,
  `message_type`, `created_at` (microseconds since 1970, a number), `sequence_number`,
  `deleted`, `message_id`; sortable `created_at`; ranking rules end in `created_at:desc`, so
  equally relevant hits come newest first; typo tolerance off, so every word matches as typed
  (as in the PostgreSQL backend); `maxTotalHits` = MAX_RESULT_WINDOW. `ensure_ready` waits for
  the settings task.
- Versions: before an upsert the stored versions are read back and older documents dropped; a
  deletion leaves a tombstone document (`deleted: true`) that no later upsert replaces. Within
  one process writes are serialised; across processes a read-then-write race remains, which
  the reconcile pass (`iter_indexed_ids` yields versions) repairs. See docs/search.md.
- Filters are built from quoted, escaped values only; the words of `q` go in `q`, never in a
  filter.
- Highlights: Meilisearch does not escape HTML, so it is asked to wrap matches in random
  per-process sentinels; the whole text is then HTML-escaped and only the sentinels become
  `<mark>` / `</mark>`.
"""

from __future__ import annotations

import asyncio
import html
import secrets
import uuid
from collections.abc import AsyncIterator, Iterable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from meilisearch_python_sdk import AsyncClient
from meilisearch_python_sdk.errors import MeilisearchError
from meilisearch_python_sdk.index import AsyncIndex
from meilisearch_python_sdk.models.settings import MeilisearchSettings, Pagination, TypoTolerance

from search.base import (
    MAX_RESULT_WINDOW,
    IndexedEntry,
    QueryTerm,
    SearchDocument,
    SearchHit,
    SearchQuery,
    SearchResults,
    SearchUnavailable,
)

DEFAULT_INDEX = "andon_messages"
WRITE_BATCH = 1000
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

SETTINGS = MeilisearchSettings(
    searchable_attributes=["content", "sender_display_name"],
    filterable_attributes=[
        "room_id",
        "sender_id",
        "message_type",
        "created_at",
        "sequence_number",
        "deleted",
        "message_id",
    ],
    sortable_attributes=["created_at"],
    ranking_rules=["words", "typo", "proximity", "attribute", "sort", "exactness", "created_at:desc"],
    typo_tolerance=TypoTolerance(enabled=False),
    pagination=Pagination(max_total_hits=MAX_RESULT_WINDOW),
)


def micros(moment: datetime) -> int:
    """A timezone-aware datetime as integer microseconds since 1970 (Meilisearch's number)."""
    if moment.tzinfo is None:
        raise ValueError("datetime must be timezone-aware")
    return (moment - _EPOCH) // timedelta(microseconds=1)


def quote_filter_value(value: str) -> str:
    """A string as a Meilisearch filter literal: double-quoted, `\\` and `"` escaped."""
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _in_list(field: str, values: Iterable[str]) -> str:
    return f"{field} IN [" + ", ".join(quote_filter_value(v) for v in values) + "]"


def build_filter(query: SearchQuery, room_ids: Sequence[str]) -> list[str | list[str]]:
    """The filter expressions (AND-ed) for a query: rooms always, then the optional filters."""
    parts: list[str | list[str]] = ["deleted = false", _in_list("room_id", room_ids)]
    if query.sender_ids is not None:
        parts.append(_in_list("sender_id", query.sender_ids))
    if query.message_types is not None:
        parts.append(_in_list("message_type", query.message_types))
    if query.after is not None:
        parts.append(f"created_at > {micros(query.after)}")
    if query.before is not None:
        parts.append(f"created_at < {micros(query.before)}")
    return parts


def build_q(terms: Sequence[QueryTerm]) -> str:
    """`q` for Meilisearch: words as typed, phrases in double quotes (quotes inside dropped)."""
    out = []
    for term in terms:
        cleaned = " ".join(term.text.replace('"', " ").split())
        if cleaned:
            out.append(f'"{cleaned}"' if term.phrase else cleaned)
    return " ".join(out)


class Sentinels:
    """Random highlight tags for one process; nothing a user writes can contain them."""

    def __init__(self) -> None:
        """Draw fresh tags."""
        self.pre = f"hl{secrets.token_hex(16)}o"
        self.post = f"hl{secrets.token_hex(16)}c"

    def to_html(self, formatted: str) -> str:
        """Escape all of `formatted`, then turn only the sentinels into `<mark>` tags."""
        escaped = html.escape(formatted, quote=True)
        return escaped.replace(self.pre, "<mark>").replace(self.post, "</mark>")


def _document(doc: SearchDocument) -> dict[str, Any]:
    return {
        "message_id": doc.message_id,
        "room_id": doc.room_id,
        "sender_id": doc.sender_id,
        "sender_display_name": doc.sender_display_name,
        "message_type": doc.message_type,
        "content": doc.content,
        "created_at": micros(doc.created_at),
        "sequence_number": doc.sequence_number,
        "version": doc.version,
        "deleted": False,
    }


def _tombstone(message_id: str) -> dict[str, Any]:
    return {
        "message_id": message_id,
        "room_id": "",
        "sender_id": "",
        "sender_display_name": "",
        "message_type": "",
        "content": "",
        "created_at": 0,
        "sequence_number": 0,
        "version": 0,
        "deleted": True,
    }


def _valid_uuid(value: str) -> str | None:
    try:
        return str(uuid.UUID(value))
    except (ValueError, AttributeError, TypeError):
        return None


class MeilisearchSearchBackend:
    """`SearchBackend` over one Meilisearch index."""

    def __init__(
        self,
        url: str,
        api_key: str | None = None,
        *,
        index_uid: str = DEFAULT_INDEX,
        http_timeout_s: int = 10,
        task_timeout_ms: int = 60_000,
    ) -> None:
        """Connect lazily to `url`; every HTTP call and every task wait has a timeout."""
        self._client = AsyncClient(url, api_key, timeout=http_timeout_s)
        self._index_uid = index_uid
        self._task_timeout_ms = task_timeout_ms
        self._sentinels = Sentinels()
        # Reads-then-writes of one process never interleave (see the module docstring).
        self._write_lock = asyncio.Lock()

    @property
    def _index(self) -> AsyncIndex:
        return self._client.index(self._index_uid)

    async def _wait(self, task_uid: int) -> None:
        result = await self._client.wait_for_task(task_uid, timeout_in_ms=self._task_timeout_ms)
        if result.status != "succeeded":
            raise SearchUnavailable(f"meilisearch task {task_uid} {result.status}: {result.error}")

    async def ensure_ready(self) -> None:
        """Create the index if needed and apply the settings, waiting until they are live."""
        try:
            index = await self._client.get_or_create_index(self._index_uid, primary_key="message_id")
            task = await index.update_settings(SETTINGS)
            await self._wait(task.task_uid)
        except (MeilisearchError, httpx.HTTPError) as exc:
            raise SearchUnavailable(f"meilisearch: {exc.__class__.__name__}: {exc}") from exc

    async def health(self) -> bool:
        """Whether the server reports itself available."""
        try:
            return (await self._client.health()).status == "available"
        except (MeilisearchError, httpx.HTTPError):
            return False

    async def close(self) -> None:
        """Close the HTTP client."""
        await self._client.aclose()

    async def drop_index(self) -> None:
        """Delete the whole index (tests use a throwaway index per run)."""
        try:
            task = await self._index.delete()
            await self._wait(task.task_uid)
        except (MeilisearchError, httpx.HTTPError) as exc:
            raise SearchUnavailable(f"meilisearch: {exc.__class__.__name__}") from exc

    async def _stored(self, message_ids: Sequence[str]) -> dict[str, dict[str, Any]]:
        """Stored (version, deleted) of these ids."""
        found: dict[str, dict[str, Any]] = {}
        for start in range(0, len(message_ids), WRITE_BATCH):
            chunk = message_ids[start : start + WRITE_BATCH]
            info = await self._index.get_documents(
                filter=_in_list("message_id", chunk),
                fields=["message_id", "version", "deleted"],
                limit=len(chunk),
            )
            for row in info.results:
                found[str(row["message_id"])] = row
        return found

    async def index(self, docs: Sequence[SearchDocument]) -> None:
        """Upsert documents whose version is not older than the stored one, tombstones kept."""
        latest: dict[str, SearchDocument] = {}
        for doc in docs:
            message_id = _valid_uuid(doc.message_id)
            if message_id is None or _valid_uuid(doc.room_id) is None:
                raise ValueError(f"message_id and room_id must be UUIDs: {doc.message_id!r}")
            held = latest.get(message_id)
            if held is None or held.version <= doc.version:
                latest[message_id] = doc
        if not latest:
            return
        try:
            async with self._write_lock:
                stored = await self._stored(sorted(latest))
                fresh = []
                for message_id, doc in sorted(latest.items()):
                    old = stored.get(message_id)
                    if old is not None and (old.get("deleted") or int(old.get("version", 0)) > doc.version):
                        continue
                    fresh.append({**_document(doc), "message_id": message_id})
                for start in range(0, len(fresh), WRITE_BATCH):
                    task = await self._index.add_documents(fresh[start : start + WRITE_BATCH], "message_id")
                    await self._wait(task.task_uid)
        except (MeilisearchError, httpx.HTTPError) as exc:
            raise SearchUnavailable(f"meilisearch: {exc.__class__.__name__}: {exc}") from exc

    async def delete(self, message_ids: Sequence[str]) -> None:
        """Replace the messages by tombstones (also for ids never indexed)."""
        ids = sorted({v for v in (_valid_uuid(m) for m in message_ids) if v is not None})
        if not ids:
            return
        try:
            async with self._write_lock:
                for start in range(0, len(ids), WRITE_BATCH):
                    chunk = [_tombstone(m) for m in ids[start : start + WRITE_BATCH]]
                    task = await self._index.add_documents(chunk, "message_id")
                    await self._wait(task.task_uid)
        except (MeilisearchError, httpx.HTTPError) as exc:
            raise SearchUnavailable(f"meilisearch: {exc.__class__.__name__}: {exc}") from exc

    async def iter_indexed_ids(
        self, batch_size: int = 1000, after: str | None = None
    ) -> AsyncIterator[list[IndexedEntry]]:
        """Live documents with their versions, in the engine's order.

        Tombstones are read and skipped here rather than filtered out by Meilisearch: a caller
        deleting while it iterates (reconciliation does) must not shift the offsets. Meilisearch
        cannot seek by a string range, so `after` is applied to the stream (entries up to and
        including that id are skipped once it is seen).
        """
        offset = 0
        skipping = after is not None
        while True:
            try:
                info = await self._index.get_documents(
                    fields=["message_id", "version", "deleted"],
                    offset=offset,
                    limit=batch_size,
                )
            except (MeilisearchError, httpx.HTTPError) as exc:
                raise SearchUnavailable(f"meilisearch: {exc.__class__.__name__}") from exc
            rows = info.results
            if not rows:
                return
            batch = []
            for row in rows:
                message_id = str(row["message_id"])
                if skipping:
                    skipping = message_id != after
                    continue
                if not row.get("deleted"):
                    batch.append(IndexedEntry(message_id, int(row.get("version", 0))))
            if batch:
                yield batch
            offset += len(rows)
            if len(rows) < batch_size:
                return

    async def search(self, query: SearchQuery) -> SearchResults:
        """Relevance then newest first; `total` from totalHits (exhaustive) when available."""
        room_ids = list(dict.fromkeys(v for v in (_valid_uuid(r) for r in query.room_ids) if v))
        empty = SearchResults(hits=[], total=0)
        if not room_ids or query.limit < 1 or query.offset < 0:
            return empty
        if (query.message_types is not None and not query.message_types) or (
            query.sender_ids is not None and not query.sender_ids
        ):
            return empty
        q = build_q(query.terms)
        if query.terms and not q:
            return empty
        end = min(query.offset + query.limit, MAX_RESULT_WINDOW)
        limit = max(0, end - query.offset)
        # Page mode gives an exhaustive totalHits; a page aligned on `limit` is fetched as is,
        # otherwise the first `end` hits and the page cut out of them.
        if limit and query.offset % limit == 0:
            page, per_page, skip = query.offset // limit + 1, limit, 0
        else:
            page, per_page, skip = 1, max(end, 1), query.offset
        try:
            result = await self._index.search(
                q,
                filter=build_filter(query, room_ids),
                page=page,
                hits_per_page=per_page,
                matching_strategy="all",
                attributes_to_retrieve=["message_id", "room_id", "content"],
                attributes_to_highlight=["content"],
                highlight_pre_tag=self._sentinels.pre,
                highlight_post_tag=self._sentinels.post,
                show_ranking_score=True,
            )
        except (MeilisearchError, httpx.HTTPError) as exc:
            raise SearchUnavailable(f"meilisearch: {exc.__class__.__name__}") from exc
        hits = []
        for row in result.hits[skip : skip + limit] if limit else []:
            formatted = (row.get("_formatted") or {}).get("content")
            content = formatted if isinstance(formatted, str) else str(row.get("content") or "")
            hits.append(
                SearchHit(
                    message_id=str(row["message_id"]),
                    room_id=str(row["room_id"]),
                    highlighted_content=self._sentinels.to_html(content),
                    score=float(row.get("_rankingScore") or 0.0),
                )
            )
        exhaustive = result.total_hits
        total = exhaustive if exhaustive is not None else int(result.estimated_total_hits or 0)
        return SearchResults(
            hits=hits,
            total=total,
            total_exact=exhaustive is not None and exhaustive < MAX_RESULT_WINDOW,
        )
