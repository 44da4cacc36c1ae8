"""The HTML report: one self-contained, printable page (styles inline, images and charts as
data: URIs, no script), written piece by piece so the timeline is never held whole.

The PDF is this same HTML laid out by WeasyPrint (`pdf.py`), with smaller image thumbnails.
"""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator
from html import escape

from api.domain.reports import source
from api.domain.reports.charts import UNITS_KEY
from api.domain.reports.document import (
    THUMB_HTML,
    Entry,
    Prepared,
    describe_event,
    duration_text,
    entries,
    thumbnail,
    version_text,
)

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
    head = p.head
    lang_title = _e(head.title)
    style = STYLE if page_numbers else STYLE.replace(_PAGE_NUMBERS, "")
    prefix = (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f"<title>{lang_title} — incident report</title>"
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<style>{style}</style></head><body><main>\n"
    )
    yield prefix
    yield (
        f'<header><h1 id="title">{lang_title}</h1>'
        f'<p><span class="pill {_e(head.status)}">{_e(head.status)}</span> '
        f'<span class="muted">Incident report · room {_e(head.room_id)}</span></p>'
        + (f'<p class="description">{_e(head.description)}</p>' if head.description else "")
        + "</header>\n"
    )
    yield '<section id="summary"><h2>Summary</h2><dl class="facts">'
    facts = [
        ("Status", head.status),
        ("Created", f"{p.clock.local(head.created_at)} by {head.created_by_name}"),
        ("First message", p.clock.local(head.first_message_at) or "—"),
        ("Resolved", p.clock.local(head.resolved_at) or "not resolved"),
        (
            "Duration",
            duration_text(head.first_message_at, p.end_at) + ("" if head.resolved_at else " (so far)"),
        ),
        ("Messages", f"{head.message_count:,}"),
        ("Incident data entries", f"{p.incident_rows:,}"),
        (
            "Report generated",
            f"{p.clock.local(p.generated_at)} for {p.reader.display_name} ({p.reader.role})",
        ),
        (
            "Content",
            "complete: deleted content and edit history included"
            if p.reader.private
            else "as the room shows it to this reader: deleted content and edit history left out",
        ),
    ]
    yield "".join(f"<dt>{_e(k)}</dt><dd>{_e(v)}</dd>" for k, v in facts) + "</dl></section>\n"

    yield '<section id="status-history"><h2>Status history</h2><table><thead><tr><th>Time</th><th>Change</th><th>By</th></tr></thead><tbody>'
    yield f"<tr><td>{_e(p.clock.local(head.created_at))}</td><td>created (active)</td><td>{_e(head.created_by_name)}</td></tr>"
    async for row in source.system_events(p.db, p.room_id, ["room_status_changed"]):
        data = source.decode_json(row.data) or {}
        yield (
            f"<tr><td>{_e(p.clock.local(row.created_at))}</td>"
            f"<td>{_e(data.get('old_status'))} → {_e(data.get('new_status'))}</td><td>{_e(row.actor_name)}</td></tr>"
        )
    yield "</tbody></table></section>\n"

    yield '<section id="participants"><h2>Participants</h2><table><thead><tr><th>Name</th><th>User</th><th>Role</th><th>Joined</th><th>Messages</th></tr></thead><tbody>'
    async for m in source.members(p.db, p.room_id):
        yield (
            f"<tr><td>{_e(m.display_name)}</td><td>{_e(m.user_id)}</td><td>{_e(m.role)}</td>"
            f"<td>{_e(p.clock.local(m.joined_at))}</td><td>{int(m.messages):,}</td></tr>"
        )
    yield '</tbody></table><h3>Role changes</h3><ul class="role-changes">'
    async for row in source.system_events(
        p.db, p.room_id, ["member_added", "member_role_changed", "member_removed"]
    ):
        data = source.decode_json(row.data) or {}
        yield f"<li>{_e(p.clock.local(row.created_at))}: {_e(describe_event(data, row.actor_name, row.target_name))}</li>"
    yield "</ul></section>\n"

    yield '<section id="charts"><h2>Incident data</h2>'
    if not p.charts:
        yield '<p class="muted">No numeric incident data in this room.</p>'
    for chart in p.charts:
        s = chart.series
        yield (
            f'<figure class="chart" data-field="{_e(s.name)}"><img alt="Chart of {_e(s.name)} over time" src="{chart.data_uri}">'
            f"<figcaption>{_e(s.name)}{_e(f' ({s.unit})' if s.unit else '')}: {s.count:,} values, min {s.minimum:g}, max {s.maximum:g}, "
            f"last {s.last:g} ({_e(p.clock.local(s.last_at))})</figcaption></figure>\n"
        )
    if p.dropped_fields:
        yield f'<p class="muted">Not charted (over the chart limit): {_e(", ".join(p.dropped_fields))}</p>'
    yield "</section>\n"

    yield f'<section id="timeline"><h2>Timeline <span class="muted">({_e(p.clock.tz)})</span></h2><ol class="timeline">\n'
    batch: list[str] = []
    count = 0
    async for entry in entries(p):
        batch.append(await _entry_html(p, entry, thumb_px))
        count += 1
        if part_every and count % part_every == 0:
            batch.append(
                "</ol></section></main></body></html>\n"
                + PART_BREAK
                + prefix
                + f'<section class="timeline-part"><ol class="timeline" start="{count + 1}">\n'
            )
        if len(batch) >= 200 or (part_every and count % part_every == 0):
            yield "".join(batch)
            batch.clear()
    if batch:
        yield "".join(batch)
    yield "</ol></section>\n"

    yield '<section id="files"><h2>Files</h2><table><thead><tr><th>Time</th><th>File</th><th>Type</th><th>Size</th><th>By</th></tr></thead><tbody>'
    async for e in entries(p, types=["image_ref", "file_ref"]):
        if e.file is None:
            continue
        yield (
            f'<tr><td>{_e(p.clock.local(e.at))}</td><td><a href="{_e(e.file.url)}">{_e(e.file.filename)}</a></td>'
            f"<td>{_e(e.file.content_type)}</td><td>{e.file.size:,}</td><td>{_e(e.sender_name)}</td></tr>"
        )
    yield "</tbody></table></section>\n"

    yield '<section id="appendix"><h2>Appendix</h2>'
    yield '<h3 id="edits">Edits</h3>'
    if p.reader.private:
        yield "<table><thead><tr><th>Message</th><th>Version</th><th>Written</th><th>Replaced</th><th>Next version</th></tr></thead><tbody>"
        async for row in source.edits(p.db, p.room_id):
            yield (
                f"<tr><td>#{int(row.sequence_number)} by {_e(row.sender_name)}</td>"
                f'<td class="body">{_e(version_text(row.message_type, row.content, row.data))}</td>'
                f"<td>{_e(p.clock.local(row.version_at))} by {_e(row.version_by_name)}</td>"
                f"<td>{_e(p.clock.local(row.replaced_at))}</td>"
                f'<td class="body">{_e(version_text(row.message_type, row.next_content, row.next_data))}</td></tr>'
            )
        yield "</tbody></table>"
    else:
        yield '<p class="muted">Edit history is included for the room\'s OWNER and system admins only.</p>'
    yield '<h3 id="deletions">Deletions</h3><table><thead><tr><th>Message</th><th>Deleted</th><th>Content</th></tr></thead><tbody>'
    async for row in source.deletions(p.db, p.room_id):
        content = (
            version_text(row.message_type, row.content, row.data) or (row.filename or "")
            if p.reader.private
            else "(not shown)"
        )
        yield (
            f"<tr><td>#{int(row.sequence_number)} by {_e(row.sender_name)}, {_e(p.clock.local(row.created_at))}</td>"
            f"<td>{_e(p.clock.local(row.deleted_at))} by {_e(row.deleted_by_name)}</td>"
            f'<td class="body">{_e(content)}</td></tr>'
        )
    yield "</tbody></table>"
    a = p.audit
    if a.ok:
        verdict = f'<p class="audit-ok" id="audit-result">Audit chain verified: {a.entries} entries, chain intact.</p>'
    else:
        verdict = (
            f'<p class="audit-broken" id="audit-result">Audit chain BROKEN (tampered): first broken link at entry '
            f"{_e(a.broken_index)}: {_e(a.reason)}. {a.entries} entries before it verified.</p>"
        )
    yield f'<h3 id="audit">Audit chain</h3>{verdict}<p class="muted">Checked as <code>andon audit verify {_e(head.room_id)}</code> does, at {_e(p.clock.local(p.generated_at))}.</p>'
    yield "</section></main></body></html>\n"
