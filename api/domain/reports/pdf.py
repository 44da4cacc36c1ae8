"""The PDF report: the HTML report (with smaller thumbnails) laid out by WeasyPrint.

WeasyPrint (BSD, maintained by CourtBouillon) turns HTML and CSS into PDF with real text, so the
PDF is searchable and its text extractable; it draws the SVG charts itself, so the PDF shows the
same chart as the HTML. Chinese text needs a CJK font installed for fontconfig (Debian's
`fonts-noto-cjk`). Nothing is fetched over the network: every image is a data: URI already, and
the fetcher allows nothing else.

WeasyPrint holds the whole laid-out document while it renders (~180 KiB per message), so a
large room is laid out in parts of `PART_MESSAGES` timeline entries, each part's HTML spooled
to a temporary file and rendered on its own, and the parts' pages are joined with pypdf. Peak
memory is then that of one part plus the joined pages (compressed content streams, a few KiB a
page), not that of the whole room. Page numbers ("3 / 12") are printed only on a report of
one part, where WeasyPrint knows the page count.

Each part is rendered by a child process (`python -m api.domain.reports.pdf HTML PDF`, at
niceness +10): layout is CPU-bound Python, and in the server's own process it would hold the
GIL for seconds at a time and stall the realtime path; the child's memory goes back to the
system when it exits.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import tempfile
from collections.abc import AsyncIterator
from typing import TextIO

from api.domain.reports.document import THUMB_PDF, Prepared
from api.domain.reports.render_html import PART_BREAK, html_report

CHUNK = 64 * 1024
PART_MESSAGES = 1000
PART_TIMEOUT = 900.0
# Renderer children at once per process (per event loop): each holds a part's layout, ~400 MiB
# for 1,000 messages, so concurrent PDF requests queue rather than multiply that.
RENDER_SLOTS = 1
_slots: dict[asyncio.AbstractEventLoop, asyncio.Semaphore] = {}


def _slot() -> asyncio.Semaphore:
    loop = asyncio.get_running_loop()
    slot = _slots.get(loop)
    if slot is None:
        for old in [k for k in _slots if k.is_closed()]:
            del _slots[old]
        slot = _slots[loop] = asyncio.Semaphore(RENDER_SLOTS)
    return slot


def _render(html_path: str, pdf_path: str) -> None:
    from weasyprint import HTML
    from weasyprint.urls import URLFetcher

    # data: only (the images and charts); links are links, never fetched.
    fetcher = URLFetcher(allowed_protocols={"data"})
    HTML(filename=html_path, url_fetcher=fetcher).write_pdf(pdf_path)


async def _render_part(html_path: str, pdf_path: str) -> None:
    """`_render` in a child process (see the module's notes); an error names the child's complaint."""
    async with _slot():
        await _render_child(html_path, pdf_path)


async def _render_child(html_path: str, pdf_path: str) -> None:
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "api.domain.reports.pdf",
        html_path,
        pdf_path,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        _, err = await asyncio.wait_for(proc.communicate(), PART_TIMEOUT)
    except BaseException:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
        raise
    if proc.returncode != 0:
        tail = err.decode(errors="replace").strip().splitlines()[-1:] or ["no message"]
        raise RuntimeError(f"the PDF renderer failed ({proc.returncode}): {tail[0]}")


def _join(parts: list[str], target: str) -> None:
    from pypdf import PdfWriter

    writer = PdfWriter()
    for path in parts:
        writer.append(path)
    with open(target, "wb") as out:
        writer.write(out)
    writer.close()


class _Parts:
    """Spools HTML parts to temporary files and renders each to PDF when it is complete."""

    def __init__(self, folder: str) -> None:
        self.folder = folder
        self.pdfs: list[str] = []
        self.current: str | None = None
        self.handle: TextIO | None = None

    def _path(self, suffix: str) -> str:
        return os.path.join(self.folder, f"part-{len(self.pdfs):05d}{suffix}")

    def write(self, text: str) -> None:
        if self.handle is None:
            self.current = self._path(".html")
            self.handle = open(self.current, "w", encoding="utf-8")  # closed in finish()
        self.handle.write(text)

    def finish(self) -> str | None:
        """Close the part written so far; its HTML path, or None when nothing was written."""
        if self.handle is None or self.current is None:
            return None
        self.handle.close()
        self.handle = None
        return self.current

    async def close(self) -> None:
        """Render the part written so far (if any) and delete its HTML."""
        html = await asyncio.to_thread(self.finish)
        if html is None:
            return
        pdf = self._path(".pdf")
        await _render_part(html, pdf)
        os.unlink(html)
        self.pdfs.append(pdf)


async def pdf_report(p: Prepared) -> AsyncIterator[bytes]:
    with tempfile.TemporaryDirectory(prefix="andon-report-") as folder:
        parts = _Parts(folder)
        single = p.head.message_count <= PART_MESSAGES
        async for piece in html_report(p, thumb_px=THUMB_PDF, part_every=PART_MESSAGES, page_numbers=single):
            *complete, rest = piece.split(PART_BREAK)
            for text in complete:
                await asyncio.to_thread(parts.write, text)
                await parts.close()
            if rest:
                await asyncio.to_thread(parts.write, rest)
        await parts.close()
        if len(parts.pdfs) == 1:
            result = parts.pdfs[0]
        else:
            result = os.path.join(folder, "report.pdf")
            await asyncio.to_thread(_join, parts.pdfs, result)
        pdf = await asyncio.to_thread(open, result, "rb")
        try:
            while chunk := await asyncio.to_thread(pdf.read, CHUNK):
                yield chunk
        finally:
            pdf.close()


if __name__ == "__main__":
    # The renderer child: python -m api.domain.reports.pdf HTML PDF
    os.nice(10)
    _render(sys.argv[1], sys.argv[2])
