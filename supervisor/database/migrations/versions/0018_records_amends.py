"""Records: a partial index on what a record corrects, for a record's amendment chain.

The record page lists a record's corrections and the consultation's timeline follows a
corrected consultation; both look up ``amends`` within one institution. Without an index
that read every record of the institution. Only corrections carry ``amends``, so the
index holds only them and costs ordinary submissions nothing.

Revision ID: 0018
Revises: 0017
"""

import sqlalchemy as sa
from alembic import op

revision = "0018"
down_revision = "0017"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index(
        "ix_records_amends",
        "records",
        ["institution_code", "amends"],
        sqlite_where=sa.text("amends IS NOT NULL"),
        postgresql_where=sa.text("amends IS NOT NULL"),
    )


def downgrade() -> None:
    op.drop_index("ix_records_amends", "records")
