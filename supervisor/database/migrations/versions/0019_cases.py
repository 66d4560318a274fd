"""Cases, rectification notices, platforms' responses and alerts.

Findings that share one cause form a case (the key each finding's entry
names); what people decide about a case, the notices it issues and the
platforms' answers are ledger entries projected here. Alerts are worker state.
Findings recorded before this revision belong to no case until ``careledger
projections rebuild`` replays them (``careledger doctor`` says so).

Revision ID: 0019
Revises: 0018
"""

import sqlalchemy as sa
from alembic import op

revision = "0019"
down_revision = "0018"
branch_labels = None
depends_on = None


def _when(name: str, nullable: bool = False) -> sa.Column:  # type: ignore[type-arg]
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    op.add_column("findings", sa.Column("case_id", sa.String(16), nullable=True))
    op.create_index("ix_findings_case", "findings", ["case_id", "entry_index"])
    op.create_table(
        "cases",
        sa.Column("case_id", sa.String(16), primary_key=True),
        sa.Column("case_key", sa.String(160), nullable=False),
        sa.Column("generation", sa.Integer, nullable=False),
        sa.Column("rule_id", sa.String(40), nullable=False),
        sa.Column("institution_code", sa.String(64), nullable=False),
        sa.Column("grouping", sa.String(16), nullable=False),
        sa.Column("severity", sa.String(16), nullable=False),
        sa.Column("state", sa.String(24), nullable=False),
        sa.Column("repeat", sa.Boolean, nullable=False),
        sa.Column("finding_count", sa.Integer, nullable=False),
        _when("first_seen"),
        _when("last_seen"),
        sa.Column("opened_index", sa.BigInteger, nullable=False),
        sa.Column("deadline", sa.String(10), nullable=True),
        sa.Column("notice_id", sa.String(16), nullable=True),
        _when("updated_at"),
    )
    op.create_index("ix_cases_key", "cases", ["case_key", "generation"], unique=True)
    op.create_index("ix_cases_state", "cases", ["state"])
    op.create_index("ix_cases_institution", "cases", ["institution_code"])
    op.create_table(
        "case_events",
        sa.Column("entry_index", sa.BigInteger, primary_key=True, autoincrement=False),
        sa.Column("case_id", sa.String(16), nullable=False),
        sa.Column("action", sa.String(32), nullable=False),
        sa.Column("state_after", sa.String(24), nullable=False),
        sa.Column("username", sa.String(64), nullable=False),
        sa.Column("roles", sa.String(100), nullable=False),
        sa.Column("reason", sa.String(2000), nullable=False),
        sa.Column("deadline", sa.String(10), nullable=True),
        sa.Column("notice_id", sa.String(16), nullable=True),
        sa.Column("response_id", sa.String(80), nullable=True),
        _when("at"),
    )
    op.create_index("ix_case_events_case_id", "case_events", ["case_id"])
    op.create_table(
        "notices",
        sa.Column("notice_id", sa.String(16), primary_key=True),
        sa.Column("case_id", sa.String(16), nullable=False),
        sa.Column("institution_code", sa.String(64), nullable=False),
        sa.Column("entry_index", sa.BigInteger, nullable=False, unique=True),
        _when("issued_at"),
        sa.Column("deadline", sa.String(10), nullable=False),
        sa.Column("document", sa.Text, nullable=False),
    )
    op.create_index("ix_notices_case_id", "notices", ["case_id"])
    op.create_index("ix_notices_institution", "notices", ["institution_code", "entry_index"])
    op.create_table(
        "notice_responses",
        sa.Column("response_id", sa.String(80), primary_key=True),
        sa.Column("notice_id", sa.String(16), nullable=False),
        sa.Column("case_id", sa.String(16), nullable=False),
        sa.Column("platform_id", sa.String(80), nullable=False),
        sa.Column("key_id", sa.String(32), nullable=False),
        sa.Column("entry_index", sa.BigInteger, nullable=False, unique=True),
        sa.Column("tree_size", sa.BigInteger, nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("statement", sa.Text, nullable=False),
        sa.Column("attachments", sa.Text, nullable=False),
        sa.Column("created_at", sa.String(40), nullable=False),
        _when("received_at"),
        sa.Column("envelope_sha256", sa.String(64), nullable=False),
        sa.Column("review", sa.String(16), nullable=False),
        sa.Column("review_reason", sa.String(2000), nullable=True),
    )
    op.create_index("ix_notice_responses_notice_id", "notice_responses", ["notice_id"])
    op.create_index("ix_notice_responses_case_id", "notice_responses", ["case_id"])
    op.create_table(
        "alerts",
        sa.Column("alert_id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("case_id", sa.String(16), nullable=False),
        sa.Column("channel", sa.String(16), nullable=False),
        sa.Column("recipient", sa.String(300), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("last_error", sa.String(500), nullable=True),
        _when("created_at"),
        _when("next_attempt_at"),
        _when("sent_at", nullable=True),
        sa.UniqueConstraint("case_id", "channel", "recipient", name="ux_alerts_once"),
    )
    op.create_index("ix_alerts_case_id", "alerts", ["case_id"])
    op.create_index("ix_alerts_due", "alerts", ["state", "next_attempt_at"])


def downgrade() -> None:
    for table in ("alerts", "notice_responses", "notices", "case_events", "cases"):
        op.drop_table(table)
    op.drop_index("ix_findings_case", "findings")
    op.drop_column("findings", "case_id")
