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

import os
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, NamedTuple

import orjson
from sqlalchemy import Connection, delete, insert, or_, select, text, tuple_, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.sql import Select

from inspectors.findings import Finding, Subject
from inspectors.policy import Policy
from inspectors.reference import ReferenceSnapshot
from inspectors.rulebook import inspect_subject
from inspectors.values import (
    Charge,
    Consultation,
    InstitutionFiling,
    LedgerRecord,
    Prescription,
    parse_record,
)
from ledger import schema as ledger_schema
from ledger.canonical import canonical_json
from ledger.database import read_transaction, snapshot_transaction
from ledger.store import AppendResult, EntryDraft, LedgerStore

from . import tables
from .payload_keys import PayloadKeys, SealedPayloadError
from .receipts import record_commitment
from .reference_data import ReferenceData

__all__ = [
    "FINDING_ENTRY",
    "RUN_ENTRY",
    "InspectionConflictError",
    "Inspector",
    "PassReport",
    "RecordRow",
    "finding_row",
    "read_record_rows",
]

FINDING_ENTRY = "finding"
RUN_ENTRY = "inspection.run"
FOLLOWER = "follower"
_SALT_SIZE = 32
_NO_LIMIT = 2**62  # above any entry index

_records = tables.records
_entries = ledger_schema.entries
_RECORD_QUERY = select(_records.c.entry_index, _records.c.received_at, _entries.c.payload).join(
    _entries, _entries.c.idx == _records.c.entry_index
)


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


def _utc(moment: datetime) -> datetime:
    """Stored times are UTC; SQLite gives them back without the offset."""
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


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
        "found_at": received_at,
    }


