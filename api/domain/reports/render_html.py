"""The HTML report: one self-contained, printable page (styles inline, images and charts as
data: URIs, no script), written piece by piece so the timeline is never held whole.

The PDF is this same HTML laid out by WeasyPrint (`pdf.py`), with smaller image thumbnails.
"""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator
from html import escape

from api.domain.reports import sections, source
from api.domain.reports.charts import UNITS_KEY
from api.domain.reports.document import THUMB_HTML, Entry, Prepared, entries, thumbnail

STYLE = """
:root { --red:#b3261e; --amber:#b26a00; --green:#1e7d32; --ink:#1c1b1f; --muted:#5f5d66;
        --line:#dddbe3; --bg:#f6f5f8; --card:#fff; --mention:#fff1b8; }
* { box-sizing: border-box; }
body { font-family: system-ui, "Noto Sans", "Noto Sans CJK SC", "Noto Sans CJK TC", "DejaVu Sans", sans-serif;
       color: var(--ink); background: var(--bg); margin: 0; line-height: 1.45; font-size: 14px; }
main { max-width: 960px; margin: 0 auto; padding: 24px; background: var(--card); }
h1 { font-size: 26px; margin: 0 0 4px; } h2 { font-size: 19px; border-bottom: 1px solid var(--line);
     padding-bottom: 4px; margin-top: 28px; } h3 { font-size: 15px; }
.muted { color: var(--muted); }
.pill { display: inline-block; padding: 1px 8px; border-radius: 999px; font-size: 12px; font-weight: 600;
        border: 1px solid var(--line); }
.pill.active { color: var(--red); } .pill.resolved { color: var(--green); } .pill.archived { color: var(--muted); }
table { border-collapse: collapse; width: 100%; margin: 8px 0; }
th, td { text-align: left; border-bottom: 1px solid var(--line); padding: 4px 6px; vertical-align: top; }
th { font-size: 12px; color: var(--muted); font-weight: 600; }
dl.facts { display: grid; grid-template-columns: max-content 1fr; gap: 2px 16px; }
dl.facts dt { color: var(--muted); } dl.facts dd { margin: 0; }
ol.timeline { list-style: none; padding: 0; margin: 0; }
ol.timeline li { padding: 6px 0; border-bottom: 1px solid var(--line); page-break-inside: avoid; }
.meta { font-size: 12px; color: var(--muted); }
.sender { font-weight: 600; color: var(--ink); }
.body { white-space: pre-wrap; word-wrap: break-word; }
mark.mention { background: var(--mention); border-radius: 3px; padding: 0 2px; font-weight: 600; }
li.system .body { color: var(--muted); font-style: italic; }
li.deleted .body { color: var(--muted); }
li.deleted del { color: var(--red); }
.data { font-family: ui-monospace, "DejaVu Sans Mono", monospace; font-size: 12px; }
img.thumb { max-width: 100%; border: 1px solid var(--line); border-radius: 4px; margin-top: 4px; }
figure.chart { margin: 12px 0; page-break-inside: avoid; } figure.chart img { width: 100%; }
.audit-ok { color: var(--green); font-weight: 700; } .audit-broken { color: var(--red); font-weight: 700; }
@media print { body { background: #fff; } main { padding: 0; max-width: none; } a { color: inherit; } }
@page { size: A4; margin: 16mm 14mm; @bottom-right { content: counter(page) " / " counter(pages); font-size: 9px; } }
"""
_PAGE_NUMBERS = '@bottom-right { content: counter(page) " / " counter(pages); font-size: 9px; }'


def _e(value: object) -> str:
    return escape("" if value is None else str(value))


def mention_pattern(names: dict[str, str]) -> re.Pattern[str] | None:
    labels = sorted({n for n in names.values() if n} | {u for u in names if u}, key=len, reverse=True)
    if not labels:
        return None
    return re.compile("@(?:" + "|".join(re.escape(label) for label in labels) + ")")


def segments(text: str, names: dict[str, str]) -> list[tuple[str, bool]]:
    """The text split into (piece, is_mention); `@Name` of a mentioned user is a mention."""
    pattern = mention_pattern(names)
    if pattern is None:
        return [(text, False)]
    out: list[tuple[str, bool]] = []
    pos = 0
    for match in pattern.finditer(text):
        if match.start() > pos:
            out.append((text[pos : match.start()], False))
        out.append((match.group(0), True))
        pos = match.end()
    if pos < len(text):
        out.append((text[pos:], False))
    return out


def _text_html(text: str, names: dict[str, str]) -> str:
    parts = segments(text, names)
    html = "".join(f'<mark class="mention">{_e(p)}</mark>' if m else _e(p) for p, m in parts)
    if names and not any(m for _, m in parts):
        html += " " + " ".join(f'<mark class="mention">@{_e(n)}</mark>' for n in names.values())
    return html


def _data_html(data: dict[str, object]) -> str:
    units = data.get(UNITS_KEY)
    unit_of = units if isinstance(units, dict) else {}
    rows = "".join(
        f"<tr><th>{_e(k)}</th><td>{_e(json.dumps(v, ensure_ascii=False) if not isinstance(v, str) else v)}"
        + (f" {_e(unit_of[k])}" if isinstance(unit_of.get(k), str) else "")
        + "</td></tr>"
        for k, v in data.items()
        if k != UNITS_KEY
    )
    return f'<table class="data">{rows}</table>'


