"""`andon search reindex`: rebuild the search index from the database, resumably.

Messages are read in batches ordered by message id; after each batch the last id is saved in
`ANDON_DATA_DIR/search-reindex.cursor`, so an interrupted run continues where it stopped
(`--restart` starts over). A reconcile pass then walks the index and removes entries whose
message is gone or deleted, and re-indexes entries older than the database row.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from pathlib import Path

from sqlalchemy import text

from api.domain.core.db import Database, create_engine, migrate
from api.domain.core.settings import Settings, get_settings
from api.embedded import backing_services
from api.logs import configure as configure_logging
from search.backends import open_search_backend
from search.base import SearchBackend, SearchDocument
from search.documents import document_from_message, version_from_timestamp

BATCH = 500

# A message as the index needs it, with its sender's display name.
_SELECT = """
    SELECT m.message_id, m.room_id, m.sender_id, m.message_type, m.content, m.data, m.created_at,
           m.edited_at, m.deleted_at, m.updated_at, m.sequence_number, u.display_name
    FROM messages m LEFT JOIN tr_users u ON u.user_id = m.sender_id
"""
_BATCH_SQL = text(
    _SELECT
    + "WHERE (CAST(:after AS uuid) IS NULL OR m.message_id > CAST(:after AS uuid)) ORDER BY m.message_id LIMIT :n"
)
_BY_IDS_SQL = text(_SELECT + "WHERE m.message_id = ANY(CAST(:ids AS uuid[]))")


class _Progress:
    def __init__(self, total: int, label: str) -> None:
        self.total = max(total, 0)
        self.label = label
        self.done = 0
        self.started = time.monotonic()
        self.tty = sys.stderr.isatty()

    def advance(self, n: int) -> None:
        self.done += n
        width = 30
        frac = min(1.0, self.done / self.total) if self.total else 1.0
        bar = "#" * int(frac * width) + "-" * (width - int(frac * width))
        rate = self.done / max(time.monotonic() - self.started, 1e-6)
        line = f"{self.label} [{bar}] {self.done}/{self.total} ({frac:.0%}, {rate:.0f}/s)"
        print(("\r" + line) if self.tty else line, end="" if self.tty else "\n", file=sys.stderr, flush=True)

    def finish(self) -> None:
        if self.tty:
            print(file=sys.stderr)


async def reindex(
    settings: Settings, *, restart: bool, batch: int, reconcile: bool, cursor_file: Path
) -> dict[str, int]:
    """Index every live message, then reconcile; returns counts."""
    db = Database(create_engine(settings.with_(db_pool_size=2, db_max_overflow=0)))
    backend = open_search_backend(db.engine, settings.meili_url, settings.meili_master_key)
    counts = {"indexed": 0, "removed": 0, "reconciled_removed": 0, "reconciled_refreshed": 0}
    try:
        await backend.ensure_ready()
        after = None if restart or not cursor_file.exists() else (cursor_file.read_text().strip() or None)
        async with db.read() as conn:
            total = int((await conn.execute(text("SELECT count(*) FROM messages"))).scalar_one())
            done_before = 0
            if after:
                done_before = int(
                    (
                        await conn.execute(
                            text("SELECT count(*) FROM messages WHERE message_id <= CAST(:a AS uuid)"),
                            {"a": after},
                        )
                    ).scalar_one()
                )
        progress = _Progress(total, "indexing")
        progress.advance(done_before)
        while True:
            async with db.read() as conn:
                rows = (await conn.execute(_BATCH_SQL, {"after": after, "n": batch})).all()
            if not rows:
                break
            docs: list[SearchDocument] = []
            gone: list[str] = []
            for row in rows:
                data = dict(row._mapping)
                doc = document_from_message(data, data.get("display_name"))
                if doc is None:
                    gone.append(str(data["message_id"]))
                else:
                    docs.append(doc)
            await _apply(backend, docs, gone)
            counts["indexed"] += len(docs)
            counts["removed"] += len(gone)
            after = str(rows[-1].message_id)
            cursor_file.parent.mkdir(parents=True, exist_ok=True)
            cursor_file.write_text(after)
            progress.advance(len(rows))
        progress.finish()
        if reconcile:
            await _reconcile(db, backend, counts, batch)
        cursor_file.unlink(missing_ok=True)
        return counts
    finally:
        await backend.close()
        await db.dispose()


async def _apply(backend: SearchBackend, docs: list[SearchDocument], gone: list[str]) -> None:
    """Index `docs` and remove the entries of `gone` (message ids), skipping empty calls."""
    if docs:
        await backend.index(docs)
    if gone:
        await backend.delete(gone)


async def _reconcile(db: Database, backend: SearchBackend, counts: dict[str, int], batch: int) -> None:
    async for entries in backend.iter_indexed_ids(batch_size=batch):
        ids = [e.message_id for e in entries]
        async with db.read() as conn:
            rows = (await conn.execute(_BY_IDS_SQL, {"ids": ids})).all()
        by_id = {str(r.message_id): dict(r._mapping) for r in rows}
        stale_ids: list[str] = []
        refresh: list[SearchDocument] = []
        for entry in entries:
            row = by_id.get(entry.message_id)
            if row is None or row["deleted_at"] is not None or row["message_type"] == "system":
                stale_ids.append(entry.message_id)
            elif version_from_timestamp(row["updated_at"]) > entry.version:
                doc = document_from_message(row, row.get("display_name"))
                if doc is not None:
                    refresh.append(doc)
        await _apply(backend, refresh, stale_ids)
        counts["reconciled_removed"] += len(stale_ids)
        counts["reconciled_refreshed"] += len(refresh)


def reindex_command(args: argparse.Namespace) -> int:
    """`andon search reindex`: migrate, rebuild the index, print the counts."""
    configure_logging("WARNING")
    with backing_services(get_settings(), need_redis=False) as backing:
        settings = backing.settings
        migrate(backing.database_url)
        counts = asyncio.run(
            reindex(
                settings,
                restart=args.restart,
                batch=max(1, args.batch),
                reconcile=not args.no_reconcile,
                cursor_file=settings.data_dir / "search-reindex.cursor",
            )
        )
    print(
        f"indexed {counts['indexed']}, removed {counts['removed']} deleted/system, "
        f"reconcile removed {counts['reconciled_removed']} and refreshed {counts['reconciled_refreshed']}"
    )
    return 0
