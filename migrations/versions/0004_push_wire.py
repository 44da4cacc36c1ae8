"""Push deliveries remember whether the request left for the push service.

`push_deliveries.wire_at` is set, in its own commit, just before the first byte of a push is
written to the push service's connection (and cleared by every new claim). A worker that dies
with a delivery claimed leaves `sending` behind; `wire_at` then tells the two cases apart: unset,
nothing was sent and the delivery is taken over and sent; set, the push service may have it, and
the delivery is closed (`failed`, outcome `interrupted`) rather than sent a second time.

Revision ID: 0004_push_wire
Revises: 0003_workers
Create Date: 2026-12-05
"""

import sqlalchemy as sa
from alembic import op

revision = "0004_push_wire"
down_revision = "0003_workers"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("push_deliveries", sa.Column("wire_at", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    op.drop_column("push_deliveries", "wire_at")
