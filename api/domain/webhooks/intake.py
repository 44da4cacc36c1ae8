"""Taking a webhook delivery: authenticate, rate-limit, read, deduplicate, then post.

A firing alert becomes two ordinary messages from the webhook's bot, sent through the room's
`MessageWriter` like any client's (so they are sequenced, fanned out, indexed for search, and
their `@Display Name` mentions are resolved and pushed): the text summary, then the
`incident_data` with every alert's labels, annotations and values. In `room_per_alert` mode the
alert group gets its own room (members copied from the webhook's room), reused while active.
A resolved alert posts an `alert_resolved` system notice, and sets the room `resolved` when the
webhook says so.

Retries: a delivery is keyed by the SHA-256 of its body (or of its `Idempotency-Key` header).
Deliveries with one key are serialised by a transaction-scoped advisory lock, and one accepted
within `WEBHOOK_DEDUPE_SECONDS` is answered again instead of posted. The messages' client ids
derive from the key, so a delivery that failed half-way and is retried does not post its first
message twice either.
"""

from __future__ import annotations

import asyncio
import hashlib
import math
import uuid
from datetime import UTC, datetime
from typing import Any

import msgspec
from sqlalchemy import text

from api.domain.auth.sessions import AuthUser
from api.domain.core.db import UnitOfWork
from api.domain.core.errors import Forbidden, Invalid, RateLimited
from api.domain.core.rate_limit import SharedRateLimiter
from api.domain.core.services import Services
from api.domain.messages.batch import SendRequest
from api.domain.messages.send import MessageWriter
from api.domain.messages.validate import Draft
from api.domain.rooms.manage import do_set_status_locked, insert_room
from api.domain.rooms.system_posts import post_system, tell_user_after_commit
from api.domain.webhooks.manage import access_webhook
from api.domain.webhooks.payloads import Alert, fingerprint, read_delivery

MAX_NOTICE_TEXT = 2000
MAX_IDEMPOTENCY_KEY = 200
_LOCK = text("SELECT pg_advisory_xact_lock(hashtextextended(:k, 0))")
_PRIOR = text(
    "SELECT result, received_at > now() - make_interval(secs => :window) AS recent FROM webhook_deliveries "
    "WHERE webhook_id = :w AND dedupe_key = :k ORDER BY received_at DESC"
)
_RECORD = text(
    "INSERT INTO webhook_deliveries (webhook_id, dedupe_key, result) VALUES (:w, :k, CAST(:res AS jsonb))"
)
_GROUP_ROOM = text(
    """
    SELECT a.room_id, r.status FROM webhook_alert_rooms a JOIN incident_rooms r ON r.room_id = a.room_id
    WHERE a.webhook_id = :w AND a.group_key = :g AND r.status <> 'archived'
    ORDER BY (r.status = 'active') DESC, a.created_at DESC LIMIT 1
    """
)


class RateLimitedDelivery(RateLimited):
    """429 with `Retry-After`."""

    def __init__(self, retry_after: int) -> None:
        super().__init__("too many deliveries to this webhook; slow down")
        self.retry_after = max(1, retry_after)


