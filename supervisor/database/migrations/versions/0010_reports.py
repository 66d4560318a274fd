"""Published reports: what each was computed from and the hashes of its files.

Revision ID: 0010
Revises: 0009
"""

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "reports",
        sa.Column("report_id", sa.String(80), primary_key=True),
        sa.Column("entry_index", sa.BigInteger, nullable=False, unique=True),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("period", sa.String(16), nullable=False),
        sa.Column("tree_size", sa.BigInteger, nullable=False),
        sa.Column("root_hash", sa.String(64), nullable=False),
        sa.Column("methodology_sha256", sa.String(64), nullable=True),
        sa.Column("data_sha256", sa.String(64), nullable=False),
        sa.Column("csv_sha256", sa.String(64), nullable=False),
        sa.Column("pdf_zh_sha256", sa.String(64), nullable=False),
        sa.Column("pdf_en_sha256", sa.String(64), nullable=False),
        sa.Column("requested_by", sa.String(64), nullable=False),
        sa.Column("published_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_reports_kind_period", "reports", ["kind", "period"])
    op.create_index("ix_reports_pdf_zh_sha256", "reports", ["pdf_zh_sha256"])
    op.create_index("ix_reports_pdf_en_sha256", "reports", ["pdf_en_sha256"])


def downgrade() -> None:
    op.drop_table("reports")
