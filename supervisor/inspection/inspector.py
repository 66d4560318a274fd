"""The inspector: runs the rules over records as they reach the ledger, and on demand.

The follower reads record entries from a durable cursor, chunk by chunk. A
record is inspected once it is final: its consultation (for a prescription
or charge) and its institution's filing have arrived, or its grace deadline
(received + policy grace) has passed, after which what is missing is
reported. Until then it waits in ``inspection_pending``. Findings, an
``inspection.run`` entry (range, counts, reference versions, policy hash),
the cursor move and the pending changes commit in one append transaction:
a crash never skips or doubles a record, and two followers cannot both
move the cursor (compare-and-swap).

What a record is compared with depends only on the ledger: the related
records received by its deadline and the reference versions named in the
finding. Inspecting again gives the same finding ids, and nothing is
appended twice.
"""

from __future__ import annotations

import gc
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, delete, insert, or_, select, update
from sqlalchemy.exc import IntegrityError

from inspectors.findings import Finding, Subject
from inspectors.policy import Policy
from inspectors.reference import ReferenceSnapshot
from inspectors.rulebook import inspect_subject
from inspectors.values import (
    Charge,
    Consultation,
    Delivery,
    Dispensing,
    InstitutionFiling,
    LedgerRecord,
    PharmacyFiling,
    Prescription,
)
from ledger import schema as ledger_schema
from ledger.database import (
    insert_dicts,
    read_transaction,
    snapshot_transaction,
    write_transaction,
)
from ledger.store import AppendResult, EntryDraft, LedgerStore
from supervisor.custody.payload_keys import PayloadKeys
from supervisor.database import tables
from supervisor.ground.sealed_entries import open_sealed, sealed_entry
from supervisor.inspection.case_grouping import group_findings
from supervisor.inspection.reference_data import ReferenceData
from supervisor.inspection.related_records import (
    RECORD_QUERY,
    RecordReader,
    RelatedRecords,
    keyed_rows,
    read_record_rows,
    slices,
)

__all__ = [
    "FINDING_ENTRY",
    "RUN_ENTRY",
    "InspectionConflictError",
    "Inspector",
    "PassReport",
    "finding_row",
]

FINDING_ENTRY = "finding"
RUN_ENTRY = "inspection.run"
FOLLOWER = "follower"


class InspectionConflictError(Exception):
    """Another inspector moved the cursor first; this pass committed nothing."""


@dataclass(frozen=True)
class PassReport:
    """What one inspection pass did."""

    mode: str
    from_index: int
    to_index: int
    records: int
    findings: int
    pending: int
    resolved: int
    unreadable: int
    entry_index: int | None  # the inspection.run entry; None when there was nothing to do


def finding_row(index: int, statement: dict[str, Any], received_at: datetime) -> dict[str, Any]:
    """The ``findings`` projection row of a finding entry (live and on replay)."""
    return {
        "finding_id": statement["finding_id"],
        "entry_index": index,
        "rule_id": statement["rule"],
        "severity": statement["severity"],
        "institution_code": statement["institution_code"],
        "record_index": statement["record_index"],
        "record_id": statement["record_id"],
        "related_indices": ",".join(str(i) for i in statement["related_indices"]),
        "found_at": tables.stored_time(received_at),
        "case_id": None,  # set by ``group_findings``
    }


