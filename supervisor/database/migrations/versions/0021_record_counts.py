"""Summary rows: records received per China Standard Time day, institution and type.

The dashboard counted every record of the month, and of each of the last fourteen days, on
every view: a cost that grows with the month's volume. ``record_counts`` is kept in the
append transaction and by retention, and counted here once from the records already held.

Revision ID: 0021
Revises: 0020
"""

import sqlalchemy as sa
from alembic import op

revision = "0021"
down_revision = "0020"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "record_counts",
        sa.Column("day", sa.Date, primary_key=True),
        sa.Column("institution_code", sa.String(64), primary_key=True),
        sa.Column("record_type", sa.String(32), primary_key=True),
        sa.Column("records", sa.BigInteger, nullable=False),
    )
    op.create_index("ix_record_counts_institution", "record_counts", ["institution_code", "day"])
    # The China Standard Time day of a UTC time, as ``supervisor.database.record_counts``
    # computes it when records arrive (a migration keeps its own copy of what it runs).
    bind = op.get_bind()
    day = (
        "CAST((received_at AT TIME ZONE 'UTC') + INTERVAL '8 hours' AS date)"
        if bind.dialect.name == "postgresql"
        else "date(received_at, '+8 hours')"
    )
    op.execute(
        "INSERT INTO record_counts (day, institution_code, record_type, records) "
        f"SELECT {day}, institution_code, record_type, count(*) FROM records "  # nosec B608
        "GROUP BY 1, 2, 3"
    )


def downgrade() -> None:
    op.drop_table("record_counts")