async def _entry_html(p: Prepared, e: Entry, thumb_px: int) -> str:
    time = p.clock.local(e.at)
    classes = [e.kind]
    if e.deleted_at is not None:
        classes.append("deleted")
    marks = ""
    if e.edited_at is not None and e.deleted_at is None:
        marks += f' · <span class="edited">edited {_e(p.clock.local(e.edited_at))}</span>'
    if e.deleted_at is not None:
        marks += f' · <span class="deleted-mark">deleted by {_e(e.deleted_by_name)} at {_e(p.clock.local(e.deleted_at))}</span>'
    head = (
        f'<div class="meta"><time datetime="{_e(p.clock.utc(e.at))}">{_e(time)}</time> · '
        f'<span class="sender">{_e(e.sender_name)}</span> · #{e.seq}{marks}</div>'
    )
    if e.kind == "system":
        body = _e(e.event)
    elif e.content_hidden:
        body = "<em>This message was deleted.</em>"
    else:
        body = ""
        if e.text is not None:
            body = _text_html(e.text, e.mentions)
        if e.data is not None:
            body += _data_html(e.data)
        if e.file is not None:
            link = f'<a href="{_e(e.file.url)}">{_e(e.file.filename)}</a> <span class="muted">({e.file.size:,} bytes)</span>'
            if e.kind == "image_ref":
                uri = await thumbnail(p, e.file, thumb_px)
                img = f'<br><img class="thumb" alt="{_e(e.file.filename)}" src="{uri}">' if uri else ""
                body = f"🖼 {link}{img}"
            else:
                body = f"📎 {link}"
        if e.deleted_at is not None:
            body = f"<del>{body}</del>"
    return f'<li class="{" ".join(classes)}" id="m{e.seq}" data-seq="{e.seq}">{head}<div class="body">{body}</div></li>\n'


# Between two parts of a report rendered in parts (`part_every`): each part is a whole document.
PART_BREAK = "\x00andon-report-part\x00"


async def html_report(
    p: Prepared, *, thumb_px: int = THUMB_HTML, part_every: int | None = None, page_numbers: bool = True
) -> AsyncIterator[str]:
    """The report as one HTML document; with `part_every`, as several separated by `PART_BREAK`,
    a new one after every `part_every` timeline entries (the PDF lays out one part at a time)."""
    style = STYLE if page_numbers else STYLE.replace(_PAGE_NUMBERS, "")
    prefix = (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f"<title>{_e(p.head.title)} — incident report</title>"
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<style>{style}</style></head><body><main>\n"
    )
    yield prefix
    yield _header(p)
    yield _summary(p)
    async for piece in _status_history(p):
        yield piece
    async for piece in _participants(p):
        yield piece
    yield _charts(p)
    async for piece in _timeline(p, thumb_px, part_every, prefix):
        yield piece
    async for piece in _files(p):
        yield piece
    async for piece in _appendix(p):
        yield piece
    yield "</section></main></body></html>\n"


def _header(p: Prepared) -> str:
    head = p.head
    return (
        f'<header><h1 id="title">{_e(head.title)}</h1>'
        f'<p><span class="pill {_e(head.status)}">{_e(head.status)}</span> '
        f'<span class="muted">Incident report · room {_e(head.room_id)}</span></p>'
        + (f'<p class="description">{_e(head.description)}</p>' if head.description else "")
        + "</header>\n"
    )


def _summary(p: Prepared) -> str:
    facts = "".join(f"<dt>{_e(k)}</dt><dd>{_e(v)}</dd>" for k, v in sections.summary_facts(p))
    return f'<section id="summary"><h2>Summary</h2><dl class="facts">{facts}</dl></section>\n'


def _table_head(section: str, title: str, columns: list[str]) -> str:
    cells = "".join(f"<th>{c}</th>" for c in columns)
    return f'<section id="{section}"><h2>{title}</h2><table><thead><tr>{cells}</tr></thead><tbody>'


async def _status_history(p: Prepared) -> AsyncIterator[str]:
    yield _table_head("status-history", "Status history", ["Time", "Change", "By"])
    yield (
        f"<tr><td>{_e(p.clock.local(p.head.created_at))}</td><td>created (active)</td>"
        f"<td>{_e(p.head.created_by_name)}</td></tr>"
    )
    async for c in sections.status_changes(p):
        yield f"<tr><td>{_e(p.clock.local(c.at))}</td><td>{_e(c.old)} → {_e(c.new)}</td><td>{_e(c.by_name)}</td></tr>"
    yield "</tbody></table></section>\n"


