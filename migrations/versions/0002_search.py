"""The built-in search index: `search_documents`, owned by the `search` package.

One row per message ever indexed. Live rows carry the text and a `tsvector` built in Python by
`search.tokens` (words split at letter/digit boundaries; CJK as character bigrams plus each run's
last character), so English, Chinese and part numbers all go through one GIN index. A deleted
message leaves a tombstone (`deleted`, no text, empty tsvector) so that a late re-index of an
older version can never bring it back. See docs/search.md for the index strategy.

Revision ID: 0002_search
Revises: 0001_initial
Create Date: 2026-11-26
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql as pg

revision = "0002_search"
down_revision = "0001_initial"
branch_labels = None
depends_on = None

TZ = sa.DateTime(timezone=True)


def upgrade() -> None:
    # btree_gin lets one GIN index hold both the room and the words, so a search inside a
    # user's rooms intersects posting lists in the index instead of visiting every match.
    op.execute("CREATE EXTENSION IF NOT EXISTS btree_gin")
    op.create_table(
        "search_documents",
        sa.Column("message_id", pg.UUID(as_uuid=False), primary_key=True),
        sa.Column("room_id", pg.UUID(as_uuid=False), nullable=True),
        sa.Column("sender_id", sa.String(254), nullable=True),
        sa.Column("sender_display_name", sa.Text, nullable=True),
        sa.Column("message_type", sa.String(16), nullable=True),
        sa.Column("content", sa.Text, nullable=True),
        sa.Column("created_at", TZ, nullable=True),
        sa.Column("sequence_number", sa.BigInteger, nullable=True),
        sa.Column("version", sa.BigInteger, nullable=False),
        sa.Column("deleted", sa.Boolean, nullable=False, server_default=sa.text("false")),
        sa.Column("tsv", pg.TSVECTOR, nullable=False, server_default=sa.text("''::tsvector")),
        sa.Column("indexed_at", TZ, nullable=False, server_default=sa.func.now()),
        sa.CheckConstraint(
            "deleted OR (room_id IS NOT NULL AND sender_id IS NOT NULL AND message_type IS NOT NULL"
            " AND content IS NOT NULL AND created_at IS NOT NULL AND sequence_number IS NOT NULL)",
            name="ck_search_documents_live_complete",
        ),
    )
    # Words within rooms: one GIN over (room_id, tsv), so "these words in this room" is an
    # intersection of posting lists inside the index.
    op.execute(
        "CREATE INDEX ix_search_documents_room_tsv ON search_documents "
        "USING gin (room_id, tsv) WHERE NOT deleted"
    )
    # Newest first within a room: a common word in a big room is found by walking this index
    # and stopping after enough matches, instead of visiting every match.
    op.execute(
        "CREATE INDEX ix_search_documents_room_created ON search_documents "
        "(room_id, created_at DESC, message_id DESC) WHERE NOT deleted"
    )
    # Newest first across rooms, for the rooms of a search that are not big (and for a system
    # admin, who reads them all): common words are found by walking back and stopping.
    op.execute(
        "CREATE INDEX ix_search_documents_created ON search_documents "
        "(created_at DESC, message_id DESC) WHERE NOT deleted"
    )
    # The same walk for `from:` and `has:` (and the sender / type filters) without words.
    op.execute(
        "CREATE INDEX ix_search_documents_room_sender ON search_documents "
        "(room_id, sender_id, created_at DESC) WHERE NOT deleted"
    )
    op.execute(
        "CREATE INDEX ix_search_documents_room_type ON search_documents "
        "(room_id, message_type, created_at DESC) WHERE NOT deleted"
    )


def downgrade() -> None:
    op.drop_table("search_documents")
