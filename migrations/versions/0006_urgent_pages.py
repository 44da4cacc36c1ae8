"""Urgent pages: a message priority, acknowledgements, and the repeats planned in PostgreSQL.

- `messages.priority`: `normal` (default) or `urgent`.
- `urgent_acks`: who acknowledged which urgent message, and when (one row per pair).
- `urgent_pages`: one row per (urgent message, paged user): how many notifications went out,
  when the next one is due (`next_at`), and when and why paging stopped (`done_at`,
  `stop_reason`). The worker's relay publishes a page whose `next_at` has come; the task
  records each round in the same transaction as its planned pushes, so a restart neither loses
  nor repeats a round.
- `incident_rooms.urgent_repeat_seconds` / `urgent_max_repeats`: the room's repeat interval and
  how many repeats follow the first notification (NULL: the server's defaults);
  `urgent_escalate_after` / `urgent_escalate_to`: after that many unacknowledged repeats, also
  page this member (a user id) or every member of this role (`role:OWNER`, `role:EDITOR`);
  `urgent_pages.escalated_from` marks such a page (it does not escalate again).
- `room_members.urgent_alerts`: the member's opt-in to be paged by urgent messages that mention
  nobody.
- `push_deliveries.page_round`: 0 for ordinary pushes, the round (1, 2, …) for urgent pages;
  the unique key becomes (message, subscription, round), kind `urgent` is allowed.

Revision ID: 0006_urgent_pages
Revises: 0005_webhooks
Create Date: 2026-12-04
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import UUID

revision = "0006_urgent_pages"
down_revision = "0005_webhooks"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column(
        "messages", sa.Column("priority", sa.String(8), nullable=False, server_default="normal")
    )
    op.create_check_constraint("ck_messages_priority", "messages", "priority IN ('normal', 'urgent')")
    op.add_column("incident_rooms", sa.Column("urgent_repeat_seconds", sa.Integer, nullable=True))
    op.add_column("incident_rooms", sa.Column("urgent_max_repeats", sa.Integer, nullable=True))
    op.add_column("incident_rooms", sa.Column("urgent_escalate_after", sa.Integer, nullable=True))
    op.add_column("incident_rooms", sa.Column("urgent_escalate_to", sa.String(254), nullable=True))
    op.add_column(
        "room_members", sa.Column("urgent_alerts", sa.Boolean, nullable=False, server_default=sa.false())
    )
    op.create_table(
        "urgent_acks",
        sa.Column(
            "message_id", UUID(as_uuid=True), sa.ForeignKey("messages.message_id", ondelete="CASCADE"), nullable=False
        ),
        sa.Column("user_id", sa.String(254), nullable=False),
        sa.Column("acknowledged_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("message_id", "user_id", name="pk_urgent_acks"),
    )
    op.create_table(
        "urgent_pages",
        sa.Column("page_id", sa.BigInteger, primary_key=True, autoincrement=True),
        sa.Column(
            "message_id", UUID(as_uuid=True), sa.ForeignKey("messages.message_id", ondelete="CASCADE"), nullable=False
        ),
        sa.Column("room_id", UUID(as_uuid=True), nullable=False),
        sa.Column("user_id", sa.String(254), nullable=False),
        sa.Column("rounds_sent", sa.Integer, nullable=False, server_default="0"),
        sa.Column("max_rounds", sa.Integer, nullable=False),
        sa.Column("interval_seconds", sa.Float, nullable=False),
        sa.Column("next_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("enqueued_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("done_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("stop_reason", sa.String(16), nullable=True),
        sa.Column("escalated_from", sa.BigInteger, nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        sa.UniqueConstraint("message_id", "user_id", name="uq_urgent_pages_message_user"),
    )
    op.create_index(
        "ix_urgent_pages_due", "urgent_pages", ["next_at"], postgresql_where=sa.text("done_at IS NULL")
    )
    op.add_column(
        "push_deliveries", sa.Column("page_round", sa.Integer, nullable=False, server_default="0")
    )
    op.drop_constraint("uq_push_deliveries_message_subscription", "push_deliveries", type_="unique")
    op.create_unique_constraint(
        "uq_push_deliveries_message_subscription_round",
        "push_deliveries",
        ["message_id", "subscription_id", "page_round"],
    )
    op.drop_constraint("ck_push_deliveries_kind", "push_deliveries", type_="check")
    op.create_check_constraint(
        "ck_push_deliveries_kind", "push_deliveries", "kind IN ('message', 'mention', 'urgent')"
    )


def downgrade() -> None:
    op.execute("DELETE FROM push_deliveries WHERE page_round > 0")
    op.drop_constraint("ck_push_deliveries_kind", "push_deliveries", type_="check")
    op.create_check_constraint("ck_push_deliveries_kind", "push_deliveries", "kind IN ('message', 'mention')")
    op.drop_constraint("uq_push_deliveries_message_subscription_round", "push_deliveries", type_="unique")
    op.create_unique_constraint(
        "uq_push_deliveries_message_subscription", "push_deliveries", ["message_id", "subscription_id"]
    )
    op.drop_column("push_deliveries", "page_round")
    op.drop_index("ix_urgent_pages_due", table_name="urgent_pages")
    op.drop_table("urgent_pages")
    op.drop_table("urgent_acks")
    op.drop_column("room_members", "urgent_alerts")
    op.drop_column("incident_rooms", "urgent_escalate_to")
    op.drop_column("incident_rooms", "urgent_escalate_after")
    op.drop_column("incident_rooms", "urgent_max_repeats")
    op.drop_column("incident_rooms", "urgent_repeat_seconds")
    op.drop_constraint("ck_messages_priority", "messages", type_="check")
    op.drop_column("messages", "priority")
