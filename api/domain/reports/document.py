"""The report's parts, prepared once and shared by every format: the header facts, the charts,
the CSV columns, and each timeline row turned into an `Entry` as this reader may see it.

Only bounded things are prepared up front (counts, at most `charts.MAX_FIELDS` series of at most
`charts.MAX_POINTS` points, at most `MAX_COLUMNS` column names). The timeline, the files, the
members and the appendix are streamed by the renderers from `source`.
"""

from __future__ import annotations

import asyncio
import base64
import io
import json
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, tzinfo
from typing import Any
from zoneinfo import ZoneInfo

from api.domain.audit import ChainReport
from api.domain.auth.sessions import AuthUser
from api.domain.core.db import Database
from api.domain.core.errors import Invalid
from api.domain.files import Storage
from api.domain.reports import source
from api.domain.reports.charts import Chart, SeriesSet, all_leaves, render_chart
from api.domain.reports.source import Reader, RoomHead

FORMATS = ("html", "pdf", "md", "csv", "json")
MEDIA_TYPES = {
    "html": "text/html; charset=utf-8",
    "pdf": "application/pdf",
    "md": "text/markdown; charset=utf-8",
    "csv": "text/csv; charset=utf-8",
    "json": "application/json",
}
MAX_COLUMNS = 200
# Images are embedded as thumbnails at most this many pixels on their longer side.
THUMB_HTML = 480
THUMB_PDF = 240
MAX_IMAGE_BYTES = 20 * 1024 * 1024

Progress = Callable[[int, int], None]


def check_format(value: object) -> str:
    if not isinstance(value, str) or value.lower() not in FORMATS:
        raise Invalid("format must be one of " + ", ".join(FORMATS))
    return value.lower()


