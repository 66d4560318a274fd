"""Inspections: reference versions, findings, the inspector's cursor and pending records,
and the consultation link of prescriptions and charges in the records projection.

Revision ID: 0005
Revises: 0004
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("records") as batch:
        batch.add_column(sa.Column("consultation_record_id", sa.String(128), nullable=True))
        batch.create_index(
            "ix_records_consultation", ["institution_code", "consultation_record_id"]
        )
    op.create_table(
        "reference_versions",
        sa.Column("entry_index", sa.BigInteger, primary_key=True, autoincrement=False),
        sa.Column("dataset", sa.String(16), nullable=False),
        sa.Column("version", sa.String(64), nullable=False),
        sa.Column("row_count", sa.Integer, nullable=False),
        sa.Column("source", sa.String(200), nullable=False),
        sa.Column("imported_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index(
        "ix_reference_versions_dataset", "reference_versions", ["dataset", "entry_index"]
    )
    op.create_table(
        "findings",
        sa.Column("finding_id", sa.String(32), primary_key=True),
        sa.Column("entry_index", sa.BigInteger, nullable=False, unique=True),
        sa.Column("rule_id", sa.String(40), nullable=False),
        sa.Column("severity", sa.String(16), nullable=False),
        sa.Column("institution_code", sa.String(64), nullable=False),
        sa.Column("record_index", sa.BigInteger, nullable=False),
        sa.Column("record_id", sa.String(128), nullable=False),
        sa.Column("related_indices", sa.String(400), nullable=False),
        sa.Column("found_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_findings_rule", "findings", ["rule_id"])
    op.create_index("ix_findings_institution", "findings", ["institution_code"])
    op.create_index("ix_findings_record", "findings", ["record_index"])
    op.create_table(
        "inspection_cursor",
        sa.Column("name", sa.String(40), primary_key=True),
        sa.Column("next_index", sa.BigInteger, nullable=False),
    )
    op.create_table(
        "inspection_pending",
        sa.Column("entry_index", sa.BigInteger, primary_key=True, autoincrement=False),
        sa.Column("deadline", sa.DateTime(timezone=True), nullable=False),
        sa.Column("institution_code", sa.String(64), nullable=False),
        sa.Column("waiting_for", sa.String(128), nullable=True),
    )
    op.create_index("ix_inspection_pending_deadline", "inspection_pending", ["deadline"])


def downgrade() -> None:
    for table in ("inspection_pending", "inspection_cursor", "findings", "reference_versions"):
        op.drop_table(table)
    with op.batch_alter_table("records") as batch:
        batch.drop_index("ix_records_consultation")
        batch.drop_column("consultation_record_id")
