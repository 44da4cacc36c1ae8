"""One message batch's steps, in order: read senders and earlier client ids, take rate-limit
tokens, authorise, deduplicate, check files, resolve mentions, store, and the answers.

`api.domain.messages.send.MessageWriter` runs them for each batch of a room's pending sends.
"""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from api.domain import outbox
from api.domain.auth.sessions import AuthUser
from api.domain.core.errors import Forbidden, Invalid, RateLimited
from api.domain.core.rate_limit import TokenTaker
from api.domain.core.timefmt import iso
from api.domain.events import Ack, Message
from api.domain.messages.sequencing import NewMessage, insert_sequenced, stored_message
from api.domain.messages.validate import Draft, find_display_name_mentions

WRITER_ROLES = ("OWNER", "EDITOR")


@dataclass(slots=True)
class SendRequest:
    """One pending send, resolved by the room's writer."""

    room_id: uuid.UUID
    sender: AuthUser
    draft: Draft
    # Whoever asked, opaque to the domain: the WebSocket layer answers it (an ack) from the outcome.
    origin: object | None = None
    future: asyncio.Future[Message | Ack] = field(
        default_factory=lambda: asyncio.get_running_loop().create_future()
    )


# One round trip before the room lock: each sender's role and display name (kind 's'), and the
# messages already stored under one of the batch's (sender, client_id) pairs (kind 'e').
_CHECK = text(
    """
    SELECT 's' AS kind, s.user_id, u.display_name, COALESCE(u.is_bot, false) AS is_bot, m.role,
           NULL AS client_id, NULL::uuid AS message_id, NULL::bigint AS sequence_number,
           NULL::timestamptz AS created_at
    FROM unnest(CAST(:senders AS text[])) AS s(user_id)
    LEFT JOIN tr_users u ON u.user_id = s.user_id
    LEFT JOIN room_members m ON m.room_id = :r AND m.user_id = s.user_id
    UNION ALL
    SELECT 'e', sender_id, NULL, NULL, NULL, client_id, message_id, sequence_number, created_at
    FROM messages
    WHERE room_id = :r AND (sender_id, client_id) IN (
        SELECT * FROM unnest(CAST(:cid_senders AS text[]), CAST(:cids AS text[])))
    """
)
_FILES = text(
    "SELECT file_id, filename, content_type, size FROM uploaded_files "
    "WHERE room_id = :r AND file_id = ANY(CAST(:ids AS uuid[]))"
)
_MEMBERS = text(
    "SELECT m.user_id, COALESCE(u.display_name, m.user_id) AS display_name "
    "FROM room_members m LEFT JOIN tr_users u ON u.user_id = m.user_id WHERE m.room_id = :r"
)


@dataclass(slots=True)
class _SameAs:
    """A request repeating, within its batch, the client_id of an earlier one: answered with its message."""

    first: NewMessage


@dataclass(slots=True)
class Batch:
    """One batch on its way through the steps."""

    room_id: uuid.UUID
    live: list[SendRequest]
    senders: dict[str, Any] = field(default_factory=dict)
    # Per sender, how many sends the shared rate limit granted.
    granted: dict[str, int] = field(default_factory=dict)
    existing: dict[tuple[str, str], Any] = field(default_factory=dict)
    # Requests answered (in submission order) and the new messages, in the order they are stored.
    answers: list[tuple[SendRequest, NewMessage | _SameAs | Ack]] = field(default_factory=list)
    new: list[NewMessage] = field(default_factory=list)
    # The attachments of this batch's messages: the message object's `file` extension.
    files: dict[uuid.UUID, dict[str, Any]] = field(default_factory=dict)


