"""`andon audit verify ROOM_ID`: recompute a room's audit hash chain and name the first broken link."""

from __future__ import annotations

import argparse
import asyncio
import sys
import uuid

from sqlalchemy import text

from api.domain.audit import ChainReport, verify_chain
from api.domain.core.db import Database, create_engine, migrate
from api.domain.core.settings import Settings, get_settings
from api.embedded import backing_services
from api.logs import configure as configure_logging


async def _verify(settings: Settings, room_id: uuid.UUID) -> ChainReport | None:
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


def verify(args: argparse.Namespace) -> int:
    """Print OK and exit 0 when the room's chain holds; name the first broken link and exit 1."""
    try:
        room_id = uuid.UUID(args.room_id)
    except ValueError:
        print(f"error: {args.room_id!r} is not a room id (UUID)", file=sys.stderr)
        return 2
    configure_logging("WARNING")
    with backing_services(get_settings(), need_redis=False) as backing:
        if backing.embedded:
            # An embedded database may be brand new; verifying reads tables the migrations make.
            migrate(backing.database_url)
        report = asyncio.run(_verify(backing.settings, room_id))
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
