"""Projections for submissions: platforms, platform keys, batches, records.

Revision ID: 0002
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "platforms",
        sa.Column("platform_id", sa.String(80), primary_key=True),
        sa.Column("institution_code", sa.String(64), nullable=False, unique=True),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("entry_index", sa.BigInteger, nullable=False),
    )
    op.create_table(
        "platform_keys",
        sa.Column("key_id", sa.String(32), primary_key=True),
        sa.Column("platform_id", sa.String(80), nullable=False, index=True),
        sa.Column("public_key", sa.LargeBinary(32), nullable=False, unique=True),
        sa.Column("added_index", sa.BigInteger, nullable=False),
        sa.Column("revoked_index", sa.BigInteger, nullable=True),
    )
    op.create_table(
        "batches",
        sa.Column("platform_id", sa.String(80), primary_key=True),
        sa.Column("batch_id", sa.String(128), primary_key=True),
        sa.Column("content_digest", sa.LargeBinary(32), nullable=False),
        sa.Column("first_index", sa.BigInteger, nullable=False),
        sa.Column("record_count", sa.Integer, nullable=False),
        sa.Column("tree_size", sa.BigInteger, nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "records",
        sa.Column("entry_index", sa.BigInteger, primary_key=True, autoincrement=False),
        sa.Column("institution_code", sa.String(64), nullable=False),
        sa.Column("record_id", sa.String(128), nullable=False),
        sa.Column("record_type", sa.String(32), nullable=False),
        sa.Column("occurred_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("platform_id", sa.String(80), nullable=False),
        sa.Column("batch_id", sa.String(128), nullable=False),
        sa.Column("practitioner_license_no", sa.String(64), nullable=True),
        sa.Column("patient_pseudonym", sa.String(64), nullable=True),
        sa.Column("person_pseudonym", sa.String(64), nullable=True),
        sa.Column("amends", sa.String(128), nullable=True),
        sa.UniqueConstraint("institution_code", "record_id", name="uq_records_institution_record"),
    )
    op.create_index("ix_records_type_occurred", "records", ["record_type", "occurred_at"])
    op.create_index("ix_records_practitioner", "records", ["practitioner_license_no"])
    op.create_index("ix_records_patient", "records", ["patient_pseudonym"])
    op.create_index("ix_records_received", "records", ["received_at"])


def downgrade() -> None:
    for name in ("records", "batches", "platform_keys", "platforms"):
        op.drop_table(name)
