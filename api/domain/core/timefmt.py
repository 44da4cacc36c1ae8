"""Wire timestamps: ISO 8601, UTC, millisecond precision, `Z` suffix."""

from __future__ import annotations

from datetime import UTC, datetime


def iso(ts: datetime | None) -> str | None:
    """Format a timestamp for the wire (None stays None)."""
    if ts is None:
        return None
    if ts.tzinfo is None:
        ts = ts.replace(tzinfo=UTC)
    ts = ts.astimezone(UTC)
    return ts.strftime("%Y-%m-%dT%H:%M:%S.") + f"{ts.microsecond // 1000:03d}Z"


def parse_iso(value: str) -> datetime:
    """Parse an ISO 8601 timestamp; a naive one is taken as UTC. Raises ValueError."""
    text = value.strip()
    if text.endswith(("Z", "z")):
        text = text[:-1] + "+00:00"
    ts = datetime.fromisoformat(text)
    if ts.tzinfo is None:
        ts = ts.replace(tzinfo=UTC)
    return ts.astimezone(UTC)


def utcnow() -> datetime:
    return datetime.now(UTC)


def now_iso() -> str:
    """The current time for the wire (`server_time`, `timestamp`)."""
    return iso(utcnow()) or ""
