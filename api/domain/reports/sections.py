"""The report's sections as plain rows, read and decided once for every format.

Each renderer (HTML, Markdown, JSON) only lays these rows out: what a section holds, and what this
reader may see of it (deleted content, edit history), is decided here and nowhere else.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime

from api.domain.reports import source
from api.domain.reports.document import Prepared, describe_event, duration_text, version_text


def summary_facts(p: Prepared) -> list[tuple[str, str]]:
    """The summary's (label, value) pairs."""
    h = p.head
    return [
        ("Status", h.status),
        ("Room", str(h.room_id)),
        ("Created", f"{p.clock.local(h.created_at)} by {h.created_by_name}"),
        ("First message", p.clock.local(h.first_message_at) or "—"),
        ("Resolved", p.clock.local(h.resolved_at) or "not resolved"),
        ("Duration", duration_text(h.first_message_at, p.end_at) + ("" if h.resolved_at else " (so far)")),
        ("Messages", f"{h.message_count:,}"),
        ("Incident data entries", f"{p.incident_rows:,}"),
        ("Report generated", f"{p.clock.local(p.generated_at)} for {p.reader.display_name} ({p.reader.role})"),
        (
            "Content",
            "complete: deleted content and edit history included"
            if p.reader.private
            else "as the room shows it to this reader: deleted content and edit history left out",
        ),
    ]


@dataclass(frozen=True, slots=True)
class StatusChange:
    at: datetime
    old: str | None
    new: str | None
    by_id: str
    by_name: str


async def status_changes(p: Prepared) -> AsyncIterator[StatusChange]:
    """The room's status changes after its creation, oldest first."""
    async for row in source.system_events(p.db, p.room_id, ["room_status_changed"]):
        data = source.decode_json(row.data) or {}
        yield StatusChange(row.created_at, data.get("old_status"), data.get("new_status"), row.sender_id, row.actor_name)


async def role_changes(p: Prepared) -> AsyncIterator[tuple[datetime, str]]:
    """(time, sentence) for every membership added, changed or ended, oldest first."""
    async for row in source.system_events(p.db, p.room_id, ["member_added", "member_role_changed", "member_removed"]):
        data = source.decode_json(row.data) or {}
        yield row.created_at, describe_event(data, row.actor_name, row.target_name)


@dataclass(frozen=True, slots=True)
class EditRow:
    message_id: str
    seq: int
    sender_name: str
    version: str
    written_at: datetime
    written_by: str
    written_by_name: str
    replaced_at: datetime
    next_version: str


async def edit_rows(p: Prepared) -> AsyncIterator[EditRow]:
    """Every replaced version (earliest edit first); nothing unless the reader may see edit history."""
    if not p.reader.private:
        return
    async for row in source.edits(p.db, p.room_id):
        yield EditRow(
            str(row.message_id),
            int(row.sequence_number),
            row.sender_name,
            version_text(row.message_type, row.content, row.data),
            row.version_at,
            row.version_by,
            row.version_by_name,
            row.replaced_at,
            version_text(row.message_type, row.next_content, row.next_data),
        )


@dataclass(frozen=True, slots=True)
class DeletionRow:
    message_id: str
    seq: int
    sender_name: str
    created_at: datetime
    deleted_at: datetime
    deleted_by: str
    deleted_by_name: str
    content: str | None  # None: this reader may not see deleted content


async def deletion_rows(p: Prepared) -> AsyncIterator[DeletionRow]:
    """Every deleted message, by sequence number, with its content only for a private reader."""
    async for row in source.deletions(p.db, p.room_id):
        content = (
            version_text(row.message_type, row.content, row.data) or (row.filename or "")
            if p.reader.private
            else None
        )
        yield DeletionRow(
            str(row.message_id),
            int(row.sequence_number),
            row.sender_name,
            row.created_at,
            row.deleted_at,
            row.deleted_by,
            row.deleted_by_name,
            content,
        )


EDITS_PRIVATE_NOTE = "Edit history is included for the room's OWNER and system admins only."


def audit_sentence(p: Prepared) -> tuple[bool, str, str]:
    """(chain intact, headline, detail) of the audit chain's verification."""
    a = p.audit
    if a.ok:
        return True, "Audit chain verified", f"{a.entries} entries, chain intact."
    return (
        False,
        "Audit chain BROKEN (tampered)",
        f"first broken link at entry {a.broken_index}: {a.reason}. {a.entries} entries before it verified.",
    )
