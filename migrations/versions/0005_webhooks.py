"""Incoming webhooks: alert sources post into rooms as bot users.

- `tr_users.is_bot`: a bot (one per webhook) has no password and never signs in; clients show
  its messages as a bot's.
- `webhooks`: one per incoming URL; only the SHA-256 of its secret is kept.
- `webhook_alert_rooms`: in `room_per_alert` mode, the room opened for an alert group, so repeats
  of the group go to the same room while it is active.
- `webhook_deliveries`: each accepted delivery, keyed by a hash of its payload (or its
  Idempotency-Key), so a retried delivery is answered without posting again.

Revision ID: 0005_webhooks
Revises: 0004_push_wire
Create Date: 2026-12-04
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB, UUID

revision = "0005_webhooks"
down_revision = "0004_push_wire"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column(
        "tr_users", sa.Column("is_bot", sa.Boolean(), nullable=False, server_default=sa.text("false"))
    )
    op.create_table(
        "webhooks",
        sa.Column("webhook_id", UUID(as_uuid=True), primary_key=True),
        sa.Column(
            "room_id",
            UUID(as_uuid=True),
            sa.ForeignKey("incident_rooms.room_id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("mode", sa.String(16), nullable=False),
        sa.Column("resolve_room", sa.Boolean(), nullable=False, server_default=sa.text("false")),
        sa.Column("secret_hash", sa.LargeBinary(32), nullable=False),
        sa.Column(
            "bot_user_id",
            sa.String(254),
            sa.ForeignKey("tr_users.user_id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("created_by", sa.String(254), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        sa.CheckConstraint("mode IN ('post', 'room_per_alert')", name="ck_webhooks_mode"),
        sa.Index("ix_webhooks_room_id", "room_id"),
    )
    op.create_table(
        "webhook_alert_rooms",
        sa.Column(
            "webhook_id",
            UUID(as_uuid=True),
            sa.ForeignKey("webhooks.webhook_id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("group_key", sa.Text(), nullable=False),
        sa.Column(
            "room_id",
            UUID(as_uuid=True),
            sa.ForeignKey("incident_rooms.room_id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        sa.PrimaryKeyConstraint("webhook_id", "room_id", name="pk_webhook_alert_rooms"),
        sa.Index("ix_webhook_alert_rooms_group", "webhook_id", "group_key"),
    )
    op.create_table(
        "webhook_deliveries",
        sa.Column("delivery_id", sa.BigInteger(), primary_key=True, autoincrement=True),
        sa.Column(
            "webhook_id",
            UUID(as_uuid=True),
            sa.ForeignKey("webhooks.webhook_id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("dedupe_key", sa.String(64), nullable=False),
        sa.Column("result", JSONB(), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        sa.Index("ix_webhook_deliveries_key", "webhook_id", "dedupe_key", "received_at"),
    )


def downgrade() -> None:
    op.drop_table("webhook_deliveries")
    op.drop_table("webhook_alert_rooms")
    op.drop_table("webhooks")
    op.drop_column("tr_users", "is_bot")
