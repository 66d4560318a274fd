"""The ledger: head, entries, hash tiles, checkpoints; the head row of the empty log.

Revision ID: 0001
Revises:
"""

import hashlib

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    head = op.create_table(
        "ledger_head",
        sa.Column("id", sa.SmallInteger, primary_key=True, autoincrement=False),
        sa.Column("size", sa.BigInteger, nullable=False),
        sa.Column("root", sa.LargeBinary(32), nullable=False),
        sa.Column("last_leaf_hash", sa.LargeBinary(32), nullable=False),
    )
    op.create_table(
        "ledger_entries",
        # INTEGER on SQLite makes idx the rowid: one B-tree instead of two.
        sa.Column(
            "idx",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            primary_key=True,
            autoincrement=False,
        ),
        sa.Column("type", sa.String(64), nullable=False),
        sa.Column("leaf", sa.LargeBinary, nullable=False),
        sa.Column("payload", sa.LargeBinary, nullable=True),
    )
    op.create_table(
        "ledger_tiles",
        sa.Column("level", sa.SmallInteger, primary_key=True, autoincrement=False),
        sa.Column("idx", sa.BigInteger, primary_key=True, autoincrement=False),
        sa.Column("width", sa.Integer, nullable=False),
        sa.Column("hashes", sa.LargeBinary, nullable=False),
    )
    op.create_table(
        "ledger_checkpoints",
        sa.Column("size", sa.BigInteger, primary_key=True, autoincrement=False),
        sa.Column("root", sa.LargeBinary(32), nullable=False),
        sa.Column("note", sa.Text, nullable=False),
        sa.Column("signed_at", sa.DateTime(timezone=True), nullable=False),
    )
    # The empty log: size 0, root SHA-256(""), chain starting from 32 zero bytes.
    op.bulk_insert(
        head,
        [{"id": 1, "size": 0, "root": hashlib.sha256(b"").digest(), "last_leaf_hash": bytes(32)}],
    )


def downgrade() -> None:
    for table in ("ledger_checkpoints", "ledger_tiles", "ledger_entries", "ledger_head"):
        op.drop_table(table)
