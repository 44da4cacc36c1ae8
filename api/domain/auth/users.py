"""Users (`tr_users`): creation and lookup."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select, text
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncConnection

from api.domain.auth.credentials import hash_password, normalise_email
from api.domain.core import models as m
from api.domain.core.errors import Invalid


def check_display_name(name: object) -> str:
    if not isinstance(name, str) or not name.strip():
        raise Invalid("display name must be a non-empty string")
    name = name.strip()
    if len(name) > 100:
        raise Invalid("display name must be at most 100 characters")
    return name


async def do_upsert_user(
    conn: AsyncConnection,
    email: str,
    display_name: str,
    password: str | None,
    is_admin: bool,
    *,
    password_hash: str | None = None,
) -> dict[str, Any]:
    """Create a user or update an existing one (name, admin flag, and password if given).

    `password_hash` lets a caller that already hashed (off the event loop) pass the hash.
    """
    user_id = normalise_email(email)
    name = check_display_name(display_name)
    values: dict[str, Any] = {"user_id": user_id, "display_name": name, "is_admin": is_admin}
    update: dict[str, Any] = {"display_name": name, "is_admin": is_admin, "updated_at": text("now()")}
    if password_hash is None and password is not None:
        password_hash = hash_password(password)
    if password_hash is not None:
        values["password_hash"] = password_hash
        update["password_hash"] = password_hash
    stmt = pg_insert(m.users).values(**values).on_conflict_do_update(index_elements=["user_id"], set_=update)
    await conn.execute(stmt)
    return {"user_id": user_id, "display_name": name, "is_admin": is_admin}


async def get_user(conn: AsyncConnection, user_id: str) -> dict[str, Any] | None:
    row = (
        await conn.execute(
            select(m.users.c.user_id, m.users.c.display_name, m.users.c.is_admin).where(
                m.users.c.user_id == user_id
            )
        )
    ).first()
    return dict(row._mapping) if row else None


def user_object(row: dict[str, Any]) -> dict[str, Any]:
    return {"user_id": row["user_id"], "display_name": row["display_name"], "is_admin": bool(row["is_admin"])}
