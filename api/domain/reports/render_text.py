"""The Markdown, CSV and JSON reports, written piece by piece like the HTML one."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import AsyncIterator
from typing import Any

from api.domain.core.timefmt import iso
from api.domain.reports import source
from api.domain.reports.charts import all_leaves
from api.domain.reports.document import (
    Entry,
    Prepared,
    describe_event,
    duration_text,
    entries,
    version_text,
)
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
    rows = [
        ("Status", h.status),
        ("Room", str(h.room_id)),
        ("Created", f"{p.clock.local(h.created_at)} by {h.created_by_name}"),
        ("First message", p.clock.local(h.first_message_at) or "—"),
        ("Resolved", p.clock.local(h.resolved_at) or "not resolved"),
        ("Duration", duration_text(h.first_message_at, p.end_at) + ("" if h.resolved_at else " (so far)")),
        ("Messages", f"{h.message_count:,}"),
        (
            "Report generated",
            f"{p.clock.local(p.generated_at)} for {p.reader.display_name} ({p.reader.role})",
        ),
    ]
    yield "".join(f"| {md_escape(k)} | {md_escape(v)} |\n" for k, v in rows) + "\n"

    yield "## Status history\n\n| Time | Change | By |\n|---|---|---|\n"
    yield f"| {p.clock.local(h.created_at)} | created (active) | {md_escape(h.created_by_name)} |\n"
    async for row in source.system_events(p.db, p.room_id, ["room_status_changed"]):
        data = source.decode_json(row.data) or {}
        yield (
            f"| {p.clock.local(row.created_at)} | {md_escape(data.get('old_status'))} → "
            f"{md_escape(data.get('new_status'))} | {md_escape(row.actor_name)} |\n"
        )

    yield "\n## Participants\n\n| Name | User | Role | Joined | Messages |\n|---|---|---|---|---|\n"
    async for m in source.members(p.db, p.room_id):
        yield (
            f"| {md_escape(m.display_name)} | {md_escape(m.user_id)} | {m.role} | "
            f"{p.clock.local(m.joined_at)} | {int(m.messages)} |\n"
        )
    yield "\n### Role changes\n\n"
    async for row in source.system_events(
        p.db, p.room_id, ["member_added", "member_role_changed", "member_removed"]
    ):
        data = source.decode_json(row.data) or {}
        yield f"- `{p.clock.local(row.created_at)}` {md_escape(describe_event(data, row.actor_name, row.target_name))}\n"

    yield "\n## Incident data\n\n"
    if not p.charts:
        yield "No numeric incident data in this room.\n"
    else:
        yield "| Field | Values | Min | Max | Last | Last at |\n|---|---|---|---|---|---|\n"
        for c in p.charts:
            s = c.series
            unit = f" ({s.unit})" if s.unit else ""
            yield f"| {md_escape(s.name + unit)} | {s.count} | {s.minimum:g} | {s.maximum:g} | {s.last:g} | {p.clock.local(s.last_at)} |\n"
        yield "\n"
        for c in p.charts:
            yield f"![Chart of {md_escape(c.series.name)}]({c.data_uri})\n\n"

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

    yield "\n## Appendix\n\n### Edits\n\n"
    if p.reader.private:
        yield "| Message | Version | Written | Replaced | Next version |\n|---|---|---|---|---|\n"
        async for row in source.edits(p.db, p.room_id):
            yield (
                f"| #{int(row.sequence_number)} by {md_escape(row.sender_name)} | "
                f"{md_escape(version_text(row.message_type, row.content, row.data))} | "
                f"{p.clock.local(row.version_at)} by {md_escape(row.version_by_name)} | "
                f"{p.clock.local(row.replaced_at)} | "
                f"{md_escape(version_text(row.message_type, row.next_content, row.next_data))} |\n"
            )
    else:
        yield "Edit history is included for the room's OWNER and system admins only.\n"
    yield "\n### Deletions\n\n| Message | Deleted | Content |\n|---|---|---|\n"
    async for row in source.deletions(p.db, p.room_id):
        content = (
            version_text(row.message_type, row.content, row.data) or (row.filename or "")
            if p.reader.private
            else "(not shown)"
        )
        yield (
            f"| #{int(row.sequence_number)} by {md_escape(row.sender_name)} | "
            f"{p.clock.local(row.deleted_at)} by {md_escape(row.deleted_by_name)} | {md_escape(content)} |\n"
        )
    a = p.audit
    yield "\n### Audit chain\n\n"
    if a.ok:
        yield f"**Audit chain verified**: {a.entries} entries, chain intact.\n"
    else:
        yield (
            f"**Audit chain BROKEN (tampered)**: first broken link at entry {a.broken_index}: "
            f"{md_escape(a.reason)}. {a.entries} entries before it verified.\n"
        )


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


async def json_report(p: Prepared) -> AsyncIterator[str]:
    h = p.head
    room = {
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
    meta = {
        "generated_at": iso(p.generated_at),
        "time_zone": str(p.clock.tz),
        "reader": {"user_id": p.reader.user_id, "role": p.reader.role, "complete": p.reader.private},
    }
    yield "{" + f'"report":{_j(meta)},"room":{_j(room)},"status_history":['
    first = True
    async for row in source.system_events(p.db, p.room_id, ["room_status_changed"]):
        data = source.decode_json(row.data) or {}
        item = {
            "at": iso(row.created_at),
            "from": data.get("old_status"),
            "to": data.get("new_status"),
            "by": row.sender_id,
        }
        yield ("" if first else ",") + _j(item)
        first = False
    yield '],"participants":['
    first = True
    async for m in source.members(p.db, p.room_id):
        item = {
            "user_id": m.user_id,
            "display_name": m.display_name,
            "role": m.role,
            "joined_at": iso(m.joined_at),
            "messages": int(m.messages),
        }
        yield ("" if first else ",") + _j(item)
        first = False
    series = [
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
    yield f'],"incident_series":{_j(series)},"messages":[\n'
    first = True
    async for entry in entries(p):
        yield ("" if first else ",\n") + _j(_entry_json(p, entry))
        first = False
    yield '\n],"edits":'
    if p.reader.private:
        yield "["
        first = True
        async for row in source.edits(p.db, p.room_id):
            item = {
                "message_id": str(row.message_id),
                "sequence_number": int(row.sequence_number),
                "version": version_text(row.message_type, row.content, row.data),
                "written_at": iso(row.version_at),
                "written_by": row.version_by,
                "replaced_at": iso(row.replaced_at),
                "replaced_by_version": version_text(row.message_type, row.next_content, row.next_data),
            }
            yield ("" if first else ",") + _j(item)
            first = False
        yield "]"
    else:
        yield "null"
    yield ',"deletions":['
    first = True
    async for row in source.deletions(p.db, p.room_id):
        item = {
            "message_id": str(row.message_id),
            "sequence_number": int(row.sequence_number),
            "deleted_at": iso(row.deleted_at),
            "deleted_by": row.deleted_by,
            "content": version_text(row.message_type, row.content, row.data) if p.reader.private else None,
        }
        yield ("" if first else ",") + _j(item)
        first = False
    a = p.audit
    audit = {"ok": a.ok, "entries": a.entries, "broken_index": a.broken_index, "reason": a.reason}
    yield f'],"audit":{_j(audit)}}}\n'
