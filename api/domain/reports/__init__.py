"""Incident reports: a room's timeline, incident data, charts and audit as HTML, PDF, Markdown,
CSV or JSON, written in bounded memory (see docs/reports.md).

    source       what a report reads, page by page (and the access check)
    charts       numeric incident-data series (bounded) and their SVG charts (pygal)
    document     the prepared header facts and the timeline `Entry` as a reader may see it
    render_html  the self-contained HTML report
    render_text  Markdown, CSV, JSON
    pdf          the HTML laid out by WeasyPrint

The face of the context is `prepare` and `stream_report`.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import AsyncIterator

from api.domain.reports import source
from api.domain.reports.document import FORMATS, MEDIA_TYPES, Prepared, check_format, prepare

__all__ = [
    "FORMATS",
    "MEDIA_TYPES",
    "Prepared",
    "check_format",
    "file_name",
    "prepare",
    "source",
    "stream_report",
]

EXTENSIONS = {"html": "html", "pdf": "pdf", "md": "md", "csv": "csv", "json": "json"}


async def stream_report(p: Prepared, fmt: str) -> AsyncIterator[bytes]:
    """The report in format `fmt` as byte chunks, in order."""
    fmt = check_format(fmt)
    if fmt == "pdf":
        from api.domain.reports.pdf import pdf_report

        async for chunk in pdf_report(p):
            yield chunk
        return
    from api.domain.reports.render_html import html_report
    from api.domain.reports.render_text import csv_report, json_report, markdown_report

    pieces = {"html": html_report, "md": markdown_report, "csv": csv_report, "json": json_report}[fmt](p)
    buffer: list[str] = []
    size = 0
    async for piece in pieces:
        buffer.append(piece)
        size += len(piece)
        if size >= 32 * 1024:
            yield "".join(buffer).encode()
            buffer.clear()
            size = 0
    if buffer:
        yield "".join(buffer).encode()


def file_name(p: Prepared, fmt: str) -> str:
    """`<room title>-<date of the report, display time zone>.<ext>`, safe on any file system."""
    title = unicodedata.normalize("NFC", p.head.title)
    title = re.sub(r'[\x00-\x1f\x7f/\\:*?"<>|]+', " ", title)
    title = re.sub(r"\s+", "-", title.strip()).strip(".-")[:120] or "incident"
    day = p.generated_at.astimezone(p.clock.tz).strftime("%Y-%m-%d")
    return f"{title}-{day}.{EXTENSIONS[fmt]}"