def offset_label(moment: datetime, tz: tzinfo) -> str:
    """`GMT+8`, `GMT-3:30`, `GMT` for the zone's offset at that moment."""
    offset = moment.astimezone(tz).utcoffset()
    minutes = int(offset.total_seconds() // 60) if offset is not None else 0
    if minutes == 0:
        return "GMT"
    sign = "+" if minutes > 0 else "-"
    h, m = divmod(abs(minutes), 60)
    return f"GMT{sign}{h}" + (f":{m:02d}" if m else "")


@dataclass(frozen=True, slots=True)
class Clock:
    tz: tzinfo

    def local(self, moment: datetime | None) -> str:
        """`2026-12-04 18:02:03 GMT+8`."""
        if moment is None:
            return ""
        return moment.astimezone(self.tz).strftime("%Y-%m-%d %H:%M:%S ") + offset_label(moment, self.tz)

    @staticmethod
    def utc(moment: datetime | None) -> str:
        if moment is None:
            return ""
        return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def duration_text(start: datetime | None, end: datetime | None) -> str:
    if start is None or end is None:
        return "—"
    seconds = max(0, int((end - start).total_seconds()))
    d, rest = divmod(seconds, 86400)
    h, rest = divmod(rest, 3600)
    m, s = divmod(rest, 60)
    parts = [f"{d}d"] if d else []
    parts += [f"{h}h", f"{m}m", f"{s}s"] if d or h else [f"{m}m", f"{s}s"]
    return " ".join(parts)


@dataclass(frozen=True, slots=True)
class FileRef:
    file_id: str
    filename: str
    content_type: str
    size: int
    url: str
    storage_key: str | None


@dataclass(slots=True)
class Entry:
    """One timeline row as this reader may see it."""

    message_id: str
    seq: int
    at: datetime
    sender_id: str
    sender_name: str
    kind: str
    text: str | None = None
    data: dict[str, Any] | None = None
    event: str | None = None
    mentions: dict[str, str] = field(default_factory=dict)
    deleted_at: datetime | None = None
    deleted_by_name: str | None = None
    content_hidden: bool = False
    edited_at: datetime | None = None
    edit_count: int = 0
    file: FileRef | None = None


@dataclass(slots=True)
class Prepared:
    db: Database
    storage: Storage | None
    room_id: uuid.UUID
    reader: Reader
    head: RoomHead
    clock: Clock
    base_url: str
    generated_at: datetime
    audit: ChainReport
    charts: list[Chart]
    dropped_fields: list[str]
    columns: list[str]
    incident_rows: int
    progress: Progress | None = None

    @property
    def end_at(self) -> datetime | None:
        """Resolution, or for an open incident the last message."""
        return self.head.resolved_at or self.head.last_message_at

    def file_url(self, file_id: str) -> str:
        return f"{self.base_url}/api/files/{file_id}"


def describe_event(data: dict[str, Any], actor: str, target: str | None) -> str:
    event = data.get("event")
    who = target or str(data.get("user_id") or "")
    if event == "room_status_changed":
        return f"{actor} changed the status from {data.get('old_status')} to {data.get('new_status')}"
    if event == "member_added":
        return f"{actor} added {who} as {data.get('role')}"
    if event == "member_role_changed":
        return f"{actor} changed the role of {who} to {data.get('role')}"
    if event == "member_removed":
        return f"{actor} removed {who}"
    return f"{actor}: {event or 'system event'}"


def entry_of(row: Any, reader: Reader, prepared_base: str) -> Entry:
    """A timeline row as `reader` may see it: deleted content only for a private reader."""
    deleted = row.deleted_at is not None
    hidden = deleted and not reader.private
    data = source.decode_json(row.data) if row.data is not None else None
    entry = Entry(
        message_id=str(row.message_id),
        seq=int(row.sequence_number),
        at=row.created_at,
        sender_id=row.sender_id,
        sender_name=row.sender_name,
        kind=row.message_type,
        deleted_at=row.deleted_at,
        deleted_by_name=row.deleted_by_name if deleted else None,
        content_hidden=hidden,
        edited_at=row.edited_at,
        edit_count=int(row.edit_count or 0),
        mentions=dict(source.decode_json(row.mention_names) or {}) if row.mention_names is not None else {},
    )
    for uid in row.mentions or []:
        entry.mentions.setdefault(uid, uid)
    if row.message_type == "system":
        entry.data = data if isinstance(data, dict) else {}
        entry.event = describe_event(entry.data, row.sender_name, row.target_name)
        return entry
    if hidden:
        return entry
    if row.message_type == "incident_data":
        entry.data = data if isinstance(data, dict) else {}
    else:
        entry.text = row.content
    if row.file_id is not None:
        fid = str(row.file_id)
        entry.file = FileRef(
            file_id=fid,
            filename=row.filename or fid,
            content_type=row.content_type or "application/octet-stream",
            size=int(row.size or 0),
            url=f"{prepared_base}/api/files/{fid}",
            storage_key=row.storage_key,
        )
    return entry


async def entries(p: Prepared, *, types: list[str] | None = None) -> AsyncIterator[Entry]:
    """The timeline as `Entry`s, oldest first, page by page; reports progress per page."""
    done = 0
    async for row in source.timeline(p.db, p.room_id, p.head.last_seq, types=types):
        yield entry_of(row, p.reader, p.base_url)
        done += 1
        if p.progress is not None and types is None and done % source.PAGE == 0:
            p.progress(done, p.head.message_count)
    if p.progress is not None and types is None:
        p.progress(done, p.head.message_count)


async def prepare(
    db: Database,
    storage: Storage | None,
    room_id: object,
    user: AuthUser | None,
    *,
    base_url: str,
    timezone: str,
    progress: Progress | None = None,
) -> Prepared:
    """Check access, read the header facts, verify the audit chain, and build the charts.

    Raises NotFound / Forbidden before anything is rendered, so an endpoint answers 404/403.
    """
    rid, reader = await source.reader_for(db, room_id, user)
    head = await source.room_head(db, rid)
    audit = await source.audit_result(db, rid)
    try:
        tz: tzinfo = ZoneInfo(timezone)
    except (KeyError, ValueError):
        tz = UTC
    series = SeriesSet()
    columns: dict[str, None] = {}
    rows = 0
    async for row in source.timeline(db, rid, head.last_seq, types=["incident_data"]):
        if row.deleted_at is not None and not reader.private:
            continue
        rows += 1
        data = source.decode_json(row.data)
        if row.deleted_at is None:
            series.add(row.created_at, data)
        for name in all_leaves(data):
            if len(columns) < MAX_COLUMNS:
                columns.setdefault(name, None)
    charts = [render_chart(s, tz) for s in series.ordered()]
    return Prepared(
        db=db,
        storage=storage,
        room_id=rid,
        reader=reader,
        head=head,
        clock=Clock(tz),
        base_url=base_url.rstrip("/"),
        generated_at=datetime.now(UTC),
        audit=audit,
        charts=charts,
        dropped_fields=sorted(series.dropped_fields),
        columns=list(columns),
        incident_rows=rows,
        progress=progress,
    )


async def thumbnail(p: Prepared, f: FileRef, max_px: int) -> str | None:
    """The image as a data: URI, scaled to at most `max_px` (JPEG, or PNG when it has alpha)."""
    if p.storage is None or f.storage_key is None or f.size > MAX_IMAGE_BYTES:
        return None
    try:
        raw = await p.storage.get(f.storage_key)
    except Exception:  # a missing or unreadable file is shown as a link only
        return None
    return await asyncio.to_thread(_scale, raw, max_px)


def _scale(raw: bytes, max_px: int) -> str | None:
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(io.BytesIO(raw)) as img:
            img.thumbnail((max_px, max_px))
            out = io.BytesIO()
            if img.mode in ("RGBA", "LA", "P"):
                img.convert("RGBA").save(out, "PNG", optimize=True)
                mime = "image/png"
            else:
                img.convert("RGB").save(out, "JPEG", quality=80)
                mime = "image/jpeg"
    except (UnidentifiedImageError, OSError, ValueError, Image.DecompressionBombError):
        return None
    return f"data:{mime};base64," + base64.b64encode(out.getvalue()).decode()


def version_text(message_type: str, content: object, data: object) -> str:
    """A stored version as text: structured content as its JSON."""
    if message_type in ("incident_data", "system"):
        value = source.decode_json(data)
        return json.dumps(value, ensure_ascii=False, sort_keys=True) if value is not None else ""
    return "" if content is None else str(content)
