"""`andon report ROOM_ID --format F [--output PATH]`: write a room's incident report.

The command line is the operator's: without `--as` the report is the complete record (deleted
content, edit history), as a system admin sees it; `--as USER_ID` writes it as that member would
get it from the API. A progress bar on stderr follows the timeline.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import time
from typing import TextIO

from api.domain.core.db import Database, create_engine, migrate
from api.domain.core.errors import DomainError
from api.domain.core.settings import Settings, get_settings
from api.embedded import backing_services
from api.logs import configure as configure_logging


class ProgressBar:
    """`[#########...........]  45% 45,000/100,000 messages` on one line, redrawn at most 10×/s.

    On a terminal it redraws in place; elsewhere (a log, CI) it prints a line every 10%.
    """

    def __init__(self, out: TextIO, label: str = "messages") -> None:
        self.out = out
        self.label = label
        self.tty = out.isatty()
        self.last_draw = 0.0
        self.last_decile = -1
        self.drawn = False

    def __call__(self, done: int, total: int) -> None:
        total = max(total, done, 1)
        fraction = done / total
        now = time.monotonic()
        if self.tty:
            if now - self.last_draw < 0.1 and done < total:
                return
            self.last_draw = now
            width = 30
            filled = int(width * fraction)
            self.out.write(
                f"\r[{'#' * filled}{'.' * (width - filled)}] {fraction:4.0%} {done:,}/{total:,} {self.label}"
            )
            self.drawn = True
        else:
            decile = int(fraction * 10)
            if decile == self.last_decile:
                return
            self.last_decile = decile
            self.out.write(f"report: {fraction:4.0%} {done:,}/{total:,} {self.label}\n")
        self.out.flush()

    def finish(self) -> None:
        if self.tty and self.drawn:
            self.out.write("\n")
            self.out.flush()


async def _write(settings: Settings, args: argparse.Namespace, bar: ProgressBar | None) -> str:
    from api.domain import reports
    from api.domain.files import storage_for

    db = Database(create_engine(settings.with_(db_pool_size=2, db_max_overflow=0)))
    try:
        user = None
        if args.as_user:
            user = await reports.source.user_by_id(db, args.as_user.strip().lower())
            if user is None:
                raise DomainError(f"no user {args.as_user}")
        base_url = args.base_url or f"http://{settings.host}:{settings.port}"
        prepared = await reports.prepare(
            db,
            storage_for(settings),
            args.room_id,
            user,
            base_url=base_url,
            timezone=settings.display_timezone,
            progress=bar,
        )
        target = args.output or reports.file_name(prepared, args.format)
        if target == "-":
            async for chunk in reports.stream_report(prepared, args.format):
                sys.stdout.buffer.write(chunk)
            sys.stdout.buffer.flush()
            return target
        tmp = f"{target}.part"
        out = await asyncio.to_thread(open, tmp, "wb")
        try:
            async for chunk in reports.stream_report(prepared, args.format):
                await asyncio.to_thread(out.write, chunk)
        except BaseException:
            out.close()
            os.unlink(tmp)
            raise
        out.close()
        os.replace(tmp, target)
        return target
    finally:
        await db.dispose()


def report(args: argparse.Namespace) -> int:
    configure_logging("WARNING")
    settings = get_settings()
    bar = None if args.quiet else ProgressBar(sys.stderr)
    with backing_services(settings, need_redis=False) as backing:
        if backing.embedded:
            migrate(backing.database_url)
        try:
            target = asyncio.run(_write(backing.settings, args, bar))
        except DomainError as err:
            if bar is not None:
                bar.finish()
            print(f"error: {err.message}", file=sys.stderr)
            return 2
    if bar is not None:
        bar.finish()
    if target != "-":
        print(f"report written to {target}", file=sys.stderr)
    return 0
