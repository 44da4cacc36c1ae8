"""Web Push subscriptions (`/api/push/*`, CONTRACT §4) and the server's public VAPID key.

A subscription is stored only after its endpoint passed the SSRF rules
(`api.domain.push.endpoints`, checked again by the worker at send time) and its keys could
encrypt a push. An endpoint belongs to one user: the browser that posts it is signed in as
that user now, so a subscription posted by another user moves to them, and pushes planned for
the previous owner are dropped with the old row rather than sent to the new one.
"""

from __future__ import annotations

import asyncio
import functools
from pathlib import Path
from typing import Any

from sqlalchemy import text

from api.domain.auth.sessions import AuthUser
from api.domain.core.errors import Conflict, DomainError, Invalid
from api.domain.core.services import Services
from api.domain.core.settings import Settings
from api.domain.push.endpoints import (
    InvalidPushEndpoint,
    InvalidSubscriptionKeys,
    check_push_endpoint_async,
    validate_subscription_keys,
)
from api.domain.push.vapid import InvalidVapidKey, load_or_create_vapid_key

# A user rarely has more than a few browsers; beyond this the oldest subscriptions go, so one
# account cannot make every message fan out to thousands of endpoints.
MAX_SUBSCRIPTIONS_PER_USER = 20


@functools.lru_cache(maxsize=4)
def _public_key(data_dir: Path, configured: str | None) -> str:
    return load_or_create_vapid_key(data_dir, configured).public_key_b64url


async def vapid_public_key(settings: Settings) -> str:
    """The application server key browsers subscribe with (base64url, uncompressed P-256 point)."""
    try:
        return await asyncio.to_thread(_public_key, settings.data_dir, settings.vapid_private_key)
    except InvalidVapidKey as exc:
        raise DomainError(f"push is not configured: {exc}", code="unavailable") from None


def _endpoint_of(body: dict[str, Any]) -> str:
    endpoint = body.get("endpoint")
    if not isinstance(endpoint, str) or not endpoint:
        raise Invalid("endpoint must be a non-empty string")
    return endpoint


_DROP_FOREIGN = text("DELETE FROM push_subscriptions WHERE endpoint = :e AND user_id <> :u")
_UPSERT = text(
    """
    INSERT INTO push_subscriptions (user_id, endpoint, p256dh, auth)
    VALUES (:u, :e, :p, :a)
    ON CONFLICT (endpoint) DO UPDATE
        SET p256dh = EXCLUDED.p256dh, auth = EXCLUDED.auth, updated_at = now()
        WHERE push_subscriptions.user_id = EXCLUDED.user_id
    RETURNING subscription_id
    """
)
_TRIM = text(
    """
    DELETE FROM push_subscriptions WHERE subscription_id IN (
        SELECT subscription_id FROM push_subscriptions WHERE user_id = :u
        ORDER BY updated_at DESC, subscription_id DESC OFFSET :keep)
    """
)
_DELETE = text("DELETE FROM push_subscriptions WHERE endpoint = :e AND user_id = :u")


async def do_subscribe(services: Services, user: AuthUser, body: dict[str, Any]) -> dict[str, Any]:
    """Store (or refresh) the caller's subscription `{endpoint, keys: {p256dh, auth}}`.

    Raises Invalid, with a reason that never contains the endpoint's path or the keys, when
    the endpoint is refused or the keys are unusable.
    """
    endpoint = _endpoint_of(body)
    keys = body.get("keys")
    if not isinstance(keys, dict):
        raise Invalid("keys must be an object with p256dh and auth")
    p256dh, auth = keys.get("p256dh"), keys.get("auth")
    if not isinstance(p256dh, str) or not isinstance(auth, str):
        raise Invalid("keys.p256dh and keys.auth must be strings")
    try:
        validate_subscription_keys(p256dh, auth)
    except InvalidSubscriptionKeys as exc:
        raise Invalid(f"subscription keys refused: {exc.reason}") from None
    try:
        await check_push_endpoint_async(endpoint, services.settings.push_allow_private_endpoints)
    except InvalidPushEndpoint as exc:
        raise Invalid(f"push endpoint refused: {exc.reason}") from None
    async with services.db.transaction() as uow:
        await uow.conn.execute(_DROP_FOREIGN, {"e": endpoint, "u": user.user_id})
        row = (
            await uow.conn.execute(_UPSERT, {"u": user.user_id, "e": endpoint, "p": p256dh, "a": auth})
        ).first()
        if row is None:
            # Another user stored the same endpoint between our two statements.
            raise Conflict("this push endpoint is being registered concurrently; try again")
        await uow.conn.execute(_TRIM, {"u": user.user_id, "keep": MAX_SUBSCRIPTIONS_PER_USER})
    return {"subscription_id": int(row.subscription_id)}


async def do_unsubscribe(services: Services, user: AuthUser, body: dict[str, Any]) -> None:
    """Remove the caller's subscription with this endpoint (a no-op when there is none)."""
    endpoint = _endpoint_of(body)
    async with services.db.transaction() as uow:
        await uow.conn.execute(_DELETE, {"e": endpoint, "u": user.user_id})
