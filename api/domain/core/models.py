"""The relational schema, as SQLAlchemy Core tables.

The migrations in `migrations/versions` are written by hand and must produce exactly this;
`tests/integration/test_migrations.py` compares them.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Column,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    PrimaryKeyConstraint,
    String,
    Table,
    Text,
    UniqueConstraint,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY, JSONB, UUID

metadata = MetaData()


def _room_ref(**options: object) -> Column[object]:
    """The room a row belongs to: deleting the room deletes the row."""
    fk = ForeignKey("incident_rooms.room_id", ondelete="CASCADE")
    return Column("room_id", UUID(as_uuid=True), fk, **options)  # type: ignore[arg-type]


def _stamp(name: str) -> Column[object]:
    """A time set by the database when the row is written."""
    return Column(name, DateTime(timezone=True), nullable=False, server_default=func.now())

ROLES = ("OWNER", "EDITOR", "VIEWER")
ROOM_STATUSES = ("active", "resolved", "archived")
MESSAGE_TYPES = ("text", "image_ref", "file_ref", "incident_data", "system")

users = Table(
    "tr_users",
    metadata,
    Column("user_id", String(254), primary_key=True),
    Column("display_name", String(100), nullable=False),
    Column("is_admin", Boolean, nullable=False, server_default=text("false")),
    # A webhook's sender (api.domain.webhooks): no password, never signs in.
    Column("is_bot", Boolean, nullable=False, server_default=text("false")),
    Column("password_hash", Text, nullable=True),
    _stamp("created_at"),
    _stamp("updated_at"),
)

auth_tokens = Table(
    "auth_tokens",
    metadata,
    Column("token_hash", LargeBinary(32), primary_key=True),
    Column("user_id", String(254), ForeignKey("tr_users.user_id", ondelete="CASCADE"), nullable=False),
    _stamp("created_at"),
    Column("expires_at", DateTime(timezone=True), nullable=False),
    Column("revoked_at", DateTime(timezone=True), nullable=True),
    Index("ix_auth_tokens_user_id", "user_id"),
)

rooms = Table(
    "incident_rooms",
    metadata,
    Column("room_id", UUID(as_uuid=True), primary_key=True),
    Column("title", String(200), nullable=False),
    Column("description", Text, nullable=False, server_default=""),
    Column("status", String(16), nullable=False, server_default="active"),
    Column("created_by", String(254), nullable=False),
    _stamp("created_at"),
    _stamp("updated_at"),
    # The room's last assigned sequence number: the row lock on it orders the room's stream.
    Column("last_seq", BigInteger, nullable=False, server_default="0"),
    Column("last_message_at", DateTime(timezone=True), nullable=True),
    # Urgent pages (migration 0006): repeat interval and repeats after the first; NULL: defaults.
    Column("urgent_repeat_seconds", Integer, nullable=True),
    Column("urgent_max_repeats", Integer, nullable=True),
    # Escalation: after this many unacknowledged repeats, also page a user id or `role:ROLE`.
    Column("urgent_escalate_after", Integer, nullable=True),
    Column("urgent_escalate_to", String(254), nullable=True),
    CheckConstraint("status IN ('active', 'resolved', 'archived')", name="ck_incident_rooms_status"),
)

members = Table(
    "room_members",
    metadata,
    _room_ref(),
    Column("user_id", String(254), ForeignKey("tr_users.user_id", ondelete="CASCADE")),
    Column("role", String(8), nullable=False),
    _stamp("joined_at"),
    Column("last_read_seq", BigInteger, nullable=False, server_default="0"),
    # Paged by urgent messages that mention nobody (migration 0006).
    Column("urgent_alerts", Boolean, nullable=False, server_default=text("false")),
    PrimaryKeyConstraint("room_id", "user_id", name="pk_room_members"),
    CheckConstraint("role IN ('OWNER', 'EDITOR', 'VIEWER')", name="ck_room_members_role"),
    Index("ix_room_members_user_id", "user_id"),
)

files = Table(
    "uploaded_files",
    metadata,
    Column("file_id", UUID(as_uuid=True), primary_key=True),
    _room_ref(),
    Column("uploader_id", String(254), nullable=False),
    Column("filename", String(255), nullable=False),
    Column("content_type", String(127), nullable=False),
    Column("size", BigInteger, nullable=False),
    Column("storage_key", Text, nullable=False),
    _stamp("created_at"),
    Index("ix_uploaded_files_room_id", "room_id"),
)

messages = Table(
    "messages",
    metadata,
    Column("message_id", UUID(as_uuid=True), primary_key=True),
    _room_ref(nullable=False),
    Column("sequence_number", BigInteger, nullable=False),
    # No foreign key: the spec wants messages of users unknown to tr_users to stay readable.
    Column("sender_id", String(254), nullable=False),
    Column("message_type", String(16), nullable=False),
    # Text content; NULL for incident_data (kept in `data`) and for deleted messages' readers
    # (the column keeps the content for audit; every reader masks it when deleted_at is set).
    Column("content", Text, nullable=True),
    Column("data", JSONB, nullable=True),
    Column("mentions", ARRAY(String(254)), nullable=False, server_default="{}"),
    Column("file_id", UUID(as_uuid=True), nullable=True),
    Column("file_url", Text, nullable=True),
    Column("client_id", String(64), nullable=True),
    # `normal` or `urgent` (migration 0006, docs/alerts.md).
    Column("priority", String(8), nullable=False, server_default="normal"),
    _stamp("created_at"),
    Column("edited_at", DateTime(timezone=True), nullable=True),
    Column("deleted_at", DateTime(timezone=True), nullable=True),
    Column("deleted_by", String(254), nullable=True),
    Column("reactions_at", DateTime(timezone=True), nullable=True),
    # Any change visible to readers (edit, delete, reaction): drives `sync` with since_time.
    _stamp("updated_at"),
    UniqueConstraint("room_id", "sequence_number", name="uq_messages_room_seq"),
    UniqueConstraint("room_id", "sender_id", "client_id", name="uq_messages_room_sender_client"),
    CheckConstraint(
        "message_type IN ('text', 'image_ref', 'file_ref', 'incident_data', 'system')",
        name="ck_messages_type",
    ),
    CheckConstraint("priority IN ('normal', 'urgent')", name="ck_messages_priority"),
    Index("ix_messages_room_created", "room_id", "created_at"),
    Index("ix_messages_room_updated", "room_id", "updated_at"),
    Index("ix_messages_mentions", "mentions", postgresql_using="gin"),
    Index("ix_messages_data", "data", postgresql_using="gin", postgresql_ops={"data": "jsonb_path_ops"}),
)

message_edits = Table(
    "message_edits",
    metadata,
    Column("edit_id", BigInteger, primary_key=True, autoincrement=True),
    Column(
        "message_id",
        UUID(as_uuid=True),
        ForeignKey("messages.message_id", ondelete="CASCADE"),
        nullable=False,
    ),
    Column("room_id", UUID(as_uuid=True), nullable=False),
    # The version that was replaced: its content and when / by whom it was written.
    Column("content", Text, nullable=True),
    Column("data", JSONB, nullable=True),
    Column("version_at", DateTime(timezone=True), nullable=False),
    Column("version_by", String(254), nullable=False),
    _stamp("replaced_at"),
    Index("ix_message_edits_message", "message_id", "edit_id"),
)

reactions = Table(
    "message_reactions",
    metadata,
    Column("message_id", UUID(as_uuid=True), ForeignKey("messages.message_id", ondelete="CASCADE")),
    Column("user_id", String(254), nullable=False),
    Column("emoji", String(64), nullable=False),
    _stamp("created_at"),
    PrimaryKeyConstraint("message_id", "user_id", "emoji", name="pk_message_reactions"),
)

push_subscriptions = Table(
    "push_subscriptions",
    metadata,
    Column("subscription_id", BigInteger, primary_key=True, autoincrement=True),
    Column("user_id", String(254), ForeignKey("tr_users.user_id", ondelete="CASCADE"), nullable=False),
    Column("endpoint", Text, nullable=False, unique=True),
    Column("p256dh", Text, nullable=False),
    Column("auth", Text, nullable=False),
    _stamp("created_at"),
    _stamp("updated_at"),
    Index("ix_push_subscriptions_user", "user_id"),
)

notification_prefs = Table(
    "notification_prefs",
    metadata,
    Column("user_id", String(254), ForeignKey("tr_users.user_id", ondelete="CASCADE"), primary_key=True),
    Column("push", String(16), nullable=False, server_default="mentions"),
    Column("rooms", JSONB, nullable=False, server_default="{}"),
    _stamp("updated_at"),
)

outbox = Table(
    "outbox",
    metadata,
    Column("outbox_id", BigInteger, primary_key=True, autoincrement=True),
    Column("kind", String(64), nullable=False),
    Column("payload", JSONB, nullable=False),
    _stamp("created_at"),
    Column("enqueued_at", DateTime(timezone=True), nullable=True),
    Column("attempts", Integer, nullable=False, server_default="0"),
    Column("done_at", DateTime(timezone=True), nullable=True),
    # Task names (api.domain.outbox.jobs) that finished for this row; done_at is set when all have.
    Column("done_jobs", ARRAY(String(64)), nullable=False, server_default="{}"),
    Index("ix_outbox_pending", "outbox_id", postgresql_where=text("done_at IS NULL")),
)

# One row per (message, subscription) a push is planned for: the unique pair keeps it to one push.
push_deliveries = Table(
    "push_deliveries",
    metadata,
    Column("delivery_id", BigInteger, primary_key=True, autoincrement=True),
    Column("outbox_id", BigInteger, nullable=True),
    Column(
        "message_id",
        UUID(as_uuid=True),
        ForeignKey("messages.message_id", ondelete="CASCADE"),
        nullable=False,
    ),
    Column(
        "subscription_id",
        BigInteger,
        ForeignKey("push_subscriptions.subscription_id", ondelete="CASCADE"),
        nullable=False,
    ),
    Column("user_id", String(254), nullable=False),
    Column("kind", String(16), nullable=False),
    Column("status", String(16), nullable=False, server_default="pending"),
    Column("attempts", Integer, nullable=False, server_default="0"),
    _stamp("created_at"),
    Column("enqueued_at", DateTime(timezone=True), nullable=True),
    Column("next_attempt_at", DateTime(timezone=True), nullable=True),
    Column("claimed_at", DateTime(timezone=True), nullable=True),
    # Set just before the first byte of the claimed push leaves (see migration 0004).
    Column("wire_at", DateTime(timezone=True), nullable=True),
    Column("finished_at", DateTime(timezone=True), nullable=True),
    Column("last_status", Integer, nullable=True),
    Column("last_outcome", String(32), nullable=True),
    # 0 for ordinary pushes; the round (1, 2, …) of an urgent page (migration 0006).
    Column("page_round", Integer, nullable=False, server_default="0"),
    UniqueConstraint(
        "message_id", "subscription_id", "page_round", name="uq_push_deliveries_message_subscription_round"
    ),
    CheckConstraint("kind IN ('message', 'mention', 'urgent')", name="ck_push_deliveries_kind"),
    CheckConstraint(
        "status IN ('pending', 'sending', 'sent', 'failed', 'skipped')", name="ck_push_deliveries_status"
    ),
    Index(
        "ix_push_deliveries_open", "delivery_id", postgresql_where=text("status IN ('pending', 'sending')")
    ),
    Index("ix_push_deliveries_outbox", "outbox_id"),
    Index("ix_push_deliveries_subscription", "subscription_id"),
)

# Urgent pages (migration 0006, docs/alerts.md): acknowledgements, and one paging schedule per
# (urgent message, paged user).
urgent_acks = Table(
    "urgent_acks",
    metadata,
    Column("message_id", UUID(as_uuid=True), ForeignKey("messages.message_id", ondelete="CASCADE")),
    Column("user_id", String(254), nullable=False),
    Column("acknowledged_at", DateTime(timezone=True), nullable=False),
    PrimaryKeyConstraint("message_id", "user_id", name="pk_urgent_acks"),
)

urgent_pages = Table(
    "urgent_pages",
    metadata,
    Column("page_id", BigInteger, primary_key=True, autoincrement=True),
    Column(
        "message_id", UUID(as_uuid=True), ForeignKey("messages.message_id", ondelete="CASCADE"), nullable=False
    ),
    Column("room_id", UUID(as_uuid=True), nullable=False),
    Column("user_id", String(254), nullable=False),
    Column("rounds_sent", Integer, nullable=False, server_default="0"),
    Column("max_rounds", Integer, nullable=False),
    Column("interval_seconds", Float, nullable=False),
    Column("next_at", DateTime(timezone=True), nullable=True),
    Column("enqueued_at", DateTime(timezone=True), nullable=True),
    Column("done_at", DateTime(timezone=True), nullable=True),
    Column("stop_reason", String(16), nullable=True),
    # The page whose unacknowledged repeats started this one (an escalation), if any.
    Column("escalated_from", BigInteger, nullable=True),
    _stamp("created_at"),
    UniqueConstraint("message_id", "user_id", name="uq_urgent_pages_message_user"),
    Index("ix_urgent_pages_due", "next_at", postgresql_where=text("done_at IS NULL")),
)

audit_log = Table(
    "audit_log",
    metadata,
    Column("audit_id", BigInteger, primary_key=True, autoincrement=True),
    Column("room_id", UUID(as_uuid=True), nullable=False),
    Column("chain_index", BigInteger, nullable=False),
    Column("outbox_id", BigInteger, nullable=True, unique=True),
    Column("action", String(32), nullable=False),
    Column("message_id", UUID(as_uuid=True), nullable=True),
    Column("actor_id", String(254), nullable=False),
    Column("body", JSONB, nullable=False),
    _stamp("created_at"),
    Column("prev_hash", String(64), nullable=False),
    Column("hash", String(64), nullable=False),
    UniqueConstraint("room_id", "chain_index", name="uq_audit_log_room_chain"),
)

WEBHOOK_MODES = ("post", "room_per_alert")

# Incoming webhooks (api.domain.webhooks): only the SHA-256 of the URL's secret is kept.
webhooks = Table(
    "webhooks",
    metadata,
    Column("webhook_id", UUID(as_uuid=True), primary_key=True),
    _room_ref(nullable=False),
    Column("name", String(100), nullable=False),
    Column("mode", String(16), nullable=False),
    Column("resolve_room", Boolean, nullable=False, server_default=text("false")),
    Column("secret_hash", LargeBinary(32), nullable=False),
    Column("bot_user_id", String(254), ForeignKey("tr_users.user_id", ondelete="CASCADE"), nullable=False),
    Column("created_by", String(254), nullable=False),
    _stamp("created_at"),
    CheckConstraint("mode IN ('post', 'room_per_alert')", name="ck_webhooks_mode"),
    Index("ix_webhooks_room_id", "room_id"),
)

# In `room_per_alert` mode: the rooms opened per alert group (repeats go to the active one).
webhook_alert_rooms = Table(
    "webhook_alert_rooms",
    metadata,
    Column(
        "webhook_id",
        UUID(as_uuid=True),
        ForeignKey("webhooks.webhook_id", ondelete="CASCADE"),
        nullable=False,
    ),
    Column("group_key", Text, nullable=False),
    _room_ref(nullable=False),
    _stamp("created_at"),
    PrimaryKeyConstraint("webhook_id", "room_id", name="pk_webhook_alert_rooms"),
    Index("ix_webhook_alert_rooms_group", "webhook_id", "group_key"),
)

# Accepted deliveries by payload hash: a retried delivery is answered without posting again.
webhook_deliveries = Table(
    "webhook_deliveries",
    metadata,
    Column("delivery_id", BigInteger, primary_key=True, autoincrement=True),
    Column(
        "webhook_id",
        UUID(as_uuid=True),
        ForeignKey("webhooks.webhook_id", ondelete="CASCADE"),
        nullable=False,
    ),
    Column("dedupe_key", String(64), nullable=False),
    Column("result", JSONB, nullable=False),
    _stamp("received_at"),
    Index("ix_webhook_deliveries_key", "webhook_id", "dedupe_key", "received_at"),
)
