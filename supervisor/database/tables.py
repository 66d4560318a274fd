"""Search projections of the ledger: platforms, their keys, batches and records.

Every row here is derived from ledger entries and is rebuilt by replaying the
ledger (``careledger projections rebuild``); the ledger is the source of truth.
Rows are written in the same transaction as the entries they project, so the
unique constraints also serialise concurrent submissions (no record_id twice
per institution, no batch_id twice per platform).
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Date,
    DateTime,
    Float,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    Unicode,
    UniqueConstraint,
    text,
)

__all__ = [
    "access_events",
    "alerts",
    "apscheduler_jobs",
    "batches",
    "case_events",
    "cases",
    "cosignatures",
    "finding_actions",
    "findings",
    "inspection_cursor",
    "inspection_pending",
    "job_runs",
    "login_failures",
    "metadata",
    "notice_responses",
    "notices",
    "platform_keys",
    "platforms",
    "portal_jobs",
    "portal_sessions",
    "read_time",
    "record_counts",
    "records",
    "reference_versions",
    "reports",
    "scheduler_lease",
    "schedules",
    "stored_time",
]

metadata = MetaData()


def read_time(moment: datetime) -> datetime:
    """A DateTime column's value as an aware UTC time (SQLite gives it back without offset)."""
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def stored_time(moment: datetime) -> datetime:
    """A time as every DateTime column here holds it: UTC. (SQLite keeps no offset, so a
    time stored in another zone would read back hours off.) Requires an aware datetime."""
    if moment.tzinfo is None:
        raise ValueError("times must be aware")
    return moment.astimezone(UTC)


platforms = Table(
    "platforms",
    metadata,
    Column("platform_id", String(80), primary_key=True),
    Column("institution_code", String(64), nullable=False, unique=True),
    Column("name", String(200), nullable=False),
    Column("entry_index", BigInteger, nullable=False),
)

#: The institution codes a platform may submit for besides its own (a chain's stores, the
#: pharmacies a circulation platform serves): ``platform.authorised`` and
#: ``platform.authorisation_revoked`` entries projected; each period of authorisation is a
#: row of its own, so a revoked one stays listed after the platform is authorised again.
platform_institutions = Table(
    "platform_institutions",
    metadata,
    Column("platform_id", String(80), primary_key=True),
    Column("institution_code", String(64), primary_key=True),
    Column("authorised_index", BigInteger, primary_key=True, autoincrement=False),
    Column("revoked_index", BigInteger, nullable=True),
    Index("ix_platform_institutions_code", "institution_code"),
)

#: Ed25519 keys of platforms; ``revoked_index`` is the ledger entry that revoked it.
platform_keys = Table(
    "platform_keys",
    metadata,
    Column("key_id", String(32), primary_key=True),
    Column("platform_id", String(80), nullable=False, index=True),
    Column("public_key", LargeBinary(32), nullable=False, unique=True),
    Column("added_index", BigInteger, nullable=False),
    Column("revoked_index", BigInteger, nullable=True),
)

#: One accepted batch: enough to answer a retry with the original receipt.
batches = Table(
    "batches",
    metadata,
    Column("platform_id", String(80), primary_key=True),
    Column("batch_id", String(128), primary_key=True),
    Column("content_digest", LargeBinary(32), nullable=False),
    Column("first_index", BigInteger, nullable=False),
    Column("record_count", Integer, nullable=False),
    Column("tree_size", BigInteger, nullable=False),
    Column("received_at", DateTime(timezone=True), nullable=False),
    #: From the request's arrival to the ledger write (not the commit); None if not measured.
    Column("processing_ms", Integer, nullable=True),
    Index("ix_batches_received_at", "received_at"),
)