class Inspector:
    """Inspects record entries of one ledger; see the module docstring for the guarantees."""

    def __init__(
        self,
        store: LedgerStore,
        keys: PayloadKeys,
        reference: ReferenceData,
        clock: Callable[[], datetime],
        *,
        chunk: int = 10_000,
    ) -> None:
        self.store = store
        self.keys = keys
        self.reference = reference
        self.clock = clock
        self.chunk = chunk
        self.reader = RecordReader(keys)

    # -- deciding what is final --------------------------------------------

    def _subject(
        self, item: LedgerRecord, world: RelatedRecords, policy: Policy, now: datetime
    ) -> Subject | _Waiting:
        """The subject of ``item`` if it is final now, else what it waits for."""
        record = item.record
        deadline = item.received_at + policy.grace
        if isinstance(record, Dispensing | Delivery | PharmacyFiling):
            return _pharmacy_subject(item, world, deadline, now)
        past_deadline = now >= deadline
        if isinstance(record, InstitutionFiling):
            institution: LedgerRecord | None = item
        else:
            institution = _filing_for(
                world.filings.get(record.institution_code, ()), item, deadline
            )
        consultation = None
        earlier: tuple[LedgerRecord, ...] = ()
        waiting = institution is None
        link = None
        if isinstance(record, Prescription | Charge):
            key = (record.institution_code, record.consultation_record_id)
            link = record.consultation_record_id
            consultation = _arrived(world.consultations.get(key), deadline)
            waiting = waiting or consultation is None
            if isinstance(record, Charge):
                earlier = tuple(
                    sorted(
                        (c for i, c in world.charges.get(key, {}).items() if i < item.index),
                        key=lambda c: c.index,
                    )
                )
        if waiting and not past_deadline:
            return _Waiting(record.institution_code, link)
        filing = None if institution is None else institution.record
        assert filing is None or isinstance(filing, InstitutionFiling)
        return Subject(item, filing, consultation, earlier)

    # -- passes ------------------------------------------------------------

    def follow_once(self) -> PassReport:
        """Inspect up to ``chunk`` new records and the pending ones now due, in one commit."""
        now = self.clock()
        self.reference.ensure_policy(now=now)
        reference, policy = self.reference.snapshot()
        with read_transaction(self.store.engine) as connection:
            cursor = connection.execute(
                select(tables.inspection_cursor.c.next_index).where(
                    tables.inspection_cursor.c.name == FOLLOWER
                )
            ).scalar()
            start = 0 if cursor is None else int(cursor)
            # The head from this same connection: on SQLite a fresh one could see entries
            # this snapshot does not, and the cursor would skip them.
            head = int(connection.execute(select(ledger_schema.head.c.size)).scalar_one())
            rows = read_record_rows(connection, start, head, self.chunk)
            end = head if len(rows) < self.chunk else rows[-1].entry_index + 1
            fresh, unreadable = self.reader.open(rows)
            due = self._due_pending(connection, fresh, now)
            candidates = [*due, *fresh]
            world = self.reader.related(connection, candidates, complete_from=start)
        due_indices = {item.index for item in due}
        findings, waiting = self._evaluate(candidates, world, reference, policy, now)
        new_pending = [w for w in waiting if w[0].index not in due_indices]
        # Due but still waiting, perhaps for something else now (a dispensing whose
        # prescription came, still without its pharmacy's filing): its row says what.
        still_waiting = [w for w in waiting if w[0].index in due_indices]
        resolved = [i for i in due_indices if i not in {w[0].index for w in waiting}]
        if not rows and not resolved:
            # Nothing to inspect (the entries since the cursor are not records: the last
            # run entry, findings, access events): move the cursor, append nothing. An
            # idle follower otherwise appended a run entry covering its own last one,
            # every pass, for ever.
            if start != end:
                with write_transaction(self.store.engine) as connection:
                    self._move_cursor(connection, cursor, end)
            return PassReport("follow", start, end, 0, 0, 0, 0, 0, None)

        def cursor_and_pending(connection: Connection, result: AppendResult) -> None:
            self._move_cursor(connection, cursor, end)
            _store_pending(connection, new_pending, policy)
            _restate_pending(connection, still_waiting)
            if resolved:
                connection.execute(
                    delete(tables.inspection_pending).where(
                        tables.inspection_pending.c.entry_index.in_(resolved)
                    )
                )

        counts = {"records": len(fresh), "pending": len(new_pending), "resolved": len(resolved)}
        entry, appended = self._commit(
            findings,
            {"mode": "follow", "from_index": start, "to_index": end, **counts},
            reference,
            policy,
            now,
            also=cursor_and_pending,
        )
        return PassReport(
            "follow",
            start,
            end,
            len(fresh),
            appended,
            len(new_pending),
            len(resolved),
            unreadable,
            entry,
        )

    def follow(self, *, stop: Callable[[], bool] | None = None) -> list[PassReport]:
        """Run passes until the cursor reaches the head (or ``stop`` says so)."""
        reports = []
        with self.reader.remembering():
            while stop is None or not stop():
                with _collector_paused():
                    report = self.follow_once()
                reports.append(report)
                if report.records < self.chunk:
                    break
        return reports

    def inspect_received(self, since: datetime, until: datetime) -> PassReport:
        """Inspect again every final record received in [since, until) (on demand).

        Appends only findings not recorded yet (same ids: same finding), and
        an ``inspection.run`` entry naming the range, versions and policy.
        """
        now = self.clock()
        self.reference.ensure_policy(now=now)
        reference, policy = self.reference.snapshot()
        findings: list[Finding] = []
        records = unreadable = waiting_count = 0
        first = last = None
        with snapshot_transaction(self.store.engine) as connection:
            query = (
                RECORD_QUERY.where(
                    tables.records.c.received_at >= since, tables.records.c.received_at < until
                )
                .order_by(tables.records.c.entry_index)
                .execution_options(yield_per=self.chunk)
            )
            for batch in connection.execute(query).partitions(self.chunk):
                found, waiting, skipped = self._inspect_rows(
                    connection, batch, reference, policy, now
                )
                findings += found
                waiting_count += waiting
                unreadable += skipped
                records += len(batch)
                first = batch[0].entry_index if first is None else first
                last = batch[-1].entry_index
        start = 0 if first is None else first
        end = 0 if last is None else last + 1
        summary = {
            "mode": "on_demand",
            "since": since.astimezone(UTC).isoformat(),
            "until": until.astimezone(UTC).isoformat(),
            "from_index": start,
            "to_index": end,
            "records": records,
            "pending": waiting_count,
            "resolved": 0,
        }
        entry, appended = self._commit(findings, summary, reference, policy, now, also=None)
        return PassReport(
            "on_demand", start, end, records, appended, waiting_count, 0, unreadable, entry
        )

    def _inspect_rows(
        self,
        connection: Connection,
        rows: Sequence[Any],
        reference: ReferenceSnapshot,
        policy: Policy,
        now: datetime,
    ) -> tuple[list[Finding], int, int]:
        opened, unreadable = self.reader.open(rows)
        world = self.reader.related(connection, opened)
        findings, waiting = self._evaluate(opened, world, reference, policy, now)
        return findings, len(waiting), unreadable

    def _due_pending(
        self, connection: Connection, fresh: Sequence[LedgerRecord], now: datetime
    ) -> list[LedgerRecord]:
        """Pending records whose deadline passed or whose missing record just arrived."""
        pending = tables.inspection_pending.c
        if connection.execute(select(pending.entry_index).limit(1)).first() is None:
            return []  # the usual case: nothing waits, so nothing can be due
        filed = {
            i.record.institution_code
            for i in fresh
            if isinstance(i.record, InstitutionFiling | PharmacyFiling)
        }
        # What records wait for: a consultation, a dispensing's prescription (any
        # institution's), a delivery's dispensing.
        arrived = sorted(
            (i.record.institution_code, i.record.record_id)
            for i in fresh
            if isinstance(i.record, Consultation | Prescription | Dispensing)
        )
        conditions = [pending.deadline <= now]
        if filed:
            conditions.append(pending.institution_code.in_(filed))
        due_indices: set[int] = set()
        with_conditions = select(pending.entry_index).where(or_(*conditions))
        due_indices.update(connection.execute(with_conditions).scalars())
        rows = keyed_rows(connection, pending.waiting_for, arrived, [pending.entry_index])
        due_indices.update(row.entry_index for row in rows)
        if not due_indices:
            return []
        return self.reader.load_indices(connection, due_indices)

    def _evaluate(
        self,
        candidates: Sequence[LedgerRecord],
        world: RelatedRecords,
        reference: ReferenceSnapshot,
        policy: Policy,
        now: datetime,
    ) -> tuple[list[Finding], list[tuple[LedgerRecord, _Waiting]]]:
        findings: list[Finding] = []
        waiting: list[tuple[LedgerRecord, _Waiting]] = []
        for item in candidates:
            subject = self._subject(item, world, policy, now)
            if isinstance(subject, _Waiting):
                waiting.append((item, subject))
            else:
                findings += inspect_subject(
                    subject, reference, policy, case_subject=self._case_subject
                )
        return findings, waiting

    # -- committing --------------------------------------------------------

    def _move_cursor(self, connection: Connection, old: int | None, new: int) -> None:
        cursor = tables.inspection_cursor
        if old is None:
            try:
                connection.execute(insert(cursor).values(name=FOLLOWER, next_index=new))
            except IntegrityError as e:
                raise InspectionConflictError("another inspector started first") from e
            return
        moved = connection.execute(
            update(cursor)
            .where(cursor.c.name == FOLLOWER, cursor.c.next_index == old)
            .values(next_index=new)
        )
        if moved.rowcount != 1:
            raise InspectionConflictError("another inspector moved the cursor first")

    def _commit(
        self,
        findings: Sequence[Finding],
        summary: dict[str, Any],
        reference: ReferenceSnapshot,
        policy: Policy,
        now: datetime,
        *,
        also: Callable[[Connection, AppendResult], None] | None,
    ) -> tuple[int, int]:
        """Append the new findings and the run entry; returns (run entry index, findings)."""
        with read_transaction(self.store.engine) as connection:
            known: set[str] = set()
            ids = sorted({f.finding_id for f in findings})
            for part in slices(ids):
                known.update(
                    connection.execute(
                        select(tables.findings.c.finding_id).where(
                            tables.findings.c.finding_id.in_(part)
                        )
                    ).scalars()
                )
        new: dict[str, Finding] = {}
        for finding in findings:
            if finding.finding_id not in known:
                new.setdefault(finding.finding_id, finding)
        drafts = [self._finding_draft(f, now) for f in new.values()]
        run = {
            **summary,
            "findings": len(drafts),
            "policy_sha256": policy.sha256,
            "reference_versions": reference.versions(),
        }
        drafts.append(EntryDraft(RUN_ENTRY, run))

        def project(connection: Connection, result: AppendResult) -> None:
            rows = [
                finding_row(result.first_index + offset, dict(draft.statement), now)
                for offset, draft in enumerate(drafts[:-1])
            ]
            keys = [str(draft.statement["case_key"]) for draft in drafts[:-1]]
            group_findings(connection, rows, keys)
            insert_dicts(connection, tables.findings, rows)
            if also is not None:
                also(connection, result)

        result = self.store.append(drafts, now=now, within=project)
        return result.first_index + len(drafts) - 1, len(drafts) - 1

    def _finding_draft(self, finding: Finding, now: datetime) -> EntryDraft:
        public: dict[str, Any] = {
            "finding_id": finding.finding_id,
            "rule": finding.rule_id,
            "severity": finding.severity.value,
            "record_index": finding.record_index,
            "related_indices": list(finding.related_indices),
            "institution_code": finding.institution_code,
            "record_id": finding.record_id,
            "reference_versions": dict(finding.reference_versions),
            "policy_sha256": finding.policy_sha256,
            "case_key": finding.case_key,
        }
        return sealed_entry(
            self.keys, FINDING_ENTRY, FINDING_ENTRY, now, public=public, details=finding.document()
        )

    def _case_subject(self, institution_code: str, licence: str) -> str:
        """A practitioner as a case key names them: keyed, so no one without the
        regulator's keys can test a guessed licence number against a public leaf."""
        return self.keys.pseudonym("case-subject", f"{institution_code}\x00{licence}")[:16]

    def open_finding(self, leaf: bytes, payload: bytes | None) -> dict[str, Any]:
        """The sealed document of a finding entry, checked against its leaf."""
        return open_sealed(self.keys, leaf, payload)


