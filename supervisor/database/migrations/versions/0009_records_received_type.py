"""Records: one covering index on (received_at, record_type) instead of received_at alone,
for the dashboard's counts by type over a time range.

Revision ID: 0009
Revises: 0008
"""

from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_records_received_type", "records", ["received_at", "record_type"])
    op.drop_index("ix_records_received", table_name="records")


def downgrade() -> None:
    op.create_index("ix_records_received", "records", ["received_at"])
    op.drop_index("ix_records_received_type", table_name="records")
