"""Sign-in, token checks and revocation."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from api.domain.auth.credentials import new_token, token_digest, verify_password
from api.domain.core.errors import Invalid, Unauthorized
from api.domain.core.timefmt import utcnow


@dataclass(frozen=True, slots=True)
class AuthUser:
    """The signed-in user behind a request or a socket."""

    user_id: str
    display_name: str
    is_admin: bool
    token_hash: bytes
    expires_at: datetime


_LOOKUP = text(
    """
    SELECT u.user_id, u.display_name, u.is_admin, t.expires_at
    FROM auth_tokens t JOIN tr_users u ON u.user_id = t.user_id
    WHERE t.token_hash = :h AND t.revoked_at IS NULL AND t.expires_at > now()
    """
)


async def do_login(
    conn: AsyncConnection, email: object, password: object, ttl_hours: float
) -> tuple[str, AuthUser]:
    """Check credentials and issue a new token. Raises Unauthorized on any mismatch."""
    if not isinstance(email, str) or not isinstance(password, str):
        raise Invalid("email and password must be strings")
    user_id = email.strip().lower()
    row = (
        await conn.execute(
            text("SELECT user_id, display_name, is_admin, password_hash FROM tr_users WHERE user_id = :u"),
            {"u": user_id},
        )
    ).first()
    # argon2 is deliberately slow: keep it off the event loop that serves every socket.
    ok = await asyncio.to_thread(verify_password, row.password_hash if row else None, password)
    if not ok or row is None:
        raise Unauthorized("wrong e-mail or password")
    token = new_token()
    digest = token_digest(token)
    expires = utcnow() + timedelta(hours=ttl_hours)
    await conn.execute(
        text("INSERT INTO auth_tokens (token_hash, user_id, expires_at) VALUES (:h, :u, :e)"),
        {"h": digest, "u": row.user_id, "e": expires},
    )
    return token, AuthUser(row.user_id, row.display_name, bool(row.is_admin), digest, expires)


async def access_token(conn: AsyncConnection, token: str) -> AuthUser:
    """The user of a valid, unrevoked, unexpired token; Unauthorized otherwise."""
    if not token or len(token) > 512:
        raise Unauthorized("invalid token")
    digest = token_digest(token)
    row = (await conn.execute(_LOOKUP, {"h": digest})).first()
    if row is None:
        raise Unauthorized("invalid or expired token")
    return AuthUser(row.user_id, row.display_name, bool(row.is_admin), digest, row.expires_at)


async def invalid_tokens(conn: AsyncConnection, digests: list[bytes]) -> set[bytes]:
    """Which of these token digests are no longer valid (revoked, expired or gone): open sockets' check.

    Only the invalid ones come back (usually none): checking thousands of sockets costs the
    database the lookups, not Python a row per socket.
    """
    if not digests:
        return set()
    rows = (
        await conn.execute(
            text(
                "SELECT h FROM unnest(CAST(:hs AS bytea[])) AS h WHERE NOT EXISTS ("
                "SELECT 1 FROM auth_tokens t WHERE t.token_hash = h "
                "AND t.revoked_at IS NULL AND t.expires_at > now())"
            ),
            {"hs": digests},
        )
    ).all()
    return {bytes(r.h) for r in rows}


async def do_logout(conn: AsyncConnection, user: AuthUser, everywhere: bool) -> list[bytes]:
    """Revoke the presented token (or all of the user's); returns the revoked digests."""
    if everywhere:
        rows = await conn.execute(
            text(
                "UPDATE auth_tokens SET revoked_at = now() WHERE user_id = :u AND revoked_at IS NULL "
                "RETURNING token_hash"
            ),
            {"u": user.user_id},
        )
    else:
        rows = await conn.execute(
            text(
                "UPDATE auth_tokens SET revoked_at = now() WHERE token_hash = :h AND revoked_at IS NULL RETURNING token_hash"
            ),
            {"h": user.token_hash},
        )
    return [r.token_hash for r in rows]
