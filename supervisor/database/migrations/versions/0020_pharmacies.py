"""Pharmacies: platforms authorised for several institutions, every fill of a prescription,
and the drugs of each prescription and dispensing.

``prescription_fills`` lets the inspector find every dispensing of one prescription with
an index lookup, whichever pharmacy and platform sent it (the double fill no single
platform sees). ``record_drugs`` serves search by drug. Both are projections:
``projections rebuild`` fills them for records received before this revision.

Revision ID: 0020
Revises: 0019
"""

import sqlalchemy as sa
from alembic import op

revision = "0020"
down_revision = "0019"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "platform_institutions",
        sa.Column("platform_id", sa.String(80), primary_key=True),
        sa.Column("institution_code", sa.String(64), primary_key=True),
        sa.Column("authorised_index", sa.BigInteger, primary_key=True, autoincrement=False),
        sa.Column("revoked_index", sa.BigInteger, nullable=True),
    )
    op.create_index("ix_platform_institutions_code", "platform_institutions", ["institution_code"])
    op.create_table(
        "prescription_fills",
        sa.Column("entry_index", sa.BigInteger, primary_key=True, autoincrement=False),
        sa.Column("prescription_institution_code", sa.String(64), nullable=False),
        sa.Column("prescription_record_id", sa.String(128), nullable=False),
        sa.Column("pharmacy_code", sa.String(64), nullable=False),
        sa.Column("record_id", sa.String(128), nullable=False),
    )
    op.create_index(
        "ix_prescription_fills_prescription",
        "prescription_fills",
        ["prescription_institution_code", "prescription_record_id", "entry_index"],
    )
    op.create_table(
        "record_drugs",
        sa.Column("entry_index", sa.BigInteger, primary_key=True, autoincrement=False),
        sa.Column("drug_code", sa.String(64), primary_key=True),
    )
    op.create_index("ix_record_drugs_drug", "record_drugs", ["drug_code", "entry_index"])


def downgrade() -> None:
    op.drop_table("record_drugs")
    op.drop_table("prescription_fills")
    op.drop_table("platform_institutions")