async def _participants(p: Prepared) -> AsyncIterator[str]:
    yield _table_head("participants", "Participants", ["Name", "User", "Role", "Joined", "Messages"])
    async for m in source.members(p.db, p.room_id):
        yield (
            f"<tr><td>{_e(m.display_name)}</td><td>{_e(m.user_id)}</td><td>{_e(m.role)}</td>"
            f"<td>{_e(p.clock.local(m.joined_at))}</td><td>{int(m.messages):,}</td></tr>"
        )
    yield '</tbody></table><h3>Role changes</h3><ul class="role-changes">'
    async for at, sentence in sections.role_changes(p):
        yield f"<li>{_e(p.clock.local(at))}: {_e(sentence)}</li>"
    yield "</ul></section>\n"


def _charts(p: Prepared) -> str:
    out = ['<section id="charts"><h2>Incident data</h2>']
    if not p.charts:
        out.append('<p class="muted">No numeric incident data in this room.</p>')
    for chart in p.charts:
        s = chart.series
        out.append(
            f'<figure class="chart" data-field="{_e(s.name)}"><img alt="Chart of {_e(s.name)} over time" src="{chart.data_uri}">'
            f"<figcaption>{_e(s.name)}{_e(f' ({s.unit})' if s.unit else '')}: {s.count:,} values, min {s.minimum:g}, max {s.maximum:g}, "
            f"last {s.last:g} ({_e(p.clock.local(s.last_at))})</figcaption></figure>\n"
        )
    if p.dropped_fields:
        out.append(f'<p class="muted">Not charted (over the chart limit): {_e(", ".join(p.dropped_fields))}</p>')
    out.append("</section>\n")
    return "".join(out)


async def _timeline(p: Prepared, thumb_px: int, part_every: int | None, prefix: str) -> AsyncIterator[str]:
    """The timeline in pieces of at most 200 rows; with `part_every`, a new document every so many."""
    yield f'<section id="timeline"><h2>Timeline <span class="muted">({_e(p.clock.tz)})</span></h2><ol class="timeline">\n'
    batch: list[str] = []
    count = 0
    async for entry in entries(p):
        batch.append(await _entry_html(p, entry, thumb_px))
        count += 1
        part_ends = bool(part_every) and count % (part_every or 1) == 0
        if part_ends:
            batch.append(
                "</ol></section></main></body></html>\n"
                + PART_BREAK
                + prefix
                + f'<section class="timeline-part"><ol class="timeline" start="{count + 1}">\n'
            )
        if len(batch) >= 200 or part_ends:
            yield "".join(batch)
            batch.clear()
    if batch:
        yield "".join(batch)
    yield "</ol></section>\n"


async def _files(p: Prepared) -> AsyncIterator[str]:
    yield _table_head("files", "Files", ["Time", "File", "Type", "Size", "By"])
    async for e in entries(p, types=["image_ref", "file_ref"]):
        if e.file is None:
            continue
        yield (
            f'<tr><td>{_e(p.clock.local(e.at))}</td><td><a href="{_e(e.file.url)}">{_e(e.file.filename)}</a></td>'
            f"<td>{_e(e.file.content_type)}</td><td>{e.file.size:,}</td><td>{_e(e.sender_name)}</td></tr>"
        )
    yield "</tbody></table></section>\n"


async def _appendix(p: Prepared) -> AsyncIterator[str]:
    """Edits (private readers only), deletions and the audit chain's verdict; leaves the section open."""
    yield '<section id="appendix"><h2>Appendix</h2><h3 id="edits">Edits</h3>'
    if p.reader.private:
        yield "<table><thead><tr><th>Message</th><th>Version</th><th>Written</th><th>Replaced</th><th>Next version</th></tr></thead><tbody>"
        async for ed in sections.edit_rows(p):
            yield (
                f"<tr><td>#{ed.seq} by {_e(ed.sender_name)}</td>"
                f'<td class="body">{_e(ed.version)}</td>'
                f"<td>{_e(p.clock.local(ed.written_at))} by {_e(ed.written_by_name)}</td>"
                f"<td>{_e(p.clock.local(ed.replaced_at))}</td>"
                f'<td class="body">{_e(ed.next_version)}</td></tr>'
            )
        yield "</tbody></table>"
    else:
        yield f'<p class="muted">{_e(sections.EDITS_PRIVATE_NOTE)}</p>'
    yield '<h3 id="deletions">Deletions</h3><table><thead><tr><th>Message</th><th>Deleted</th><th>Content</th></tr></thead><tbody>'
    async for d in sections.deletion_rows(p):
        yield (
            f"<tr><td>#{d.seq} by {_e(d.sender_name)}, {_e(p.clock.local(d.created_at))}</td>"
            f"<td>{_e(p.clock.local(d.deleted_at))} by {_e(d.deleted_by_name)}</td>"
            f'<td class="body">{_e("(not shown)" if d.content is None else d.content)}</td></tr>'
        )
    yield "</tbody></table>"
    ok, headline, detail = sections.audit_sentence(p)
    yield (
        f'<h3 id="audit">Audit chain</h3><p class="{"audit-ok" if ok else "audit-broken"}" id="audit-result">'
        f"{_e(headline)}: {_e(detail)}</p>"
        f'<p class="muted">Checked as <code>andon audit verify {_e(p.head.room_id)}</code> does, '
        f"at {_e(p.clock.local(p.generated_at))}.</p>"
    )
