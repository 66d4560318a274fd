"""Scheduling: the single-scheduler lease, job attempts, and schedules changed by supervisors.

(APScheduler keeps its own ``apscheduler_jobs`` table, which it creates.)

Revision ID: 0011
Revises: 0010
"""

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "scheduler_lease",
        sa.Column("name", sa.String(32), primary_key=True),
        sa.Column("holder", sa.String(128), nullable=False),
        sa.Column("acquired_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "job_runs",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("job_id", sa.String(40), nullable=False),
        sa.Column("attempt", sa.Integer, nullable=False),
        sa.Column("status", sa.String(12), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("detail", sa.String(2000), nullable=False),
    )
    op.create_index("ix_job_runs_job_started", "job_runs", ["job_id", "started_at"])
    op.create_table(
        "schedules",
        sa.Column("job_id", sa.String(40), primary_key=True),
        sa.Column("cron", sa.String(100), nullable=False),
        sa.Column("entry_index", sa.BigInteger, nullable=False),
        sa.Column("changed_by", sa.String(64), nullable=False),
        sa.Column("changed_at", sa.DateTime(timezone=True), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("schedules")
    op.drop_table("job_runs")
    op.drop_table("scheduler_lease")
