"""A partial index on the log's key rotations, so the key chain is read without a scan.

Only ``log.key_rotation`` rows are in it (a handful in a log's lifetime), so
appends of every other entry do not pay for it.

Revision ID: 0015
Revises: 0014
"""

import sqlalchemy as sa
from alembic import op

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None

_WHERE = sa.text("type = 'log.key_rotation'")


def upgrade() -> None:
    op.create_index(
        "ix_ledger_entries_key_rotation",
        "ledger_entries",
        ["idx"],
        sqlite_where=_WHERE,
        postgresql_where=_WHERE,
    )


def downgrade() -> None:
    op.drop_index("ix_ledger_entries_key_rotation", "ledger_entries")