@dataclass
class _World:
    """The related records one pass can see, by what they are looked up by."""

    filings: dict[str, list[LedgerRecord]] = field(default_factory=dict)
    consultations: dict[tuple[str, str], LedgerRecord] = field(default_factory=dict)
    charges: dict[tuple[str, str], dict[int, LedgerRecord]] = field(default_factory=dict)

    def add(self, item: LedgerRecord) -> None:
        record = item.record
        if isinstance(record, InstitutionFiling):
            bucket = self.filings.setdefault(record.institution_code, [])
            if all(other.index != item.index for other in bucket):
                bucket.append(item)
                bucket.sort(key=lambda f: f.index)
        elif isinstance(record, Charge):
            key = (record.institution_code, record.consultation_record_id)
            self.charges.setdefault(key, {})[item.index] = item
        elif isinstance(record, Consultation):
            self.consultations[(record.institution_code, record.record_id)] = item


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

    # -- reading records ---------------------------------------------------

    def _open(self, rows: Iterable[Any]) -> tuple[list[LedgerRecord], int]:
        """Typed records of (entry_index, received_at, payload) rows; shredded ones counted."""
        opened, unreadable = [], 0
        keys_open = self.keys.open
        for row in rows:
            try:
                plaintext = keys_open(row.payload)
            except SealedPayloadError:
                unreadable += 1
                continue
            record = parse_record(orjson.loads(plaintext[_SALT_SIZE:]))
            opened.append(LedgerRecord(row.entry_index, _utc(row.received_at), record))
        return opened, unreadable

    def _load(self, connection: Connection, query: Select[Any]) -> list[LedgerRecord]:
        return self._open(connection.execute(query))[0]

    def _related_world(
        self,
        connection: Connection,
        candidates: Sequence[LedgerRecord],
        complete_from: int | None = None,
    ) -> _World:
        """Everything the candidates may be compared with: filings of their institutions,
        the consultations they refer to, the charges of those consultations.

        ``complete_from``: every record from that index to the highest candidate is itself
        a candidate (a follower's chunk), so only earlier ones are looked up.
        """
        world = _World()
        codes: set[str] = set()
        consultation_keys: set[tuple[str, str]] = set()
        charge_keys: set[tuple[str, str]] = set()
        for item in candidates:
            record = item.record
            world.add(item)
            codes.add(record.institution_code)
            if isinstance(record, Prescription | Charge):
                key = (record.institution_code, record.consultation_record_id)
                consultation_keys.add(key)
                if isinstance(record, Charge):
                    charge_keys.add(key)
        if codes:
            filings = _RECORD_QUERY.where(
                _records.c.record_type == "institution", _records.c.institution_code.in_(codes)
            )
            for filing in self._load(connection, filings):
                world.add(filing)
        missing = [k for k in consultation_keys if k not in world.consultations]
        found = [
            index
            for index, record_type in _linked(connection, _records.c.record_id, missing)
            if record_type == "consultation"
        ]
        if charge_keys:
            # A chunk's own charges are most of them: look up and decrypt only the others.
            below = complete_from
            if below is None:
                below = max(item.index for item in candidates)
            known = {i for charges in world.charges.values() for i in charges}
            found += [
                index
                for index, record_type in _linked(
                    connection, _records.c.consultation_record_id, charge_keys, below=below
                )
                if record_type == "charge" and index not in known
            ]
        for part in _slices(sorted(set(found))):
            for related in self._load(
                connection, _RECORD_QUERY.where(_records.c.entry_index.in_(part))
            ):
                world.add(related)
        return world

    # -- deciding what is final --------------------------------------------

    def _subject(
        self, item: LedgerRecord, world: _World, policy: Policy, now: datetime
    ) -> Subject | None:
        """The subject of ``item`` if it is final now, else None (it must wait)."""
        record = item.record
        deadline = item.received_at + policy.grace
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
        if isinstance(record, Prescription | Charge):
            key = (record.institution_code, record.consultation_record_id)
            consultation = world.consultations.get(key)
            if consultation is not None and consultation.received_at > deadline:
                consultation = None  # arrived after the grace period: it stays missing
            waiting = waiting or consultation is None
            if isinstance(record, Charge):
                earlier = tuple(
                    sorted(
                        (c for i, c in world.charges.get(key, {}).items() if i < item.index),
                        key=lambda c: c.index,
                    )
                )
        if waiting and not past_deadline:
            return None
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
            fresh, unreadable = self._open(rows)
            due = self._due_pending(connection, fresh, now)
            candidates = [*due, *fresh]
            world = self._related_world(connection, candidates, complete_from=start)
        due_indices = {item.index for item in due}
        findings, waiting = self._evaluate(candidates, world, reference, policy, now)
        new_pending = [w for w in waiting if w[0].index not in due_indices]
        resolved = [i for i in due_indices if i not in {w[0].index for w in waiting}]
        if start == end and not resolved:
            return PassReport("follow", start, end, 0, 0, 0, 0, 0, None)

        def cursor_and_pending(connection: Connection, result: AppendResult) -> None:
            self._move_cursor(connection, cursor, end)
            _store_pending(connection, new_pending, policy)
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
        while stop is None or not stop():
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
                _RECORD_QUERY.where(_records.c.received_at >= since, _records.c.received_at < until)
                .order_by(_records.c.entry_index)
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
        opened, unreadable = self._open(rows)
        world = self._related_world(connection, opened)
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
            i.record.institution_code for i in fresh if isinstance(i.record, InstitutionFiling)
        }
        arrived = sorted(
            (i.record.institution_code, i.record.record_id)
            for i in fresh
            if isinstance(i.record, Consultation)
        )
        conditions = [pending.deadline <= now]
        if filed:
            conditions.append(pending.institution_code.in_(filed))
        due_indices: set[int] = set()
        with_conditions = select(pending.entry_index).where(or_(*conditions))
        due_indices.update(connection.execute(with_conditions).scalars())
        for part in _slices(arrived):
            query = select(pending.entry_index).where(
                tuple_(pending.institution_code, pending.waiting_for).in_(part)
            )
            due_indices.update(connection.execute(query).scalars())
        if not due_indices:
            return []
        ordered = sorted(due_indices)
        loaded: list[LedgerRecord] = []
        for part in _slices(ordered):
            loaded += self._load(connection, _RECORD_QUERY.where(_records.c.entry_index.in_(part)))
        return loaded

    def _evaluate(
        self,
        candidates: Sequence[LedgerRecord],
        world: _World,
        reference: ReferenceSnapshot,
        policy: Policy,
        now: datetime,
    ) -> tuple[list[Finding], list[tuple[LedgerRecord, str | None]]]:
        findings: list[Finding] = []
        waiting: list[tuple[LedgerRecord, str | None]] = []
        for item in candidates:
            subject = self._subject(item, world, policy, now)
            if subject is None:
                record = item.record
                link = (
                    record.consultation_record_id
                    if isinstance(record, Prescription | Charge)
                    else None
                )
                waiting.append((item, link))
            else:
                findings += inspect_subject(subject, reference, policy)
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
            for part in _slices(ids):
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
            if rows:
                connection.execute(insert(tables.findings), rows)
            if also is not None:
                also(connection, result)

        result = self.store.append(drafts, now=now, within=project)
        return result.first_index + len(drafts) - 1, len(drafts) - 1

    def _finding_draft(self, finding: Finding, now: datetime) -> EntryDraft:
        salt = os.urandom(_SALT_SIZE)
        document = canonical_json(finding.document())
        statement = {
            "finding_id": finding.finding_id,
            "rule": finding.rule_id,
            "severity": finding.severity.value,
            "record_index": finding.record_index,
            "related_indices": list(finding.related_indices),
            "institution_code": finding.institution_code,
            "record_id": finding.record_id,
            "reference_versions": dict(finding.reference_versions),
            "policy_sha256": finding.policy_sha256,
            "commitment": record_commitment(salt, document),
        }
        return EntryDraft(
            FINDING_ENTRY, statement, self.keys.seal(FINDING_ENTRY, now, salt + document)
        )

    def open_finding(self, payload: bytes) -> dict[str, Any]:
        """The sealed document of a finding entry."""
        document: dict[str, Any] = orjson.loads(self.keys.open(payload)[_SALT_SIZE:])
        return document