records = Table(
    "records",
    metadata,
    Column("entry_index", BigInteger, primary_key=True, autoincrement=False),
    Column("institution_code", String(64), nullable=False),
    Column("record_id", String(128), nullable=False),
    Column("record_type", String(32), nullable=False),
    Column("occurred_at", DateTime(timezone=True), nullable=False),
    Column("received_at", DateTime(timezone=True), nullable=False),
    Column("platform_id", String(80), nullable=False),
    Column("batch_id", String(128), nullable=False),
    Column("practitioner_license_no", String(64), nullable=True),
    Column("patient_pseudonym", String(64), nullable=True),
    Column("person_pseudonym", String(64), nullable=True),
    Column("amends", String(128), nullable=True),
    #: The record this one belongs to in the same institution: a prescription's or a
    #: charge's consultation, a delivery's dispensing.
    Column("consultation_record_id", String(128), nullable=True),
    UniqueConstraint("institution_code", "record_id", name="uq_records_institution_record"),
    Index("ix_records_type_occurred", "record_type", "occurred_at"),
    Index("ix_records_practitioner", "practitioner_license_no"),
    Index("ix_records_patient", "patient_pseudonym"),
    #: Covering for counts by type over a time range (the dashboard), and by time alone.
    Index("ix_records_received_type", "received_at", "record_type"),
    Index("ix_records_consultation", "institution_code", "consultation_record_id"),
    #: Corrections only (partial): a record's amendment chain without reading its institution.
    Index(
        "ix_records_amends",
        "institution_code",
        "amends",
        sqlite_where=text("amends IS NOT NULL"),
        postgresql_where=text("amends IS NOT NULL"),
    ),
)

#: Every dispensing of a hospital's prescription, whichever pharmacy and platform sent it:
#: one index lookup finds all fills of a prescription (the double-fill check, the journey).
prescription_fills = Table(
    "prescription_fills",
    metadata,
    Column("entry_index", BigInteger, primary_key=True, autoincrement=False),
    Column("prescription_institution_code", String(64), nullable=False),
    Column("prescription_record_id", String(128), nullable=False),
    Column("pharmacy_code", String(64), nullable=False),
    Column("record_id", String(128), nullable=False),
    Index(
        "ix_prescription_fills_prescription",
        "prescription_institution_code",
        "prescription_record_id",
        "entry_index",
    ),
)

#: The drugs a prescription or dispensing names, for search by drug.
record_drugs = Table(
    "record_drugs",
    metadata,
    Column("entry_index", BigInteger, primary_key=True, autoincrement=False),
    Column("drug_code", String(64), primary_key=True),
    Index("ix_record_drugs_drug", "drug_code", "entry_index"),
)

#: Records received per China Standard Time day, institution and type: what the dashboard
#: counts, kept in the append transaction (and by retention) so that a count costs the days
#: it spans, not the records they hold. A projection: ``projections rebuild`` recounts it.
record_counts = Table(
    "record_counts",
    metadata,
    Column("day", Date, primary_key=True),
    Column("institution_code", String(64), primary_key=True),
    Column("record_type", String(32), primary_key=True),
    Column("records", BigInteger, nullable=False),
    Index("ix_record_counts_institution", "institution_code", "day"),
)

#: Witness cosignatures collected for the log's checkpoints (input from witnesses, not a
#: projection: kept by ``projections rebuild``). ``line`` is the note signature line.
cosignatures = Table(
    "cosignatures",
    metadata,
    Column("size", BigInteger, primary_key=True, autoincrement=False),
    Column("witness", String(200), primary_key=True),
    Column("line", String(400), nullable=False),
    Column("collected_at", DateTime(timezone=True), nullable=False),
)

#: Reference-data versions (registry, prices, drugs, policy): one row per ledger entry.
reference_versions = Table(
    "reference_versions",
    metadata,
    Column("entry_index", BigInteger, primary_key=True, autoincrement=False),
    Column("dataset", String(16), nullable=False),
    Column("version", String(64), nullable=False),
    Column("row_count", Integer, nullable=False),
    Column("source", String(200), nullable=False),
    Column("imported_at", DateTime(timezone=True), nullable=False),
    Index("ix_reference_versions_dataset", "dataset", "entry_index"),
)

