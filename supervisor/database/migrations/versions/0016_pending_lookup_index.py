"""An index for finding the records that wait for a consultation that just arrived.

Each inspection pass looks up ``inspection_pending`` by ``(institution_code,
waiting_for)``; without an index that scanned every waiting record on every
pass, so its cost grew with the waiting set (found by the soak benchmark).

Revision ID: 0016
Revises: 0015
"""

from alembic import op

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index(
        "ix_inspection_pending_waiting_for",
        "inspection_pending",
        ["institution_code", "waiting_for"],
    )


def downgrade() -> None:
    op.drop_index("ix_inspection_pending_waiting_for", "inspection_pending")