class RecordRow(NamedTuple):
    """A record entry as read for inspection: index, arrival, sealed payload."""

    entry_index: int
    received_at: datetime
    payload: bytes


#: The limit applies to the records alone, then the join: with stale statistics after a
#: bulk load, PostgreSQL otherwise joined and sorted every record up to the head (on disk)
#: to keep the first ten thousand.
_NEXT_RECORDS = (
    "SELECT r.entry_index, r.received_at, e.payload FROM ("
    "SELECT entry_index, received_at FROM records "
    "WHERE entry_index >= {0} AND entry_index < {0} ORDER BY entry_index LIMIT {0}"
    ") AS r JOIN ledger_entries AS e ON e.idx = r.entry_index ORDER BY r.entry_index"
)


def read_record_rows(connection: Connection, start: int, head: int, limit: int) -> list[RecordRow]:
    """The next record entries from ``start`` (below ``head``), in index order.

    The follower's hot read, on the DB-API cursor of the same transaction: SQLAlchemy's
    row processing cost as much as the read itself, and on PostgreSQL the binary
    protocol sends payloads as bytes rather than hex text.
    """
    raw: Any = connection.connection.dbapi_connection
    if connection.dialect.name == "postgresql":
        cursor = raw.cursor(binary=True)
        try:
            cursor.execute(_NEXT_RECORDS.format("%s"), (start, head, limit))
            return [RecordRow(*row) for row in cursor.fetchall()]
        finally:
            cursor.close()
    cursor = raw.cursor()
    try:
        cursor.execute(_NEXT_RECORDS.format("?"), (start, head, limit))
        # SQLite keeps times as UTC text without an offset.
        return [
            RecordRow(index, datetime.fromisoformat(received).replace(tzinfo=UTC), payload)
            for index, received, payload in cursor.fetchall()
        ]
    finally:
        cursor.close()


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


def _store_pending(
    connection: Connection, waiting: Sequence[tuple[LedgerRecord, str | None]], policy: Policy
) -> None:
    if waiting:
        connection.execute(
            insert(tables.inspection_pending),
            [
                {
                    "entry_index": item.index,
                    "deadline": item.received_at + policy.grace,
                    "institution_code": item.record.institution_code,
                    "waiting_for": link,
                }
                for item, link in waiting
            ],
        )


def _linked(
    connection: Connection,
    column: Any,
    keys: Iterable[tuple[str, str]],
    *,
    below: int | None = None,
) -> list[tuple[int, str]]:
    """(entry_index, record_type) of the records of an institution whose ``column`` is one
    of the keys' ids (and whose index is below ``below``), found through the composite
    index on (institution_code, column).

    PostgreSQL: one query joining two arrays unnested side by side. SQLite: one query per
    institution with ``IN`` on the second column, because SQLite uses no index for a
    row-value ``IN`` and would scan every record.
    """
    by_institution: dict[str, list[str]] = {}
    for institution, record_id in keys:
        by_institution.setdefault(institution, []).append(record_id)
    if not by_institution:
        return []
    limit = _NO_LIMIT if below is None else below
    if connection.dialect.name == "postgresql":
        pairs = sorted({(i, r) for i, ids in by_institution.items() for r in ids})
        rows = connection.execute(
            text(
                f"SELECT r.entry_index, r.record_type FROM records AS r "
                f"JOIN unnest(CAST(:institutions AS text[]), CAST(:ids AS text[])) "
                f"AS k(institution_code, linked) "
                f"ON r.institution_code = k.institution_code AND r.{column.name} = k.linked "
                f"WHERE r.entry_index < :below"
            ),
            {
                "institutions": [i for i, _ in pairs],
                "ids": [r for _, r in pairs],
                "below": limit,
            },
        )
        return [(row.entry_index, row.record_type) for row in rows]
    found: list[tuple[int, str]] = []
    for institution, ids in sorted(by_institution.items()):
        for part in _slices(sorted(set(ids))):
            query = select(_records.c.entry_index, _records.c.record_type).where(
                _records.c.institution_code == institution,
                column.in_(part),
                _records.c.entry_index < limit,
            )
            found += [(row.entry_index, row.record_type) for row in connection.execute(query)]
    return found


def _slices(values: Sequence[Any], size: int = 2000) -> Iterable[Sequence[Any]]:
    """Bounded IN lists: SQLite and PostgreSQL both limit bound parameters."""
    for start in range(0, len(values), size):
        yield values[start : start + size]
