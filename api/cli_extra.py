"""Subcommands beyond the core ones: `andon audit verify ROOM_ID`, and hooks for other packages.

`api.cli` calls :func:`register` when this module exists. Other packages add their commands
through the same call without editing this file: any of :data:`HOOK_MODULES` that can be
imported and has a `register(subparsers)` function is asked to register its own (the search
package's `andon search reindex`, for one).
"""

from __future__ import annotations

import argparse
import asyncio
import importlib
import sys
import uuid
from typing import Any

HOOK_MODULES = ("api.cli_search", "search.cli")


def register(sub: Any) -> None:
    """Add `audit verify`, then every hook module's commands."""
    audit = sub.add_parser("audit", help="the tamper-evident audit log of edits and deletions")
    audit_sub = audit.add_subparsers(dest="audit_command", required=True)
    verify = audit_sub.add_parser(
        "verify", help="recompute a room's hash chain; exit 1 at the first broken link"
    )
    verify.add_argument("room_id", help="the room's id (UUID)")
    verify.set_defaults(func=cmd_audit_verify)
    for name in HOOK_MODULES:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name != name:
                raise
            continue
        hook = getattr(module, "register", None)
        if callable(hook):
            hook(sub)


async def _verify(settings: Any, room_id: uuid.UUID) -> Any:
    from sqlalchemy import text

    from api.domain.audit import verify_chain
    from api.domain.core.db import Database, create_engine

    db = Database(create_engine(settings.with_(db_pool_size=1, db_max_overflow=0)))
    try:
        async with db.read() as conn:
            report = await verify_chain(conn, room_id)
            if report.entries == 0 and report.ok:
                exists = await conn.scalar(
                    text("SELECT EXISTS (SELECT 1 FROM incident_rooms WHERE room_id = :r)"), {"r": room_id}
                )
                if not exists:
                    return None
            return report
    finally:
        await db.dispose()


def cmd_audit_verify(args: argparse.Namespace) -> int:
    """Print OK and exit 0 when the room's chain holds; name the first broken link and exit 1."""
    from api.cli import _with_embedded, setup_logging
    from api.domain.core.settings import get_settings

    try:
        room_id = uuid.UUID(args.room_id)
    except ValueError:
        print(f"error: {args.room_id!r} is not a room id (UUID)", file=sys.stderr)
        return 2
    setup_logging("WARNING")
    settings, embedded = _with_embedded(get_settings(), need_redis=False)
    try:
        if embedded is not None:
            # An embedded database may be brand new; verifying reads tables the migrations make.
            from api.cli import _migrate

            _migrate(settings)
        report = asyncio.run(_verify(settings, room_id))
    finally:
        if embedded is not None:
            embedded.stop()
    if report is None:
        print(f"error: no room {room_id}", file=sys.stderr)
        return 2
    if report.ok:
        print(f"OK: room {room_id}: {report.entries} audit entries, chain intact")
        return 0
    where = f"entry {report.broken_index}" + (f" (audit_id {report.audit_id})" if report.audit_id else "")
    print(f"BROKEN: room {room_id}: first broken link at {where}: {report.reason}")
    print(f"{report.entries} entries before it verified", file=sys.stderr)
    return 1
