"""The Markdown, CSV and JSON reports, written piece by piece like the HTML one."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import AsyncIterator
from typing import Any

from api.domain.core.timefmt import iso
from api.domain.reports import sections, source
from api.domain.reports.charts import all_leaves
from api.domain.reports.document import Entry, Prepared, entries
from api.domain.reports.render_html import segments

_MD_SPECIAL = str.maketrans({c: "\\" + c for c in "\\`*_{}[]<>#|!~"})


def md_escape(value: object) -> str:
    """Text that Markdown shows as typed (one line: newlines become `<br>`)."""
    return (
        ("" if value is None else str(value)).translate(_MD_SPECIAL).replace("\r", "").replace("\n", "<br>")
    )


def _md_text(text: str, names: dict[str, str]) -> str:
    parts = segments(text, names)
    out = "".join(f"**{md_escape(piece)}**" if mention else md_escape(piece) for piece, mention in parts)
    if names and not any(m for _, m in parts):
        out += " " + " ".join(f"**@{md_escape(n)}**" for n in names.values())
    return out


def _md_entry(p: Prepared, e: Entry) -> str:
    who = f"**{md_escape(e.sender_name)}**"
    prefix = f"- `{p.clock.local(e.at)}` {who} (#{e.seq})"
    if e.kind == "system":
        return f"{prefix} _{md_escape(e.event)}_\n"
    if e.content_hidden:
        return f"{prefix} _deleted by {md_escape(e.deleted_by_name)} at {p.clock.local(e.deleted_at)}_\n"
    body = ""
    if e.text is not None:
        body = _md_text(e.text, e.mentions)
    if e.data is not None:
        body += " " + ", ".join(
            f"{md_escape(k)} = `{json.dumps(v, ensure_ascii=False)}`" for k, v in all_leaves(e.data).items()
        )
    if e.file is not None:
        label = md_escape(e.file.filename)
        body = f"![{label}]({e.file.url})" if e.kind == "image_ref" else f"📎 [{label}]({e.file.url})"
    if e.deleted_at is not None:
        body = f"~~{body}~~ _deleted by {md_escape(e.deleted_by_name)} at {p.clock.local(e.deleted_at)}_"
    elif e.edited_at is not None:
        body += f" _(edited {p.clock.local(e.edited_at)})_"
    return f"{prefix}: {body}\n"


async def markdown_report(p: Prepared) -> AsyncIterator[str]:
    h = p.head
    yield f"# {md_escape(h.title)}\n\n"
    if h.description:
        yield f"{md_escape(h.description)}\n\n"
    yield "## Summary\n\n| | |\n|---|---|\n"
    yield "".join(f"| {md_escape(k)} | {md_escape(v)} |\n" for k, v in sections.summary_facts(p)) + "\n"

    yield "## Status history\n\n| Time | Change | By |\n|---|---|---|\n"
    yield f"| {p.clock.local(h.created_at)} | created (active) | {md_escape(h.created_by_name)} |\n"
    async for c in sections.status_changes(p):
        yield f"| {p.clock.local(c.at)} | {md_escape(c.old)} → {md_escape(c.new)} | {md_escape(c.by_name)} |\n"

    yield "\n## Participants\n\n| Name | User | Role | Joined | Messages |\n|---|---|---|---|---|\n"
    async for m in source.members(p.db, p.room_id):
        yield (
            f"| {md_escape(m.display_name)} | {md_escape(m.user_id)} | {m.role} | "
            f"{p.clock.local(m.joined_at)} | {int(m.messages)} |\n"
        )
    yield "\n### Role changes\n\n"
    async for at, sentence in sections.role_changes(p):
        yield f"- `{p.clock.local(at)}` {md_escape(sentence)}\n"

    yield _md_charts(p)

    yield f"\n## Timeline ({p.clock.tz})\n\n"
    async for entry in entries(p):
        yield _md_entry(p, entry)

    yield "\n## Files\n\n"
    async for e in entries(p, types=["image_ref", "file_ref"]):
        if e.file is not None:
            yield (
                f"- `{p.clock.local(e.at)}` [{md_escape(e.file.filename)}]({e.file.url}) "
                f"({md_escape(e.file.content_type)}, {e.file.size:,} bytes) by {md_escape(e.sender_name)}\n"
            )

    async for piece in _md_appendix(p):
        yield piece


def _md_charts(p: Prepared) -> str:
    if not p.charts:
        return "\n## Incident data\n\nNo numeric incident data in this room.\n"
    out = ["\n## Incident data\n\n| Field | Values | Min | Max | Last | Last at |\n|---|---|---|---|---|---|\n"]
    for c in p.charts:
        s = c.series
        unit = f" ({s.unit})" if s.unit else ""
        out.append(
            f"| {md_escape(s.name + unit)} | {s.count} | {s.minimum:g} | {s.maximum:g} | {s.last:g} | {p.clock.local(s.last_at)} |\n"
        )
    out.append("\n")
    out += [f"![Chart of {md_escape(c.series.name)}]({c.data_uri})\n\n" for c in p.charts]
    return "".join(out)


async def _md_appendix(p: Prepared) -> AsyncIterator[str]:
    yield "\n## Appendix\n\n### Edits\n\n"
    if p.reader.private:
        yield "| Message | Version | Written | Replaced | Next version |\n|---|---|---|---|---|\n"
        async for ed in sections.edit_rows(p):
            yield (
                f"| #{ed.seq} by {md_escape(ed.sender_name)} | {md_escape(ed.version)} | "
                f"{p.clock.local(ed.written_at)} by {md_escape(ed.written_by_name)} | "
                f"{p.clock.local(ed.replaced_at)} | {md_escape(ed.next_version)} |\n"
            )
    else:
        yield sections.EDITS_PRIVATE_NOTE + "\n"
    yield "\n### Deletions\n\n| Message | Deleted | Content |\n|---|---|---|\n"
    async for d in sections.deletion_rows(p):
        content = "(not shown)" if d.content is None else d.content
        yield (
            f"| #{d.seq} by {md_escape(d.sender_name)} | "
            f"{p.clock.local(d.deleted_at)} by {md_escape(d.deleted_by_name)} | {md_escape(content)} |\n"
        )
    _ok, headline, detail = sections.audit_sentence(p)
    yield f"\n### Audit chain\n\n**{headline}**: {md_escape(detail)}\n"


def _csv_line(values: list[Any]) -> str:
    buf = io.StringIO()
    csv.writer(buf, lineterminator="\r\n").writerow(values)
    return buf.getvalue()


_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def _text_cell(text: str) -> str:
    """A text cell a spreadsheet shows as text: one starting like a formula gets a leading `'`."""
    return "'" + text if text.startswith(_FORMULA_START) else text


def _cell(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return value
    if isinstance(value, str):
        return _text_cell(value)
    return _text_cell(json.dumps(value, ensure_ascii=False, sort_keys=True))


async def csv_report(p: Prepared) -> AsyncIterator[str]:
    """One row per `incident_data` message, one column per field (dotted paths for nested ones)."""
    local_label = f"time_{p.clock.tz}".replace("/", "_")
    fixed = [
        "sequence_number",
        f"{local_label} ({_offset(p)})",
        "time_utc",
        "sender_id",
        "sender_display_name",
        "edited",
        "deleted",
    ]
    yield "\ufeff" + _csv_line(fixed + [_text_cell(c) for c in p.columns])
    async for e in entries(p, types=["incident_data"]):
        if e.content_hidden:
            continue
        leaves = all_leaves(e.data or {})
        yield _csv_line(
            [
                e.seq,
                p.clock.local(e.at),
                p.clock.utc(e.at),
                _text_cell(e.sender_id),
                _text_cell(e.sender_name),
                "true" if e.edited_at else "false",
                "true" if e.deleted_at else "false",
            ]
            + [_cell(leaves.get(col)) for col in p.columns]
        )


def _offset(p: Prepared) -> str:
    from api.domain.reports.document import offset_label

    return offset_label(p.generated_at, p.clock.tz)


def _j(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, sort_keys=True)


def _entry_json(p: Prepared, e: Entry) -> dict[str, Any]:
    obj: dict[str, Any] = {
        "message_id": e.message_id,
        "sequence_number": e.seq,
        "created_at": iso(e.at),
        "created_at_local": p.clock.local(e.at),
        "sender_id": e.sender_id,
        "sender_display_name": e.sender_name,
        "message_type": e.kind,
        "content": e.text if e.kind not in ("incident_data", "system") else e.data,
        "mentions": [{"user_id": u, "display_name": n} for u, n in e.mentions.items()],
        "edited_at": iso(e.edited_at),
        "deleted_at": iso(e.deleted_at),
        "deleted_by_display_name": e.deleted_by_name,
    }
    if e.kind == "system":
        obj["description"] = e.event
    if e.file is not None:
        obj["file"] = {
            "file_id": e.file.file_id,
            "filename": e.file.filename,
            "content_type": e.file.content_type,
            "size": e.file.size,
            "url": e.file.url,
        }
    if p.reader.private:
        obj["edit_count"] = e.edit_count
    return obj


def _room_json(p: Prepared) -> dict[str, Any]:
    h = p.head
    return {
        "room_id": str(h.room_id),
        "title": h.title,
        "description": h.description,
        "status": h.status,
        "created_by": h.created_by,
        "created_at": iso(h.created_at),
        "first_message_at": iso(h.first_message_at),
        "resolved_at": iso(h.resolved_at),
        "duration_seconds": int((p.end_at - h.first_message_at).total_seconds())
        if p.end_at and h.first_message_at
        else None,
        "message_count": h.message_count,
        "last_sequence_number": h.last_seq,
    }


def _series_json(p: Prepared) -> list[dict[str, Any]]:
    return [
        {
            "field": c.series.name,
            "unit": c.series.unit,
            "count": c.series.count,
            "min": c.series.minimum,
            "max": c.series.maximum,
            "last": c.series.last,
            "points": [[iso(at), v] for at, v in c.series.drawn()],
        }
        for c in p.charts
    ]


async def _json_array(items: AsyncIterator[Any], separator: str = ",") -> AsyncIterator[str]:
    """The items as the elements of a JSON array (brackets written by the caller)."""
    first = True
    async for item in items:
        yield ("" if first else separator) + _j(item)
        first = False


async def _status_json(p: Prepared) -> AsyncIterator[dict[str, Any]]:
    async for c in sections.status_changes(p):
        yield {"at": iso(c.at), "from": c.old, "to": c.new, "by": c.by_id}


async def _members_json(p: Prepared) -> AsyncIterator[dict[str, Any]]:
    async for m in source.members(p.db, p.room_id):
        yield {
            "user_id": m.user_id,
            "display_name": m.display_name,
            "role": m.role,
            "joined_at": iso(m.joined_at),
            "messages": int(m.messages),
        }


async def _messages_json(p: Prepared) -> AsyncIterator[dict[str, Any]]:
    async for entry in entries(p):
        yield _entry_json(p, entry)


async def _edits_json(p: Prepared) -> AsyncIterator[dict[str, Any]]:
    async for ed in sections.edit_rows(p):
        yield {
            "message_id": ed.message_id,
            "sequence_number": ed.seq,
            "version": ed.version,
            "written_at": iso(ed.written_at),
            "written_by": ed.written_by,
            "replaced_at": iso(ed.replaced_at),
            "replaced_by_version": ed.next_version,
        }


async def _deletions_json(p: Prepared) -> AsyncIterator[dict[str, Any]]:
    async for d in sections.deletion_rows(p):
        yield {
            "message_id": d.message_id,
            "sequence_number": d.seq,
            "deleted_at": iso(d.deleted_at),
            "deleted_by": d.deleted_by,
            "content": d.content,
        }


async def json_report(p: Prepared) -> AsyncIterator[str]:
    meta = {
        "generated_at": iso(p.generated_at),
        "time_zone": str(p.clock.tz),
        "reader": {"user_id": p.reader.user_id, "role": p.reader.role, "complete": p.reader.private},
    }
    yield "{" + f'"report":{_j(meta)},"room":{_j(_room_json(p))},"status_history":['
    async for piece in _json_array(_status_json(p)):
        yield piece
    yield '],"participants":['
    async for piece in _json_array(_members_json(p)):
        yield piece
    yield f'],"incident_series":{_j(_series_json(p))},"messages":[\n'
    async for piece in _json_array(_messages_json(p), ",\n"):
        yield piece
    yield '\n],"edits":'
    if p.reader.private:
        yield "["
        async for piece in _json_array(_edits_json(p)):
            yield piece
        yield "]"
    else:
        yield "null"
    yield ',"deletions":['
    async for piece in _json_array(_deletions_json(p)):
        yield piece
    a = p.audit
    audit = {"ok": a.ok, "entries": a.entries, "broken_index": a.broken_index, "reason": a.reason}
    yield f'],"audit":{_j(audit)}}}\n'
