"""The `andon` command: serve, worker, migrate, users add, search reindex, audit verify, report.

Every command is always listed. A command's heavier modules are imported when it runs, so a
missing dependency is reported by that command as an error naming the module, and never hides
it from the list.
"""

from __future__ import annotations

import argparse
import asyncio
import getpass
import os
import secrets
import sys
from collections.abc import Sequence
from typing import Any

from api.domain.core.settings import Settings, SettingsError, get_settings
from api.embedded import backing_services
from api.logs import configure as configure_logging


def cmd_serve(args: argparse.Namespace) -> int:
    from api.cli_serve import serve

    return serve(args)


def cmd_worker(args: argparse.Namespace) -> int:
    settings = get_settings()
    configure_logging(settings.log_level)
    if not 0 <= args.nice <= 19:
        print("--nice must be between 0 and 19", file=sys.stderr)
        return 2
    if args.nice:
        # Before any thread exists: Linux keeps a niceness per thread and new threads inherit
        # their creator's, so every Celery pool thread runs at this priority.
        os.nice(args.nice)
    with backing_services(settings) as backing:
        from workers.celery_app import run_worker

        return run_worker(backing.settings, queues=args.queues, concurrency=args.concurrency)


def cmd_migrate(args: argparse.Namespace) -> int:
    from api.domain.core.db import migrate

    settings = get_settings()
    configure_logging(settings.log_level)
    with backing_services(settings, need_redis=False) as backing:
        migrate(backing.database_url)
        print("database is at the latest revision", file=sys.stderr)
        return 0


async def _add_user(
    settings: Settings, email: str, name: str, password: str | None, admin: bool
) -> dict[str, Any]:
    from api.domain.auth.users import do_upsert_user
    from api.domain.core.db import Database, create_engine

    db = Database(create_engine(settings.with_(db_pool_size=1, db_max_overflow=0)))
    try:
        async with db.transaction() as uow:
            return await do_upsert_user(uow.conn, email, name, password, admin)
    finally:
        await db.dispose()


def _password_for(args: argparse.Namespace) -> tuple[str | None, bool]:
    """The password to set and whether it was generated; None when the two typed ones differ."""
    if args.password is not None:
        return args.password, False
    if sys.stdin.isatty():
        password = getpass.getpass("Password (at least 8 characters): ")
        if getpass.getpass("Repeat: ") != password:
            print("passwords differ", file=sys.stderr)
            return None, False
        return password, False
    return secrets.token_urlsafe(12), True


def cmd_users_add(args: argparse.Namespace) -> int:
    from api.domain.core.db import migrate
    from api.domain.core.errors import DomainError

    configure_logging("WARNING")
    with backing_services(get_settings(), need_redis=False) as backing:
        migrate(backing.database_url)
        password, generated = _password_for(args)
        if password is None:
            return 2
        try:
            user = asyncio.run(_add_user(backing.settings, args.email, args.name, password, args.admin))
        except DomainError as err:
            print(f"error: {err.message}", file=sys.stderr)
            return 2
    print(f"user {user['user_id']} ({user['display_name']}){' admin' if user['is_admin'] else ''} saved")
    if generated:
        print(f"generated password (shown once): {password}")
    return 0


def cmd_audit_verify(args: argparse.Namespace) -> int:
    from api.cli_audit import verify

    return verify(args)


def cmd_report(args: argparse.Namespace) -> int:
    from api.cli_report import report

    return report(args)


def cmd_search_reindex(args: argparse.Namespace) -> int:
    from api.cli_search import reindex_command

    return reindex_command(args)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="andon", description="Realtime chat for production-incident rooms")
    sub = parser.add_subparsers(dest="command", required=True)
    _add_running_commands(sub)
    _add_admin_commands(sub)
    return parser


