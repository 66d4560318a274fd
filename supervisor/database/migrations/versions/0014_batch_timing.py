"""How long each accepted batch took to process, for the batch-latency metric.

Nullable: batches accepted before this migration, or projected again by
``projections rebuild``, have no measured time. The index on ``received_at``
serves the metrics' five-minute window.

Revision ID: 0014
Revises: 0013
"""

import sqlalchemy as sa
from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("batches") as batch:
        batch.add_column(sa.Column("processing_ms", sa.Integer, nullable=True))
    op.create_index("ix_batches_received_at", "batches", ["received_at"])


def downgrade() -> None:
    op.drop_index("ix_batches_received_at", "batches")
    with op.batch_alter_table("batches") as batch:
        batch.drop_column("processing_ms")