#: Findings: the projection of ``finding`` entries (the evidence stays sealed in the ledger).
findings = Table(
    "findings",
    metadata,
    Column("finding_id", String(32), primary_key=True),
    Column("entry_index", BigInteger, nullable=False, unique=True),
    Column("rule_id", String(40), nullable=False),
    Column("severity", String(16), nullable=False),
    Column("institution_code", String(64), nullable=False),
    Column("record_index", BigInteger, nullable=False),
    Column("record_id", String(128), nullable=False),
    Column("related_indices", String(400), nullable=False),
    Column("found_at", DateTime(timezone=True), nullable=False),
    #: Triage: open, acknowledged, rectification_ordered, resolved, dismissed.
    Column("state", String(24), nullable=False, server_default="open"),
    Column("rectification_deadline", String(10), nullable=True),
    #: The case it joined (``supervisor.inspection.case_grouping``).
    Column("case_id", String(16), nullable=True),
    Index("ix_findings_rule", "rule_id"),
    #: A case's findings in ledger order (its page, its notice) without a sort.
    Index("ix_findings_case", "case_id", "entry_index"),
    Index("ix_findings_institution", "institution_code"),
    Index("ix_findings_record", "record_index"),
)

#: Worker state (not a projection: kept by ``projections rebuild``). The inspector's
#: durable cursor: the next ledger index it has not looked at.
inspection_cursor = Table(
    "inspection_cursor",
    metadata,
    Column("name", String(40), primary_key=True),
    Column("next_index", BigInteger, nullable=False),
)

#: Records waiting for a related record (their consultation, their institution's filing)
#: until it arrives or ``deadline`` passes.
inspection_pending = Table(
    "inspection_pending",
    metadata,
    Column("entry_index", BigInteger, primary_key=True, autoincrement=False),
    Column("deadline", DateTime(timezone=True), nullable=False),
    Column("institution_code", String(64), nullable=False),
    Column("waiting_for", String(128), nullable=True),
    Index("ix_inspection_pending_deadline", "deadline"),
    # The records waiting for a consultation that just arrived (one look-up per pass).
    Index("ix_inspection_pending_waiting_for", "institution_code", "waiting_for"),
)

#: Regulators' portal sessions (server side: signing out or timing out ends them for good;
#: the cookie only names one). Not a projection: kept by ``projections rebuild``.
portal_sessions = Table(
    "portal_sessions",
    metadata,
    Column("session_id", String(64), primary_key=True),
    Column("username", String(64), nullable=False),
    Column("dn", String(400), nullable=False),
    Column("display_name", String(200), nullable=False),
    Column("roles", String(100), nullable=False),
    Column("csrf_token", String(64), nullable=False),
    #: Why this person looks at patient-level data (asked before the first such view).
    Column("purpose", String(200), nullable=True),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("last_seen_at", DateTime(timezone=True), nullable=False),
    Column("ended_at", DateTime(timezone=True), nullable=True),
)

#: Failed sign-ins, for throttling by user name and by address.
login_failures = Table(
    "login_failures",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("username", String(64), nullable=False),
    Column("address", String(64), nullable=False),
    Column("failed_at", DateTime(timezone=True), nullable=False),
    Index("ix_login_failures_failed_at", "failed_at"),
)

#: Heavy actions a portal user started (verifying a report: ~20 s at a million records),
#: run beside the request that started them, with their progress for the page that waits.
#: At most one running per person (the partial unique index). Not a projection.
portal_jobs = Table(
    "portal_jobs",
    metadata,
    Column("job_id", String(32), primary_key=True),
    Column("username", String(64), nullable=False),
    Column("kind", String(40), nullable=False),
    Column("subject", String(200), nullable=False),
    Column("state", String(16), nullable=False),  # running | done | failed
    Column("step", String(40), nullable=True),
    Column("done_steps", Integer, nullable=False),
    Column("total_steps", Integer, nullable=False),
    Column("result", Text, nullable=True),  # JSON
    Column("started_at", DateTime(timezone=True), nullable=False),
    Column("heartbeat_at", DateTime(timezone=True), nullable=False),
    Column("finished_at", DateTime(timezone=True), nullable=True),
    Index(
        "ux_portal_jobs_one_running",
        "username",
        unique=True,
        sqlite_where=text("state = 'running'"),
        postgresql_where=text("state = 'running'"),
    ),
)

