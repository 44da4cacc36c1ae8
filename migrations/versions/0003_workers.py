"""Workers: which jobs of an outbox row are done, and one row per planned Web Push.

`outbox.done_jobs` lists the task names that finished for the row; the row's `done_at` is set
when every job of its kind is in it, so the relay re-sends only the jobs still missing.

`push_deliveries` holds one row per (message, subscription): the unique pair is what makes a
push go out at most once per subscription however often a job reruns, and its status and
timestamps let the relay find deliveries whose queue message was lost (a Redis restart) or
whose worker died mid-send.

Revision ID: 0003_workers
Revises: 0002_search
Create Date: 2026-11-26
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql as pg

revision = "0003_workers"
down_revision = "0002_search"
branch_labels = None
depends_on = None

TZ = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.add_column(
        "outbox",
        sa.Column("done_jobs", pg.ARRAY(sa.String(64)), nullable=False, server_default="{}"),
    )
    op.create_table(
        "push_deliveries",
        sa.Column("delivery_id", sa.BigInteger, primary_key=True, autoincrement=True),
        sa.Column("outbox_id", sa.BigInteger, nullable=True),
        sa.Column(
            "message_id",
            pg.UUID(as_uuid=True),
            sa.ForeignKey("messages.message_id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column(
            "subscription_id",
            sa.BigInteger,
            sa.ForeignKey("push_subscriptions.subscription_id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("user_id", sa.String(254), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("status", sa.String(16), nullable=False, server_default="pending"),
        sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
        sa.Column("created_at", TZ, nullable=False, server_default=sa.func.now()),
        sa.Column("enqueued_at", TZ, nullable=True),
        sa.Column("next_attempt_at", TZ, nullable=True),
        sa.Column("claimed_at", TZ, nullable=True),
        sa.Column("finished_at", TZ, nullable=True),
        sa.Column("last_status", sa.Integer, nullable=True),
        sa.Column("last_outcome", sa.String(32), nullable=True),
        sa.UniqueConstraint("message_id", "subscription_id", name="uq_push_deliveries_message_subscription"),
        sa.CheckConstraint("kind IN ('message', 'mention')", name="ck_push_deliveries_kind"),
        sa.CheckConstraint(
            "status IN ('pending', 'sending', 'sent', 'failed', 'skipped')", name="ck_push_deliveries_status"
        ),
    )
    # The relay scans only the open deliveries; finished ones are history.
    op.create_index(
        "ix_push_deliveries_open",
        "push_deliveries",
        ["delivery_id"],
        postgresql_where=sa.text("status IN ('pending', 'sending')"),
    )
    op.create_index("ix_push_deliveries_outbox", "push_deliveries", ["outbox_id"])
    op.create_index("ix_push_deliveries_subscription", "push_deliveries", ["subscription_id"])


def downgrade() -> None:
    op.drop_table("push_deliveries")
    op.drop_column("outbox", "done_jobs")