@contextmanager
def _collector_paused() -> Iterator[None]:
    """Pause the cyclic garbage collector for one chunk. A chunk allocates millions of
    objects that reference counting frees; the collector, run every few hundred
    allocations, walked the whole heap (a follow's remembered records among it) for
    nothing: a quarter of a pass at a million records. It runs again after the chunk."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def _filing_for(
    filings: Sequence[LedgerRecord], item: LedgerRecord, deadline: datetime
) -> LedgerRecord | None:
    """The filing a record is judged by: the latest one before it in the ledger, else the
    first one received by its deadline."""
    before = [f for f in filings if f.index < item.index]
    if before:
        return before[-1]
    for filing in filings:
        if filing.received_at <= deadline:
            return filing
    return None


@dataclass(frozen=True)
class _Waiting:
    """What a record not yet final waits for: a record ``waiting_for`` of institution
    ``institution_code`` (None: only a filing of that institution)."""

    institution_code: str
    waiting_for: str | None


def _arrived(related: LedgerRecord | None, deadline: datetime) -> LedgerRecord | None:
    """A related record as a subject sees it: one that arrived after the grace period
    stays missing."""
    return None if related is None or related.received_at > deadline else related


def _folded_fills(fills: dict[int, LedgerRecord], item: LedgerRecord) -> tuple[LedgerRecord, ...]:
    """The other dispensings of ``item``'s prescription earlier in the ledger, each
    correction standing for the dispensing it corrects (a correction is not a second
    fill). A correction keeps its original's place: it is compared with the fills before
    the original only, so a typo fixed by the first pharmacy does not make it the second."""
    record = item.record
    cut = item.index
    if isinstance(record, Dispensing) and record.amends is not None:
        for index, fill in fills.items():
            same = (fill.record.institution_code, fill.record.record_id)
            if same == (record.institution_code, record.amends):
                cut = min(cut, index)
    seen = {i: f for i, f in fills.items() if i < cut}
    seen[item.index] = item
    corrected = {
        (f.record.institution_code, f.record.amends)
        for f in seen.values()
        if isinstance(f.record, Dispensing) and f.record.amends is not None
    }
    return tuple(
        f
        for i, f in sorted(seen.items())
        if i != item.index and (f.record.institution_code, f.record.record_id) not in corrected
    )


def _pharmacy_subject(
    item: LedgerRecord, world: RelatedRecords, deadline: datetime, now: datetime
) -> Subject | _Waiting:
    """A pharmacy filing, dispensing or delivery with what it is judged by: the pharmacy's
    filing, the prescription filled and its earlier fills, the dispensing delivered."""
    record = item.record
    code = record.institution_code
    if isinstance(record, PharmacyFiling):
        return Subject(item, pharmacy=record)
    filed = _filing_for(world.pharmacies.get(code, ()), item, deadline)
    pharmacy = None if filed is None else filed.record
    assert pharmacy is None or isinstance(pharmacy, PharmacyFiling)
    final = now >= deadline
    if isinstance(record, Delivery):
        dispensing = _arrived(world.dispensings.get((code, record.dispensing_record_id)), deadline)
        if dispensing is None and not final:
            return _Waiting(code, record.dispensing_record_id)
        return Subject(item, pharmacy=pharmacy, dispensing=dispensing)
    assert isinstance(record, Dispensing)
    link = record.prescription
    prescription = None
    fills: tuple[LedgerRecord, ...] = ()
    if link is not None:
        key = (link.institution_code, link.record_id)
        # The latest version of the prescription received by the deadline is what it is
        # judged by; the fills of every version count together.
        versions = world.versions_of(key)
        arrived = [
            version
            for k in versions
            if (version := _arrived(world.prescriptions.get(k), deadline)) is not None
        ]
        prescription = max(arrived, key=lambda v: v.index) if arrived else None
        every_fill = {i: f for k in versions for i, f in world.fills.get(k, {}).items()}
        fills = _folded_fills(every_fill, item)
        if prescription is None and not final:
            return _Waiting(link.institution_code, link.record_id)
    if pharmacy is None and not final:
        return _Waiting(code, None)
    return Subject(item, pharmacy=pharmacy, prescription=prescription, earlier_fills=fills)


def _restate_pending(
    connection: Connection, waiting: Sequence[tuple[LedgerRecord, _Waiting]]
) -> None:
    pending = tables.inspection_pending
    for item, why in waiting:
        connection.execute(
            update(pending)
            .where(pending.c.entry_index == item.index)
            .values(institution_code=why.institution_code, waiting_for=why.waiting_for)
        )


def _store_pending(
    connection: Connection, waiting: Sequence[tuple[LedgerRecord, _Waiting]], policy: Policy
) -> None:
    insert_dicts(
        connection,
        tables.inspection_pending,
        [
            {
                "entry_index": item.index,
                "deadline": item.received_at + policy.grace,
                "institution_code": why.institution_code,
                "waiting_for": why.waiting_for,
            }
            for item, why in waiting
        ],
    )
