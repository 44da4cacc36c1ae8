"""The PDF report: the HTML report (with smaller thumbnails) laid out by WeasyPrint.

WeasyPrint (BSD, maintained by CourtBouillon) turns HTML and CSS into PDF with real text, so the
PDF is searchable and its text extractable; it draws the SVG charts itself, so the PDF shows the
same chart as the HTML. Chinese text needs a CJK font installed for fontconfig (Debian's
`fonts-noto-cjk`). The HTML is spooled to a temporary file first, so rendering reads no
database; the layout itself is held by WeasyPrint while it runs (see docs/reports.md for the
bound). Nothing is fetched over the network: every image is a data: URI already, and the
fetcher refuses anything else.
"""

from __future__ import annotations

import asyncio
import os
import tempfile
from collections.abc import AsyncIterator

from api.domain.reports.document import THUMB_PDF, Prepared
from api.domain.reports.render_html import html_report

CHUNK = 64 * 1024


def _render(html_path: str, pdf_path: str) -> None:
    from weasyprint import HTML
    from weasyprint.urls import URLFetcher

    # data: only (the images and charts); links are links, never fetched.
    fetcher = URLFetcher(allowed_protocols={"data"})
    HTML(filename=html_path, url_fetcher=fetcher).write_pdf(pdf_path)


async def pdf_report(p: Prepared) -> AsyncIterator[bytes]:
    fd_html, html_path = tempfile.mkstemp(prefix="andon-report-", suffix=".html")
    fd_pdf, pdf_path = tempfile.mkstemp(prefix="andon-report-", suffix=".pdf")
    os.close(fd_pdf)
    try:
        with os.fdopen(fd_html, "w", encoding="utf-8") as out:
            async for piece in html_report(p, thumb_px=THUMB_PDF):
                out.write(piece)
        await asyncio.to_thread(_render, html_path, pdf_path)
        pdf = await asyncio.to_thread(open, pdf_path, "rb")
        try:
            while chunk := await asyncio.to_thread(pdf.read, CHUNK):
                yield chunk
        finally:
            pdf.close()
    finally:
        for path in (html_path, pdf_path):
            try:
                os.unlink(path)
            except FileNotFoundError:
                pass