def _add_running_commands(sub: Any) -> None:
    """`serve` and `worker`: the long-running processes."""
    serve = sub.add_parser("serve", help="run the API and WebSocket server")
    serve.add_argument("--host", default=None, help="bind address (ANDON_HOST, default 127.0.0.1)")
    serve.add_argument("--port", type=int, default=None, help="port (ANDON_PORT, default 8000)")
    serve.add_argument("--workers", type=int, default=1, help="server processes sharing rooms through Redis")
    serve.add_argument(
        "--demo", action="store_true", help="create demo users and a room, and print how to sign in"
    )
    serve.add_argument("--with-worker", action="store_true", help="also start a side-effect worker process")
    serve.add_argument("--no-worker", action="store_true", help="do not start a worker in embedded mode")
    serve.set_defaults(func=cmd_serve)

    worker = sub.add_parser("worker", help="run a Celery worker for the side-effect queues")
    worker.add_argument("--queues", default="push,index,mentions,audit,outbox", help="comma-separated queues")
    worker.add_argument("--concurrency", type=int, default=2)
    worker.add_argument(
        "--nice",
        type=int,
        default=10,
        help="CPU niceness to add (0-19) before the worker starts: on a shared host the realtime "
        "path keeps priority over side effects",
    )
    worker.set_defaults(func=cmd_worker)


def _add_admin_commands(sub: Any) -> None:
    """One-off commands: migrate, users add, audit verify, search reindex."""
    migrate = sub.add_parser("migrate", help="apply the database migrations")
    migrate.set_defaults(func=cmd_migrate)

    users = sub.add_parser("users", help="manage users")
    users_sub = users.add_subparsers(dest="users_command", required=True)
    add = users_sub.add_parser("add", help="create or update a user")
    add.add_argument("email")
    add.add_argument("--name", required=True, help="display name")
    add.add_argument(
        "--password", default=None, help="at least 8 characters; asked for or generated when absent"
    )
    add.add_argument("--admin", action="store_true", help="system admin (OWNER rights in every room)")
    add.set_defaults(func=cmd_users_add)

    audit = sub.add_parser("audit", help="the tamper-evident audit log of edits and deletions")
    audit_sub = audit.add_subparsers(dest="audit_command", required=True)
    verify = audit_sub.add_parser(
        "verify", help="recompute a room's hash chain; exit 1 at the first broken link"
    )
    verify.add_argument("room_id", help="the room's id (UUID)")
    verify.set_defaults(func=cmd_audit_verify)

    report = sub.add_parser(
        "report", help="write a room's incident report (HTML, PDF, Markdown, CSV or JSON)"
    )
    report.add_argument("room_id", help="the room's id (UUID)")
    report.add_argument("--format", choices=("html", "pdf", "md", "csv", "json"), default="html")
    report.add_argument(
        "--output", default=None, help="file to write ('-' for stdout); default: <room title>-<date>.<ext>"
    )
    report.add_argument(
        "--as", dest="as_user", default=None, help="write it as this member would get it (default: complete)"
    )
    report.add_argument(
        "--base-url", default=None, help="server address for file links (default http://ANDON_HOST:ANDON_PORT)"
    )
    report.add_argument("--quiet", action="store_true", help="no progress bar")
    report.set_defaults(func=cmd_report)

    search = sub.add_parser("search", help="the search index")
    search_sub = search.add_subparsers(dest="search_command", required=True)
    reindex = search_sub.add_parser("reindex", help="rebuild the search index from the database (resumable)")
    reindex.add_argument(
        "--restart", action="store_true", help="ignore a saved position and start from the beginning"
    )
    reindex.add_argument("--batch", type=int, default=500, help="messages per batch")
    reindex.add_argument(
        "--no-reconcile", action="store_true", help="skip removing entries of deleted messages"
    )
    reindex.set_defaults(func=cmd_search_reindex)


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except SettingsError as err:
        print(f"configuration error: {err}", file=sys.stderr)
        return 2
    except ModuleNotFoundError as err:
        # A dependency of this command is not installed: say which, rather than a traceback.
        print(
            f"error: `andon {args.command}` needs the Python module {err.name!r}, which is not "
            "installed; reinstall andon with its dependencies",
            file=sys.stderr,
        )
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
