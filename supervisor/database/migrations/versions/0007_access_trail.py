"""The access trail: who looked at patient-level data, and the purpose a session states.

Revision ID: 0007
Revises: 0006
"""

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("portal_sessions") as batch:
        batch.add_column(sa.Column("purpose", sa.String(200), nullable=True))
    op.create_table(
        "access_events",
        sa.Column("entry_index", sa.BigInteger, primary_key=True, autoincrement=False),
        sa.Column("action", sa.String(40), nullable=False),
        sa.Column("username", sa.String(64), nullable=False),
        sa.Column("roles", sa.String(100), nullable=False),
        sa.Column("purpose", sa.String(200), nullable=False),
        sa.Column("subject_index", sa.BigInteger, nullable=True),
        sa.Column("patient_pseudonym", sa.String(64), nullable=True),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_access_events_subject", "access_events", ["subject_index"])
    op.create_index("ix_access_events_patient", "access_events", ["patient_pseudonym"])


def downgrade() -> None:
    op.drop_table("access_events")
    with op.batch_alter_table("portal_sessions") as batch:
        batch.drop_column("purpose")
