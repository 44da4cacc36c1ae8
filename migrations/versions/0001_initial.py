"""The initial schema: users, tokens, rooms, members, messages, edits, reactions, files,
push subscriptions and preferences, the outbox and the audit log.

Revision ID: 0001_initial
Revises:
Create Date: 2026-11-25
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql as pg

revision = "0001_initial"
down_revision = None
branch_labels = None
depends_on = None

TZ = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "tr_users",
        sa.Column("user_id", sa.String(254), primary_key=True),
        sa.Column("display_name", sa.String(100), nullable=False),
        sa.Column("is_admin", sa.Boolean, nullable=False, server_default=sa.text("false")),
        sa.Column("password_hash", sa.Text, nullable=True),
        sa.Column("created_at", TZ, nullable=False, server_default=sa.func.now()),
        sa.Column("updated_at", TZ, nullable=False, server_default=sa.func.now()),
    )
    op.create_table(
        "auth_tokens",
        sa.Column("token_hash", sa.LargeBinary(32), primary_key=True),
        sa.Column("user_id", sa.String(254), sa.ForeignKey("tr_users.user_id", ondelete="CASCADE"), nullable=False),
        sa.Column("created_at", TZ, nullable=False, server_default=sa.func.now()),
        sa.Column("expires_at", TZ, nullable=False),
        sa.Column("revoked_at", TZ, nullable=True),
    )
    op.create_index("ix_auth_tokens_user_id", "auth_tokens", ["user_id"])
    op.create_table(
        "incident_rooms",
        sa.Column("room_id", pg.UUID(as_uuid=True), primary_key=True),
        sa.Column("title", sa.String(200), nullable=False),
        sa.Column("description", sa.Text, nullable=False, server_default=""),
        sa.Column("status", sa.String(16), nullable=False, server_default="active"),
        sa.Column("created_by", sa.String(254), nullable=False),
        sa.Column("created_at", TZ, nullable=False, server_default=sa.func.now()),
        sa.Column("updated_at", TZ, nullable=False, server_default=sa.func.now()),
        sa.Column("last_seq", sa.BigInteger, nullable=False, server_default="0"),
        sa.Column("last_message_at", TZ, nullable=True),
        sa.CheckConstraint("status IN ('active', 'resolved', 'archived')", name="ck_incident_rooms_status"),
    )
    op.create_table(
        "room_members",
        sa.Column("room_id", pg.UUID(as_uuid=True), sa.ForeignKey("incident_rooms.room_id", ondelete="CASCADE")),
        sa.Column("user_id", sa.String(254), sa.ForeignKey("tr_users.user_id", ondelete="CASCADE")),
        sa.Column("role", sa.String(8), nullable=False),
        sa.Column("joined_at", TZ, nullable=False, server_default=sa.func.now()),
        sa.Column("last_read_seq", sa.BigInteger, nullable=False, server_default="0"),
        sa.PrimaryKeyConstraint("room_id", "user_id", name="pk_room_members"),
        sa.CheckConstraint("role IN ('OWNER', 'EDITOR', 'VIEWER')", name="ck_room_members_role"),
    )
    op.create_index("ix_room_members_user_id", "room_members", ["user_id"])
    op.create_table(
        "uploaded_files",
        sa.Column("file_id", pg.UUID(as_uuid=True), primary_key=True),
        sa.Column("room_id", pg.UUID(as_uuid=True), sa.ForeignKey("incident_rooms.room_id", ondelete="CASCADE")),
        sa.Column("uploader_id", sa.String(254), nullable=False),
        sa.Column("filename", sa.String(255), nullable=False),
        sa.Column("content_type", sa.String(127), nullable=False),
        sa.Column("size", sa.BigInteger, nullable=False),
        sa.Column("storage_key", sa.Text, nullable=False),
        sa.Column("created_at", TZ, nullable=False, server_default=sa.func.now()),
    )
    op.create_index("ix_uploaded_files_room_id", "uploaded_files", ["room_id"])
    op.create_table(
        "messages",
        sa.Column("message_id", pg.UUID(as_uuid=True), primary_key=True),
        sa.Column(
            "room_id",
            pg.UUID(as_uuid=True),
            sa.ForeignKey("incident_rooms.room_id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("sequence_number", sa.BigInteger, nullable=False),
        sa.Column("sender_id", sa.String(254), nullable=False),
        sa.Column("message_type", sa.String(16), nullable=False),
        sa.Column("content", sa.Text, nullable=True),
        sa.Column("data", pg.JSONB, nullable=True),
        sa.Column("mentions", pg.ARRAY(sa.String(254)), nullable=False, server_default="{}"),
        sa.Column("file_id", pg.UUID(as_uuid=True), nullable=True),
        sa.Column("file_url", sa.Text, nullable=True),
        sa.Column("client_id", sa.String(64), nullable=True),
        sa.Column("created_at", TZ, nullable=False, server_default=sa.func.now()),
        sa.Column("edited_at", TZ, nullable=True),
        sa.Column("deleted_at", TZ, nullable=True),
        sa.Column("deleted_by", sa.String(254), nullable=True),
        sa.Column("reactions_at", TZ, nullable=True),
        sa.Column("updated_at", TZ, nullable=False, server_default=sa.func.now()),
        sa.UniqueConstraint("room_id", "sequence_number", name="uq_messages_room_seq"),
        sa.UniqueConstraint("room_id", "sender_id", "client_id", name="uq_messages_room_sender_client"),
        sa.CheckConstraint(
            "message_type IN ('text', 'image_ref', 'file_ref', 'incident_data', 'system')",
            name="ck_messages_type",
        ),
    )
    op.create_index("ix_messages_room_created", "messages", ["room_id", "created_at"])
    op.create_index("ix_messages_room_updated", "messages", ["room_id", "updated_at"])
    op.create_index("ix_messages_mentions", "messages", ["mentions"], postgresql_using="gin")
    op.create_index(
        "ix_messages_data", "messages", ["data"], postgresql_using="gin", postgresql_ops={"data": "jsonb_path_ops"}
    )
    op.create_table(
        "message_edits",
        sa.Column("edit_id", sa.BigInteger, primary_key=True, autoincrement=True),
        sa.Column(
            "message_id",
            pg.UUID(as_uuid=True),
            sa.ForeignKey("messages.message_id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("room_id", pg.UUID(as_uuid=True), nullable=False),
        sa.Column("content", sa.Text, nullable=True),
        sa.Column("data", pg.JSONB, nullable=True),
        sa.Column("version_at", TZ, nullable=False),
        sa.Column("version_by", sa.String(254), nullable=False),
        sa.Column("replaced_at", TZ, nullable=False, server_default=sa.func.now()),
    )
    op.create_index("ix_message_edits_message", "message_edits", ["message_id", "edit_id"])
    op.create_table(
        "message_reactions",
        sa.Column("message_id", pg.UUID(as_uuid=True), sa.ForeignKey("messages.message_id", ondelete="CASCADE")),
        sa.Column("user_id", sa.String(254), nullable=False),
        sa.Column("emoji", sa.String(64), nullable=False),
        sa.Column("created_at", TZ, nullable=False, server_default=sa.func.now()),
        sa.PrimaryKeyConstraint("message_id", "user_id", "emoji", name="pk_message_reactions"),
    )
    op.create_table(
        "push_subscriptions",
        sa.Column("subscription_id", sa.BigInteger, primary_key=True, autoincrement=True),
        sa.Column("user_id", sa.String(254), sa.ForeignKey("tr_users.user_id", ondelete="CASCADE"), nullable=False),
        sa.Column("endpoint", sa.Text, nullable=False, unique=True),
        sa.Column("p256dh", sa.Text, nullable=False),
        sa.Column("auth", sa.Text, nullable=False),
        sa.Column("created_at", TZ, nullable=False, server_default=sa.func.now()),
        sa.Column("updated_at", TZ, nullable=False, server_default=sa.func.now()),
    )
    op.create_index("ix_push_subscriptions_user", "push_subscriptions", ["user_id"])
    op.create_table(
        "notification_prefs",
        sa.Column(
            "user_id", sa.String(254), sa.ForeignKey("tr_users.user_id", ondelete="CASCADE"), primary_key=True
        ),
        sa.Column("push", sa.String(16), nullable=False, server_default="mentions"),
        sa.Column("rooms", pg.JSONB, nullable=False, server_default="{}"),
        sa.Column("updated_at", TZ, nullable=False, server_default=sa.func.now()),
    )
    op.create_table(
        "outbox",
        sa.Column("outbox_id", sa.BigInteger, primary_key=True, autoincrement=True),
        sa.Column("kind", sa.String(64), nullable=False),
        sa.Column("payload", pg.JSONB, nullable=False),
        sa.Column("created_at", TZ, nullable=False, server_default=sa.func.now()),
        sa.Column("enqueued_at", TZ, nullable=True),
        sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
        sa.Column("done_at", TZ, nullable=True),
    )
    op.create_index("ix_outbox_pending", "outbox", ["outbox_id"], postgresql_where=sa.text("done_at IS NULL"))
    op.create_table(
        "audit_log",
        sa.Column("audit_id", sa.BigInteger, primary_key=True, autoincrement=True),
        sa.Column("room_id", pg.UUID(as_uuid=True), nullable=False),
        sa.Column("chain_index", sa.BigInteger, nullable=False),
        sa.Column("outbox_id", sa.BigInteger, nullable=True, unique=True),
        sa.Column("action", sa.String(32), nullable=False),
        sa.Column("message_id", pg.UUID(as_uuid=True), nullable=True),
        sa.Column("actor_id", sa.String(254), nullable=False),
        sa.Column("body", pg.JSONB, nullable=False),
        sa.Column("created_at", TZ, nullable=False, server_default=sa.func.now()),
        sa.Column("prev_hash", sa.String(64), nullable=False),
        sa.Column("hash", sa.String(64), nullable=False),
        sa.UniqueConstraint("room_id", "chain_index", name="uq_audit_log_room_chain"),
    )


def downgrade() -> None:
    for table in (
        "audit_log",
        "outbox",
        "notification_prefs",
        "push_subscriptions",
        "message_reactions",
        "message_edits",
        "messages",
        "uploaded_files",
        "room_members",
        "incident_rooms",
        "auth_tokens",
        "tr_users",
    ):
        op.drop_table(table)