class BatchSteps:
    """The steps of a batch; `limiter` is the rate limit shared by every process."""

    def __init__(self, limiter: TokenTaker) -> None:
        self.limiter = limiter

    @staticmethod
    async def read_senders_and_repeats(conn: AsyncConnection, batch: Batch) -> None:
        with_cid = [r for r in batch.live if r.draft.client_id]
        params = {
            "r": batch.room_id,
            "senders": sorted({r.sender.user_id for r in batch.live}),
            "cid_senders": [r.sender.user_id for r in with_cid],
            "cids": [r.draft.client_id for r in with_cid],
        }
        for row in (await conn.execute(_CHECK, params)).all():
            if row.kind == "s":
                batch.senders[row.user_id] = row
            else:
                batch.existing[(row.user_id, row.client_id)] = row

    async def take_tokens(self, batch: Batch) -> None:
        wanted: dict[str, int] = {}
        for req in batch.live:
            wanted[req.sender.user_id] = wanted.get(req.sender.user_id, 0) + 1
        batch.granted = await self.limiter.take(str(batch.room_id), wanted)

    async def limit(self, batch: Batch) -> None:
        """Sends past what the shared rate limit granted their sender are refused, the latest first.

        Tokens taken for sends that needed none (refused, or repeating a stored client_id, so a
        client resending after a reconnect is not refused) are given back.
        """
        left = dict(batch.granted)
        kept: list[SendRequest] = []
        for req in batch.live:
            user_id = req.sender.user_id
            if left.get(user_id, 1) > 0:
                left[user_id] = left.get(user_id, 1) - 1
                kept.append(req)
            else:
                req.future.set_exception(RateLimited("too many messages; slow down"))
        batch.live = kept
        unused = {user_id: -n for user_id, n in left.items() if n > 0}
        if unused:
            await self.limiter.take(str(batch.room_id), unused)

    @staticmethod
    def authorise(batch: Batch) -> None:
        """The one role check of a send, against the database at the time of the batch."""
        allowed: list[SendRequest] = []
        for req in batch.live:
            row = batch.senders.get(req.sender.user_id)
            role = "OWNER" if req.sender.is_admin else (row.role if row else None)
            if role in WRITER_ROLES:
                allowed.append(req)
            else:
                req.future.set_exception(Forbidden("only OWNER and EDITOR members may send messages"))
        batch.live = allowed

    @staticmethod
    def deduplicate(batch: Batch) -> None:
        """A client_id already stored is answered with its message (a repeat within the batch: see mentions)."""
        fresh: list[SendRequest] = []
        for req in batch.live:
            cid = req.draft.client_id
            row = batch.existing.get((req.sender.user_id, cid)) if cid else None
            if row is not None:
                stored_earlier = Ack(
                    client_id=row.client_id,
                    message_id=str(row.message_id),
                    sequence_number=int(row.sequence_number),
                    created_at=iso(row.created_at),
                )
                batch.answers.append((req, stored_earlier))
            else:
                fresh.append(req)
        batch.live = fresh

    @staticmethod
    async def check_files(conn: AsyncConnection, batch: Batch) -> None:
        ids = [r.draft.file_id for r in batch.live if r.draft.file_id is not None]
        if not ids:
            return
        for row in (await conn.execute(_FILES, {"r": batch.room_id, "ids": ids})).all():
            batch.files[row.file_id] = {
                "filename": row.filename,
                "content_type": row.content_type,
                "size": int(row.size),
            }
        found = batch.files.keys()
        kept: list[SendRequest] = []
        for req in batch.live:
            if req.draft.file_id is not None and req.draft.file_id not in found:
                req.future.set_exception(Invalid("file_id is not a file uploaded to this room"))
            else:
                kept.append(req)
        batch.live = kept

    @staticmethod
    async def resolve_mentions(conn: AsyncConnection, batch: Batch) -> None:
        """The new messages, with mentions kept only for members (listed or written as @Display Name).

        A client_id repeated within the batch makes no second message.
        """
        members: dict[str, str] | None = None
        if any(r.draft.mentions or (r.draft.content and "@" in r.draft.content) for r in batch.live):
            rows = (await conn.execute(_MEMBERS, {"r": batch.room_id})).all()
            members = {row.user_id: row.display_name for row in rows}
        first_of: dict[tuple[str, str], NewMessage] = {}
        for req in batch.live:
            d = req.draft
            key = (req.sender.user_id, d.client_id) if d.client_id else None
            if key and key in first_of:
                batch.answers.append((req, _SameAs(first_of[key])))
                continue
            mentions: list[str] = []
            if members is not None:
                mentions = [u for u in d.mentions if u in members]
                if d.content:
                    mentions += [u for u in find_display_name_mentions(d.content, members) if u not in mentions]
            new = NewMessage(
                sender_id=req.sender.user_id,
                message_type=d.message_type,
                content=d.content,
                data=d.data,
                mentions=mentions,
                file_id=d.file_id,
                file_url=f"/api/files/{d.file_id}" if d.file_id else None,
                client_id=d.client_id,
                priority=d.priority,
            )
            if key:
                first_of[key] = new
            batch.new.append(new)
            batch.answers.append((req, new))

    @classmethod
    async def store(cls, conn: AsyncConnection, batch: Batch) -> tuple[str, int, list[Message]]:
        """Reserve the numbers and insert the messages and their outbox row: one statement."""
        reserved, stored = await insert_sequenced(
            conn,
            batch.room_id,
            batch.new,
            outbox_row=(
                outbox.MESSAGES_CREATED,
                {"room_id": str(batch.room_id), "message_ids": [str(n.message_id) for n in batch.new]},
            ),
        )
        messages = [
            stored_message(
                batch.room_id,
                nm,
                seq,
                created,
                cls._display_name(batch, nm.sender_id),
                bool(getattr(batch.senders.get(nm.sender_id), "is_bot", False)),
                file=batch.files.get(nm.file_id) if nm.file_id else None,
            )
            for nm, seq, created in stored
        ]
        return reserved.title, reserved.first_seq, messages

    @staticmethod
    def _display_name(batch: Batch, sender_id: str) -> str | None:
        sender = batch.senders.get(sender_id)
        return sender.display_name if sender else None

    @staticmethod
    def answers(
        batch: Batch, stored: list[Message]
    ) -> tuple[list[tuple[SendRequest, Message | Ack]], list[tuple[SendRequest, Message | Ack]]]:
        """Each answered request's ack source (its message, or a repeat's stored fields), and the
        result its future resolves to."""
        by_new = {id(nm): obj for nm, obj in zip(batch.new, stored, strict=True)}
        answers: list[tuple[SendRequest, Message | Ack]] = []
        results: list[tuple[SendRequest, Message | Ack]] = []
        for req, what in batch.answers:
            if isinstance(what, NewMessage | _SameAs):
                obj: Message | Ack = by_new[id(what if isinstance(what, NewMessage) else what.first)]
                answers.append((req, obj))
            else:
                obj = what
                answers.append((req, what))
            results.append((req, obj))
        return answers, results
