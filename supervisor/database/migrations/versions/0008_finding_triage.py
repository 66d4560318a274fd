"""Finding triage: each finding's state and the history of its steps.

Revision ID: 0008
Revises: 0007
"""

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("findings") as batch:
        batch.add_column(sa.Column("state", sa.String(24), nullable=False, server_default="open"))
        batch.add_column(sa.Column("rectification_deadline", sa.String(10), nullable=True))
    op.create_table(
        "finding_actions",
        sa.Column("entry_index", sa.BigInteger, primary_key=True, autoincrement=False),
        sa.Column("finding_id", sa.String(32), nullable=False),
        sa.Column("action", sa.String(32), nullable=False),
        sa.Column("state_after", sa.String(24), nullable=False),
        sa.Column("username", sa.String(64), nullable=False),
        sa.Column("roles", sa.String(100), nullable=False),
        sa.Column("reason", sa.String(500), nullable=False),
        sa.Column("deadline", sa.String(10), nullable=True),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_finding_actions_finding_id", "finding_actions", ["finding_id"])


def downgrade() -> None:
    op.drop_table("finding_actions")
    with op.batch_alter_table("findings") as batch:
        batch.drop_column("rectification_deadline")
        batch.drop_column("state")