#: Who looked at patient-level data: the projection of ``access.*`` ledger entries, so that
#: nobody, administrators included, can make a view disappear.
access_events = Table(
    "access_events",
    metadata,
    Column("entry_index", BigInteger, primary_key=True, autoincrement=False),
    Column("action", String(40), nullable=False),
    Column("username", String(64), nullable=False),
    Column("roles", String(100), nullable=False),
    Column("purpose", String(200), nullable=False),
    Column("subject_index", BigInteger, nullable=True),
    Column("patient_pseudonym", String(64), nullable=True),
    Column("at", DateTime(timezone=True), nullable=False),
    Index("ix_access_events_subject", "subject_index"),
    Index("ix_access_events_patient", "patient_pseudonym"),
)

#: Every triage step of a finding (the projection of ``finding.action`` entries).
finding_actions = Table(
    "finding_actions",
    metadata,
    Column("entry_index", BigInteger, primary_key=True, autoincrement=False),
    Column("finding_id", String(32), nullable=False, index=True),
    Column("action", String(32), nullable=False),
    Column("state_after", String(24), nullable=False),
    Column("username", String(64), nullable=False),
    Column("roles", String(100), nullable=False),
    Column("reason", String(500), nullable=False),
    Column("deadline", String(10), nullable=True),
    Column("at", DateTime(timezone=True), nullable=False),
)


#: Cases: the findings that share one cause (one key), what regulators act on. A key's
#: ``generation`` counts its cases: a recurrence after a case closed opens the next.
cases = Table(
    "cases",
    metadata,
    Column("case_id", String(16), primary_key=True),
    Column("case_key", String(160), nullable=False),
    Column("generation", Integer, nullable=False),
    Column("rule_id", String(40), nullable=False),
    Column("institution_code", String(64), nullable=False),
    Column("grouping", String(16), nullable=False),
    Column("severity", String(16), nullable=False),
    #: open, acknowledged, rectification_ordered, responded, escalated, closed, dismissed.
    Column("state", String(24), nullable=False),
    Column("repeat", Boolean, nullable=False),
    Column("finding_count", Integer, nullable=False),
    Column("first_seen", DateTime(timezone=True), nullable=False),
    Column("last_seen", DateTime(timezone=True), nullable=False),
    Column("opened_index", BigInteger, nullable=False),
    Column("deadline", String(10), nullable=True),
    Column("notice_id", String(16), nullable=True),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    Index("ix_cases_key", "case_key", "generation", unique=True),
    Index("ix_cases_state", "state"),
    Index("ix_cases_institution", "institution_code"),
)

#: Every step people (or the scheduler) took on a case; one ``case.event`` entry each.
case_events = Table(
    "case_events",
    metadata,
    Column("entry_index", BigInteger, primary_key=True, autoincrement=False),
    Column("case_id", String(16), nullable=False, index=True),
    Column("action", String(32), nullable=False),
    Column("state_after", String(24), nullable=False),
    Column("username", String(64), nullable=False),
    Column("roles", String(100), nullable=False),
    Column("reason", String(2000), nullable=False),
    Column("deadline", String(10), nullable=True),
    Column("notice_id", String(16), nullable=True),
    Column("response_id", String(80), nullable=True),
    Column("at", DateTime(timezone=True), nullable=False),
)

#: Rectification notices (整改通知书) issued to institutions; ``document`` is the
#: canonical JSON the ledger entry seals.
notices = Table(
    "notices",
    metadata,
    Column("notice_id", String(16), primary_key=True),
    Column("case_id", String(16), nullable=False, index=True),
    Column("institution_code", String(64), nullable=False),
    Column("entry_index", BigInteger, nullable=False, unique=True),
    Column("issued_at", DateTime(timezone=True), nullable=False),
    Column("deadline", String(10), nullable=False),
    Column("document", Text, nullable=False),
    #: A platform's notices after its cursor, in order.
    Index("ix_notices_institution", "institution_code", "entry_index"),
)