class WebhookIntake:
    """Deliveries to `/api/hooks/{webhook_id}/{secret}`, posted through this process's writer."""

    def __init__(self, services: Services, writer: MessageWriter) -> None:
        self.services = services
        self.writer = writer
        settings = services.settings
        self.dedupe_seconds = settings.webhook_dedupe_seconds
        # Not leased (api.domain.core.rate_lease): one take per delivery, before the body is read,
        # and a webhook posts far less often than a chatty socket, so the round trip is no hot path.
        self.limiter = SharedRateLimiter(
            services.redis, services.bus.prefix, settings.webhook_rate_per_second, settings.webhook_rate_burst
        )

    async def admit(self, webhook_id: str, secret: str) -> Any:
        """The webhook of a hook URL (NotFound for a wrong secret), once it has a token left (else 429).

        Called before the body is read, so a wrong secret is 404 whatever the body; only
        deliveries with the right secret spend the webhook's tokens.
        """
        async with self.services.db.read() as conn:
            hook = await access_webhook(conn, webhook_id, secret)
        wid = str(hook.webhook_id)
        granted = await self.limiter.take("webhooks", {wid: 1})
        if granted.get(wid, 0) < 1:
            raise RateLimitedDelivery(math.ceil(1 / self.limiter.rate))
        return hook

    async def deliver(self, hook: Any, body: dict[str, Any], idempotency_key: str | None = None) -> dict[str, Any]:
        """Post one admitted delivery (or answer a repeat with what the first did); see the module docstring."""
        if idempotency_key is not None and not 0 < len(idempotency_key) <= MAX_IDEMPOTENCY_KEY:
            raise Invalid(f"Idempotency-Key must be 1 to {MAX_IDEMPOTENCY_KEY} characters")
        alert = read_delivery(body)
        wid = str(hook.webhook_id)
        seed = f"key:{idempotency_key}" if idempotency_key else f"body:{fingerprint(body)}"
        key = hashlib.sha256(seed.encode("utf-8")).hexdigest()
        async with self.services.db.transaction() as uow:
            await uow.conn.execute(_LOCK, {"k": f"webhook-delivery:{wid}:{key}"})
            prior = (
                await uow.conn.execute(
                    _PRIOR, {"w": hook.webhook_id, "k": key, "window": self.dedupe_seconds}
                )
            ).all()
            if prior and prior[0].recent:
                return {**prior[0].result, "duplicate": True}
            if alert.status == "resolved":
                result = await self._resolve(uow, hook, alert)
            else:
                # The client ids carry how many earlier deliveries had this key: a delivery
                # repeated after the window posts anew, one retried after a failure does not.
                result = await self._fire(hook, alert, f"{key[:40]}.{len(prior)}")
            await uow.conn.execute(_RECORD, {"w": hook.webhook_id, "k": key, "res": _json(result)})
        return {**result, "duplicate": False}

    # ------------------------------------------------------------------ firing

    async def _fire(self, hook: Any, alert: Alert, client_key: str) -> dict[str, Any]:
        room_id, created = await self._room_for(hook, alert)
        drafts: list[Draft] = []
        if alert.text:
            drafts.append(Draft("text", alert.text, None, [], None, f"hook:{client_key}:t"))
        if alert.data is not None:
            drafts.append(Draft("incident_data", None, alert.data, [], None, f"hook:{client_key}:d"))
        bot = _bot(hook)
        futures = [self.writer.submit(SendRequest(room_id=room_id, sender=bot, draft=d)) for d in drafts]
        outcomes = await asyncio.gather(*futures, return_exceptions=True)
        for outcome in outcomes:
            if isinstance(outcome, BaseException):
                raise outcome
        # Each is the message stored, or (a retried delivery) the ack of the one stored before.
        answers = [o for o in outcomes if not isinstance(o, BaseException)]
        return {
            "status": "firing",
            "room_id": str(room_id),
            "room_created": created,
            "message_ids": [a.message_id for a in answers],
            "sequence_numbers": [a.sequence_number for a in answers],
        }

    async def _room_for(self, hook: Any, alert: Alert) -> tuple[uuid.UUID, bool]:
        """Where a firing alert goes: the webhook's room, or its group's room (opened if none is active)."""
        if hook.mode != "room_per_alert" or not alert.group_key:
            return hook.room_id, False
        async with self.services.db.transaction() as uow:
            await uow.conn.execute(_LOCK, {"k": f"webhook-group:{hook.webhook_id}:{alert.group_key}"})
            row = (await uow.conn.execute(_GROUP_ROOM, {"w": hook.webhook_id, "g": alert.group_key})).first()
            if row is not None and row.status == "active":
                return row.room_id, False
            room_id = uuid.uuid4()
            description = f"Opened by {hook.name} for alert group {alert.group_key}"[:10_000]
            await insert_room(uow, room_id, alert.title or hook.name, description, hook.bot_user_id)
            members = (
                await uow.conn.execute(
                    text(
                        "INSERT INTO room_members (room_id, user_id, role) "
                        "SELECT :new, user_id, role FROM room_members WHERE room_id = :src RETURNING user_id"
                    ),
                    {"new": room_id, "src": hook.room_id},
                )
            ).all()
            await uow.conn.execute(
                text("INSERT INTO webhook_alert_rooms (webhook_id, group_key, room_id) VALUES (:w, :g, :r)"),
                {"w": hook.webhook_id, "g": alert.group_key, "r": room_id},
            )
            for member in members:
                tell_user_after_commit(uow, self.services, member.user_id, "rooms", room_id)
        return room_id, True

    # ------------------------------------------------------------------ resolved

    async def _resolve(self, uow: UnitOfWork, hook: Any, alert: Alert) -> dict[str, Any]:
        room_id = hook.room_id
        if hook.mode == "room_per_alert" and alert.group_key:
            row = (await uow.conn.execute(_GROUP_ROOM, {"w": hook.webhook_id, "g": alert.group_key})).first()
            if row is not None:
                room_id = row.room_id
        status = (
            await uow.conn.execute(
                text("SELECT status FROM incident_rooms WHERE room_id = :r"), {"r": room_id}
            )
        ).scalar_one()
        if status == "archived":
            raise Forbidden("the room is archived (read-only)")
        notice = await post_system(
            uow,
            self.services,
            room_id,
            hook.bot_user_id,
            {
                "event": "alert_resolved",
                "user_id": hook.bot_user_id,
                "actor_id": hook.bot_user_id,
                "title": alert.title,
                "text": alert.text[:MAX_NOTICE_TEXT],
                "source": alert.source,
                "alert_count": alert.alert_count,
                "group_key": alert.group_key,
            },
        )
        changed = False
        if hook.resolve_room:
            changed = await do_set_status_locked(uow, self.services, room_id, hook.bot_user_id, "resolved")
        return {
            "status": "resolved",
            "room_id": str(room_id),
            "room_created": False,
            "message_ids": [notice.message_id],
            "sequence_numbers": [notice.sequence_number],
            "room_resolved": changed,
        }


def _bot(hook: Any) -> AuthUser:
    # The bot posts with the authority of its webhook, which only an OWNER or admin can create:
    # it is no member of the rooms it posts to, so the writer's role check treats it as an admin's.
    return AuthUser(
        user_id=hook.bot_user_id,
        display_name=hook.bot_name,
        is_admin=True,
        token_hash=b"",
        expires_at=datetime.max.replace(tzinfo=UTC),
    )


def _json(value: Any) -> str:
    return msgspec.json.encode(value).decode("utf-8")
