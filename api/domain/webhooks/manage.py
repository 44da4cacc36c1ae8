"""Creating, listing and revoking a room's incoming webhooks (the room's OWNER or a system admin).

Each webhook posts as its own bot user (`tr_users.is_bot`), named after the webhook. The URL's
secret is random (256 bits), shown once in the creation answer, and kept only as its SHA-256.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import uuid
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from api.domain.auth.access import access_owned_room, parse_uuid
from api.domain.auth.sessions import AuthUser
from api.domain.core.errors import Invalid, NotFound
from api.domain.core.models import WEBHOOK_MODES
from api.domain.core.services import Services
from api.domain.core.timefmt import iso

MAX_NAME = 100
BOT_DOMAIN = "bots.andon.invalid"
_FIELDS = frozenset({"name", "mode", "resolve_room"})


def secret_digest(secret: str) -> bytes:
    return hashlib.sha256(secret.encode("utf-8")).digest()


def hook_url(webhook_id: uuid.UUID | str, secret: str) -> str:
    return f"/api/hooks/{webhook_id}/{secret}"


def check_webhook_spec(body: dict[str, Any]) -> tuple[str, str, bool]:
    """Validate a creation body: `name`, `mode` (`post` default, or `room_per_alert`), `resolve_room`."""
    unknown = set(body) - _FIELDS
    if unknown:
        raise Invalid(f"unknown fields: {', '.join(sorted(unknown))}")
    name = body.get("name")
    if not isinstance(name, str) or not name.strip() or len(name.strip()) > MAX_NAME:
        raise Invalid(f"name must be a non-empty string of at most {MAX_NAME} characters")
    mode = body.get("mode", "post")
    if mode not in WEBHOOK_MODES:
        raise Invalid("mode must be post or room_per_alert")
    resolve_room = body.get("resolve_room", False)
    if not isinstance(resolve_room, bool):
        raise Invalid("resolve_room must be a boolean")
    return name.strip(), str(mode), resolve_room


def _public(row: Any) -> dict[str, Any]:
    return {
        "webhook_id": str(row.webhook_id),
        "room_id": str(row.room_id),
        "name": row.name,
        "mode": row.mode,
        "resolve_room": row.resolve_room,
        "bot_user_id": row.bot_user_id,
        "created_by": row.created_by,
        "created_at": iso(row.created_at),
    }


async def do_create_webhook(
    services: Services, user: AuthUser, room_id: object, body: dict[str, Any]
) -> dict[str, Any]:
    """Create a webhook and its bot user; the answer is the only place the secret ever appears."""
    name, mode, resolve_room = check_webhook_spec(body)
    webhook_id = uuid.uuid4()
    secret = secrets.token_urlsafe(32)
    bot_id = f"webhook-{webhook_id.hex}@{BOT_DOMAIN}"
    async with services.db.transaction() as uow:
        rid = (await access_owned_room(uow.conn, room_id, user)).room["room_id"]
        await uow.conn.execute(
            text(
                "INSERT INTO tr_users (user_id, display_name, is_admin, is_bot, password_hash) "
                "VALUES (:u, :n, false, true, NULL)"
            ),
            {"u": bot_id, "n": name},
        )
        row = (
            await uow.conn.execute(
                text(
                    "INSERT INTO webhooks (webhook_id, room_id, name, mode, resolve_room, secret_hash, bot_user_id, "
                    "created_by) VALUES (:w, :r, :n, :m, :rr, :h, :b, :c) RETURNING *"
                ),
                {
                    "w": webhook_id,
                    "r": rid,
                    "n": name,
                    "m": mode,
                    "rr": resolve_room,
                    "h": secret_digest(secret),
                    "b": bot_id,
                    "c": user.user_id,
                },
            )
        ).one()
    return {**_public(row), "url": hook_url(webhook_id, secret)}


async def list_webhooks(services: Services, user: AuthUser, room_id: object) -> list[dict[str, Any]]:
    """A room's webhooks, oldest first, without their secrets."""
    async with services.db.read() as conn:
        rid = (await access_owned_room(conn, room_id, user)).room["room_id"]
        rows = (
            await conn.execute(
                text("SELECT * FROM webhooks WHERE room_id = :r ORDER BY created_at, webhook_id"), {"r": rid}
            )
        ).all()
    return [_public(r) for r in rows]


async def do_delete_webhook(services: Services, user: AuthUser, room_id: object, webhook_id: object) -> None:
    """Revoke a webhook: its URL answers 404 from now on. Its bot user stays, so past messages keep their sender."""
    wid = parse_uuid(webhook_id, "webhook_id")
    async with services.db.transaction() as uow:
        rid = (await access_owned_room(uow.conn, room_id, user)).room["room_id"]
        gone = (
            await uow.conn.execute(
                text("DELETE FROM webhooks WHERE webhook_id = :w AND room_id = :r RETURNING webhook_id"),
                {"w": wid, "r": rid},
            )
        ).first()
        if gone is None:
            raise NotFound("no such webhook in this room")


async def access_webhook(conn: AsyncConnection, webhook_id: str, secret: str) -> Any:
    """The webhook behind a hook URL, with its bot's name; NotFound for an unknown id or a wrong secret."""
    try:
        wid = uuid.UUID(webhook_id)
    except ValueError as exc:
        raise NotFound("no such webhook") from exc
    row = (
        await conn.execute(
            text(
                "SELECT w.*, u.display_name AS bot_name FROM webhooks w "
                "JOIN tr_users u ON u.user_id = w.bot_user_id WHERE w.webhook_id = :w"
            ),
            {"w": wid},
        )
    ).first()
    # Compared in constant time; a wrong secret looks exactly like an unknown webhook.
    if row is None or not hmac.compare_digest(bytes(row.secret_hash), secret_digest(secret)):
        raise NotFound("no such webhook")
    return row