#: Platforms' signed answers to notices; ``envelope_sha256`` makes a resend idempotent.
notice_responses = Table(
    "notice_responses",
    metadata,
    Column("response_id", String(80), primary_key=True),
    Column("notice_id", String(16), nullable=False, index=True),
    Column("case_id", String(16), nullable=False, index=True),
    Column("platform_id", String(80), nullable=False),
    Column("key_id", String(32), nullable=False),
    Column("entry_index", BigInteger, nullable=False, unique=True),
    #: The tree size its receipt was issued at (the first checkpoint covering it).
    Column("tree_size", BigInteger, nullable=False),
    Column("kind", String(16), nullable=False),
    Column("statement", Text, nullable=False),
    Column("attachments", Text, nullable=False),
    Column("created_at", String(40), nullable=False),
    Column("received_at", DateTime(timezone=True), nullable=False),
    Column("envelope_sha256", String(64), nullable=False),
    #: pending, accepted, rejected (by a ``case.event``).
    Column("review", String(16), nullable=False),
    Column("review_reason", String(2000), nullable=True),
)

#: Worker state (not a projection: kept by ``projections rebuild``). Alerts of
#: high-severity cases to the on-duty regulators: each send and retry recorded.
alerts = Table(
    "alerts",
    metadata,
    Column("alert_id", Integer, primary_key=True, autoincrement=True),
    Column("case_id", String(16), nullable=False, index=True),
    Column("channel", String(16), nullable=False),
    Column("recipient", String(300), nullable=False),
    Column("state", String(16), nullable=False),
    Column("attempts", Integer, nullable=False),
    Column("last_error", String(500), nullable=True),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("next_attempt_at", DateTime(timezone=True), nullable=False),
    Column("sent_at", DateTime(timezone=True), nullable=True),
    UniqueConstraint("case_id", "channel", "recipient", name="ux_alerts_once"),
    #: What the dispatcher sends next: due rows by state, without reading sent history.
    Index("ix_alerts_due", "state", "next_attempt_at"),
)


reports = Table(
    "reports",
    metadata,
    Column("report_id", String(80), primary_key=True),
    Column("entry_index", BigInteger, nullable=False, unique=True),
    Column("kind", String(16), nullable=False),
    Column("period", String(16), nullable=False),
    Column("tree_size", BigInteger, nullable=False),
    Column("root_hash", String(64), nullable=False),
    Column("methodology_sha256", String(64), nullable=True),
    Column("data_sha256", String(64), nullable=False),
    Column("csv_sha256", String(64), nullable=False),
    Column("pdf_zh_sha256", String(64), nullable=False, index=True),
    Column("pdf_en_sha256", String(64), nullable=False, index=True),
    Column("requested_by", String(64), nullable=False),
    Column("published_at", DateTime(timezone=True), nullable=False),
    Index("ix_reports_kind_period", "kind", "period"),
)


#: Who runs the scheduled jobs: one holder at a time, renewed while it lives (fencing by CAS).
scheduler_lease = Table(
    "scheduler_lease",
    metadata,
    Column("name", String(32), primary_key=True),
    Column("holder", String(128), nullable=False),
    Column("acquired_at", DateTime(timezone=True), nullable=False),
    Column("expires_at", DateTime(timezone=True), nullable=False),
)

#: Each attempt of each scheduled job, so a failure is visible on the portal.
job_runs = Table(
    "job_runs",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("job_id", String(40), nullable=False),
    Column("attempt", Integer, nullable=False),
    Column("status", String(12), nullable=False),
    Column("started_at", DateTime(timezone=True), nullable=False),
    Column("finished_at", DateTime(timezone=True), nullable=True),
    Column("detail", String(2000), nullable=False),
    Index("ix_job_runs_job_started", "job_id", "started_at"),
)

#: Schedules changed by supervisors (projection of ``schedule.change`` entries).
schedules = Table(
    "schedules",
    metadata,
    Column("job_id", String(40), primary_key=True),
    Column("cron", String(100), nullable=False),
    Column("entry_index", BigInteger, nullable=False),
    Column("changed_by", String(64), nullable=False),
    Column("changed_at", DateTime(timezone=True), nullable=False),
)

#: APScheduler 3's job store, declared as its ``SQLAlchemyJobStore`` declares it; migration
#: 0013 creates it, so the app role needs no CREATE privilege (the store creates it only if
#: missing). Written by APScheduler alone; the portal reads next run times from it.
apscheduler_jobs = Table(
    "apscheduler_jobs",
    metadata,
    Column("id", Unicode(191), primary_key=True),
    Column("next_run_time", Float(25), index=True),
    Column("job_state", LargeBinary, nullable=False),
)
