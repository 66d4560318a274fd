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

Which records are final and what each is judged by is ``finality``'s pure
decision. A backlog is shared with a second process by institution
(``shares``); the follower alone commits, so the guarantees above hold
whichever process inspected a record.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from itertools import count
from typing import Any

from sqlalchemy import Connection, delete, insert, or_, select, update
from sqlalchemy.exc import IntegrityError

from inspectors.findings import Finding
from inspectors.policy import Policy
from inspectors.reference import ReferenceSnapshot
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
from supervisor.inspection.finality import decide
from supervisor.inspection.reference_data import ReferenceData
from supervisor.inspection.related_records import (
    RECORD_QUERY,
    ChunkRow,
    RecordReader,
    keyed_rows,
    read_chunk,
    slices,
)
from supervisor.inspection.shares import (
    Pending,
    Share,
    ShareOutcome,
    ShareWorker,
    Sharing,
    case_subject,
    collector_paused,
    inspect_share,
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
#: A chunk is shared with the worker from this many records: below, the round trip costs
#: more than it saves.
SHARED_FROM = 2_000
#: What a pending record may wait for, and what files an institution (by projection type).
_AWAITED = frozenset({"consultation", "prescription", "dispensing"})
_FILINGS = frozenset({"institution", "pharmacy"})
_follows = count(1)
_log = logging.getLogger("careledger.inspector")


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
        start_worker: Callable[[], ShareWorker] | None = None,
    ) -> None:
        """``start_worker``: how to start the second process a follow shares a backlog
        with (None: a follow works alone)."""
        self.store = store
        self.keys = keys
        self.reference = reference
        self.clock = clock
        self.chunk = chunk
        self.reader = RecordReader(keys)
        self._start_worker = start_worker
        self._worker: ShareWorker | None = None
        self._follow: int | None = None
        self._sharing = Sharing()

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
            chunk = read_chunk(connection, start, head, self.chunk)
            end = head if len(chunk) < self.chunk else chunk[-1].entry_index + 1
            due = self._due_pending(connection, chunk, now)
            whole = Share(start, end, head, None, tuple(sorted(due)), now)
            outcomes = self._inspect_chunk(
                connection, whole, chunk=chunk, due=due, reference=reference, policy=policy
            )
        findings = [f for outcome in outcomes for f in outcome.findings]
        waiting = [w for outcome in outcomes for w in outcome.waiting]
        records = sum(outcome.records for outcome in outcomes)
        unreadable = sum(outcome.unreadable for outcome in outcomes)
        new_pending = [w for w in waiting if w.index not in due]
        # Due but still waiting, perhaps for something else now (a dispensing whose
        # prescription came, still without its pharmacy's filing): its row says what.
        still_waiting = [w for w in waiting if w.index in due]
        resolved = sorted(set(due) - {w.index for w in waiting})
        if not chunk and not resolved:
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

        counts = {"records": records, "pending": len(new_pending), "resolved": len(resolved)}
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
            records,
            appended,
            len(new_pending),
            len(resolved),
            unreadable,
            entry,
        )

    def _inspect_chunk(
        self,
        connection: Connection,
        whole: Share,
        *,
        chunk: Sequence[ChunkRow],
        due: dict[int, str],
        reference: ReferenceSnapshot,
        policy: Policy,
    ) -> list[ShareOutcome]:
        """The chunk inspected here, or in two shares, one of them in the worker process
        when it is ready (see ``shares``)."""
        worker = self._worker
        if worker is None or len(chunk) < SHARED_FROM or not worker.ready():
            return [self._inspect_share(connection, whole, reference, policy)]
        (own, own_due), (other, other_due) = self._sharing.split(chunk, due)
        theirs = replace(whole, indices=other, due=other_due)
        future = worker.submit(self._follow, reference, policy, theirs)
        mine = self._inspect_share(
            connection, replace(whole, indices=own, due=own_due), reference, policy
        )
        try:
            return [mine, future.result()]
        except Exception:
            # The worker only saves time: whatever failed there (a child that died, a
            # result that did not come back) is done here, where a real error raises.
            _log.exception("the inspector's worker failed; inspecting its share here")
            self._stop_worker()
            return [mine, self._inspect_share(connection, theirs, reference, policy)]

    def _inspect_share(
        self, connection: Connection, share: Share, reference: ReferenceSnapshot, policy: Policy
    ) -> ShareOutcome:
        return inspect_share(
            connection, self.reader, share, reference, policy, subject_key=self._case_subject
        )

    def follow(self, *, stop: Callable[[], bool] | None = None) -> list[PassReport]:
        """Run passes until the cursor reaches the head (or ``stop`` says so). Once a pass
        meets a full chunk (a backlog), a second process is started to share the next
        chunks, if ``processes`` allows it; it stops with the follow."""
        reports = []
        self._follow = next(_follows)
        self._sharing = Sharing()
        try:
            with self.reader.remembering():
                while stop is None or not stop():
                    with collector_paused():
                        report = self.follow_once()
                    reports.append(report)
                    if report.records < self.chunk:
                        break
                    if self._worker is None and self._start_worker is not None:
                        self._worker = self._start_worker()
        finally:
            self._stop_worker()
            self._follow = None
        return reports

    def _stop_worker(self) -> None:
        if self._worker is not None:
            self._worker.close()
            self._worker = None

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
        findings, waiting = decide(
            opened, world, reference, policy, now, case_subject=self._case_subject
        )
        return findings, len(waiting), unreadable

    def _due_pending(
        self, connection: Connection, chunk: Sequence[ChunkRow], now: datetime
    ) -> dict[int, str]:
        """Pending records whose deadline passed or whose missing record just arrived, with
        their own institution's code (by which a chunk is shared out)."""
        pending = tables.inspection_pending.c
        if connection.execute(select(pending.entry_index).limit(1)).first() is None:
            return {}  # the usual case: nothing waits, so nothing can be due
        filed = {row.institution_code for row in chunk if row.record_type in _FILINGS}
        # What records wait for: a consultation, a dispensing's prescription (any
        # institution's), a delivery's dispensing.
        arrived = sorted(
            {(row.institution_code, row.record_id) for row in chunk if row.record_type in _AWAITED}
        )
        conditions = [pending.deadline <= now]
        if filed:
            conditions.append(pending.institution_code.in_(filed))
        due_indices: set[int] = set()
        with_conditions = select(pending.entry_index).where(or_(*conditions))
        due_indices.update(connection.execute(with_conditions).scalars())
        rows = keyed_rows(connection, pending.waiting_for, arrived, [pending.entry_index])
        due_indices.update(row.entry_index for row in rows)
        due: dict[int, str] = {}
        records = tables.records.c
        for part in slices(sorted(due_indices)):
            query = select(records.entry_index, records.institution_code).where(
                records.entry_index.in_(part)
            )
            due.update((row.entry_index, row.institution_code) for row in connection.execute(query))
        return due

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
        return case_subject(self.keys, institution_code, licence)

    def open_finding(self, leaf: bytes, payload: bytes | None) -> dict[str, Any]:
        """The sealed document of a finding entry, checked against its leaf."""
        return open_sealed(self.keys, leaf, payload)


def _restate_pending(connection: Connection, waiting: Sequence[Pending]) -> None:
    pending = tables.inspection_pending
    for item in waiting:
        connection.execute(
            update(pending)
            .where(pending.c.entry_index == item.index)
            .values(institution_code=item.why.institution_code, waiting_for=item.why.waiting_for)
        )


def _store_pending(connection: Connection, waiting: Sequence[Pending], policy: Policy) -> None:
    insert_dicts(
        connection,
        tables.inspection_pending,
        [
            {
                "entry_index": item.index,
                "deadline": item.received_at + policy.grace,
                "institution_code": item.why.institution_code,
                "waiting_for": item.why.waiting_for,
            }
            for item in waiting
        ],
    )
