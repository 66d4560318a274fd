"""What the record page shows: the record as sealed in the ledger, its place in the tree
proved against the latest signed checkpoint, its amendments, its findings, and the
consultation it belongs to as a timeline (each record of it proved the same way).

Who sees the patient's identity is the portal's decision: auditors see the
record with the identity masked.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import orjson
from sqlalchemy import Connection, func, select

from inspectors.reference import ReferenceSnapshot
from ledger import schema as ledger_schema
from ledger.checkpoint import Checkpoint, open_checkpoint
from ledger.database import read_transaction
from ledger.errors import LedgerError
from ledger.hashing import leaf_hash
from ledger.proof import verify_inclusion
from supervisor.custody.payload_keys import SealedPayloadError
from supervisor.database import tables
from supervisor.ground.records import RECORD_ENTRY_PREFIX, PayloadMismatchError, open_leaf_payload
from supervisor.runtime.services import Services
from supervisor.web.portal.timeline import FindingLink, TimelineRecord

__all__ = [
    "IDENTITY_ROLES",
    "NOT_YET_COVERED",
    "NO_CHECKPOINT",
    "RecordView",
    "load_record_view",
    "mask_identity",
    "proved_records",
]

#: At most this many records of one consultation on its timeline (a real one has a few).
TIMELINE_LIMIT = 200

#: Roles that may see who the patient is (auditors work without identities).
IDENTITY_ROLES = frozenset({"regulator", "supervisor"})
_MASK = "***"


@dataclass(frozen=True)
class RecordView:
    index: int
    entry_type: str
    leaf_hash: str
    record: dict[str, Any] | None  # None: shredded (retention) or not the committed content
    record_id: str
    institution_code: str
    patient_pseudonym: str | None
    checkpoint_size: int | None
    proof_verified: bool
    proof_problem: str | None
    amendments: list[tuple[int, str]]  # (ledger index, record id), this one's chain
    findings: list[FindingLink]
    #: The stored payload is not what the leaf commits to: nothing of it is shown.
    content_mismatch: bool = False
    #: The inclusion proof's audit path (hex), leaf to root, when it was verified.
    proof_path: tuple[str, ...] = ()
    #: The reference data in force when the ledger received the record (names read by it).
    reference: ReferenceSnapshot = field(default_factory=ReferenceSnapshot)
    #: Institution codes (this one, host hospitals) with the names they registered under.
    institution_names: dict[str, str] = field(default_factory=dict)
    #: The consultation's records, this one included (empty for filings).
    timeline: list[TimelineRecord] = field(default_factory=list)
    #: Records of the consultation past ``TIMELINE_LIMIT``, not on the timeline.
    timeline_left_out: int = 0


def mask_identity(record: dict[str, Any]) -> dict[str, Any]:
    """The record with the patient's name and ID number hidden."""
    masked = dict(record)
    if isinstance(masked.get("patient"), dict):
        masked["patient"] = {
            **masked["patient"],
            "name": _MASK,
            "id_number": _MASK,
        }
    if masked.get("type") == "practitioner":
        masked["id_number"] = _MASK
    return masked


_r = tables.records.c
_e = ledger_schema.entries.c


def _entries_and_findings(
    connection: Connection, indices: Sequence[int]
) -> tuple[dict[int, Any], list[Any]]:
    """The ledger entries at ``indices`` (by index) and the findings on those records."""
    stored = {
        e.idx: e
        for e in connection.execute(
            select(_e.idx, _e.type, _e.leaf, _e.payload).where(_e.idx.in_(indices))
        )
    }
    found = connection.execute(
        select(tables.findings)
        .where(tables.findings.c.record_index.in_(indices))
        .order_by(tables.findings.c.entry_index)
    ).all()
    return stored, list(found)


def load_record_view(services: Services, index: int) -> RecordView | None:
    """The record at ledger ``index`` (None if that entry is not a record).

    One read transaction for the rows, one for the checkpoint and the proofs, one for the
    reference versions: a timeline of a dozen records costs no more round trips than one.
    """
    with read_transaction(services.engine) as connection:
        row = connection.execute(select(tables.records).where(_r.entry_index == index)).first()
        if row is None:
            return None
        chain = _amendments(connection, row)
        visit, left_out = _consultation_rows(connection, row)
        indices = sorted({index, *(r.entry_index for r in visit)})
        stored, found = _entries_and_findings(connection, indices)
        names = dict(
            connection.execute(
                select(tables.platforms.c.institution_code, tables.platforms.c.name)
            ).all()
        )
    entry = stored.get(index)
    if entry is None or not entry.type.startswith(RECORD_ENTRY_PREFIX):
        return None
    findings: dict[int, list[FindingLink]] = {}
    for f in found:
        findings.setdefault(f.record_index, []).append(
            FindingLink(f.finding_id, f.rule_id, f.severity)
        )
    record, mismatch = _open(services, entry.leaf, entry.payload)
    prover = _Prover(services)
    leaf_hashes = {i: leaf_hash(bytes(e.leaf)) for i, e in stored.items()}
    proofs = prover.prove(leaf_hashes)
    verified, problem, path = proofs[index]
    references = services.reference.snapshots_at(indices)
    opened = {
        r.entry_index: (record, mismatch)
        if r.entry_index == index
        else _open(services, *_sealed(stored, r))
        for r in visit
    }
    timeline = [_timeline_record(r, opened, findings, proofs, references) for r in visit]
    return RecordView(
        index,
        entry.type,
        leaf_hashes[index].hex(),
        record,
        row.record_id,
        row.institution_code,
        row.patient_pseudonym,
        prover.size,
        verified,
        problem,
        [(r.entry_index, r.record_id) for r in chain],
        findings.get(index, []),
        mismatch,
        tuple(h.hex() for h in path) if verified else (),
        references[index],
        names,
        timeline,
        left_out,
    )


def proved_records(services: Services, rows: Sequence[Any]) -> list[TimelineRecord]:
    """Rows of the records projection (``entry_index``, ``record_id``, ``record_type``,
    ``occurred_at``) as a timeline shows them, in the order given: opened, with their
    findings, each proved against the latest signed checkpoint as the record page proves
    its own (one read for the entries and findings, the proofs in one batch)."""
    indices = sorted({int(r.entry_index) for r in rows})
    if not indices:
        return []
    with read_transaction(services.engine) as connection:
        stored, found = _entries_and_findings(connection, indices)
    findings: dict[int, list[FindingLink]] = {}
    for f in found:
        findings.setdefault(f.record_index, []).append(
            FindingLink(f.finding_id, f.rule_id, f.severity)
        )
    shown = [r for r in rows if r.entry_index in stored]
    proofs = _Prover(services).prove({i: leaf_hash(bytes(e.leaf)) for i, e in stored.items()})
    references = services.reference.snapshots_at(indices)
    opened = {r.entry_index: _open(services, *_sealed(stored, r)) for r in shown}
    return [_timeline_record(r, opened, findings, proofs, references) for r in shown]


def _timeline_record(
    row: Any,
    opened: dict[int, tuple[Any, bool]],
    findings: dict[int, list[FindingLink]],
    proofs: dict[int, tuple[bool, str | None, list[bytes]]],
    references: dict[int, ReferenceSnapshot],
) -> TimelineRecord:
    index = row.entry_index
    return TimelineRecord(
        index,
        row.record_id,
        row.record_type,
        tables.read_time(row.occurred_at),
        opened[index][0],
        tuple(findings.get(index, [])),
        proofs[index][0],
        references[index],
        content_mismatch=opened[index][1],
        proof_pending=proofs[index][1] in _PENDING,
    )


def _sealed(stored: dict[int, Any], row: Any) -> tuple[bytes, bytes | None]:
    entry = stored[row.entry_index]
    return bytes(entry.leaf), None if entry.payload is None else bytes(entry.payload)


def _amendments(connection: Any, row: Any) -> list[Any]:
    """What ``row`` corrects and what corrects it (two indexed reads: an OR of the two would
    read the whole institution)."""
    same_place = _r.institution_code == row.institution_code
    found = []
    if row.amends is not None:
        found += connection.execute(
            select(_r.entry_index, _r.record_id).where(same_place, _r.record_id == row.amends)
        ).all()
    found += connection.execute(
        select(_r.entry_index, _r.record_id).where(same_place, _r.amends == row.record_id)
    ).all()
    return sorted(found, key=_index)


#: How far a consultation's corrections are followed (each hop is one indexed read).
_CORRECTION_HOPS = 8


def _consultation_rows(connection: Any, row: Any) -> tuple[list[Any], int]:
    """The records of the consultation ``row`` is or belongs to, the consultation's
    corrections included (a correction has a record id of its own), and how many were left
    out past ``TIMELINE_LIMIT``. The page's own record is always among them."""
    visit_id = row.record_id if row.record_type == "consultation" else row.consultation_record_id
    if visit_id is None:
        return [], 0
    same_place = _r.institution_code == row.institution_code
    ids = {visit_id}
    for _hop in range(_CORRECTION_HOPS):
        linked = [
            *connection.execute(
                select(_r.record_id, _r.amends).where(same_place, _r.record_id.in_(ids))
            ),
            *connection.execute(
                select(_r.record_id, _r.amends).where(same_place, _r.amends.in_(ids))
            ),
        ]  # (what corrects a consultation is a consultation: its record type is not asked,
        # which would send SQLite's planner to the index of all records of that type)
        grown = ids | {r.record_id for r in linked} | {r.amends for r in linked if r.amends}
        if grown == ids:
            break
        ids = grown
    wanted = (_r.entry_index, _r.record_id, _r.record_type, _r.occurred_at)
    visits = connection.execute(select(*wanted).where(same_place, _r.record_id.in_(ids))).all()
    # No ORDER BY: sorting by entry_index tempts SQLite's planner, without statistics, to
    # walk the ledger's order instead of this consultation's index entries (which come in
    # entry order for one id anyway).
    belonging = sorted(
        connection.execute(
            select(*wanted)
            .where(same_place, _r.consultation_record_id.in_(ids))
            .limit(TIMELINE_LIMIT + 1)
        ).all(),
        key=_index,
    )
    left_out = 0
    if len(belonging) > TIMELINE_LIMIT:
        total = connection.execute(
            select(func.count()).where(same_place, _r.consultation_record_id.in_(ids))
        ).scalar_one()
        belonging, left_out = belonging[:TIMELINE_LIMIT], int(total) - TIMELINE_LIMIT
    rows = {r.entry_index: r for r in [*visits, *belonging]}
    if row.entry_index not in rows:
        rows[row.entry_index] = row
        left_out = max(0, left_out - 1)
    return sorted(rows.values(), key=_index), left_out


def _index(row: Any) -> int:
    return int(row.entry_index)


def _open(services: Services, leaf: bytes, payload: bytes | None) -> tuple[Any, bool]:
    """(the record, or None if destroyed or not committed; whether it was not committed)."""
    try:
        return orjson.loads(open_leaf_payload(services.keys, bytes(leaf), payload)), False
    except SealedPayloadError:
        return None, False
    except PayloadMismatchError:
        return None, True


#: Why a proof could not be checked yet: not a fault, the next checkpoint covers it.
NO_CHECKPOINT = "no signed checkpoint yet"
NOT_YET_COVERED = "not yet covered by a signed checkpoint"
_PENDING = frozenset({NO_CHECKPOINT, NOT_YET_COVERED})


class _Prover:
    """Inclusion proofs against the latest checkpoint, checked as an auditor would: the
    checkpoint's signature with the log's key (once), then each proof to its root."""

    def __init__(self, services: Services) -> None:
        self.services = services
        self.size: int | None = None
        self.checkpoint: Checkpoint | None = None
        self.problem: str | None = None
        signed = services.store.latest_checkpoint()
        if signed is None:
            self.problem = NO_CHECKPOINT
            return
        try:
            self.checkpoint, _ = open_checkpoint(signed.note, services.log_keys())
        except LedgerError as e:
            self.problem = str(e)
            return
        self.size = self.checkpoint.size

    def prove(self, leaves: dict[int, bytes]) -> dict[int, tuple[bool, str | None, list[bytes]]]:
        """index -> (verified, the problem if not, the audit path)."""
        checkpoint = self.checkpoint
        if checkpoint is None:
            return {i: (False, self.problem, []) for i in leaves}
        results: dict[int, tuple[bool, str | None, list[bytes]]] = {
            i: (False, NOT_YET_COVERED, []) for i in leaves if i >= checkpoint.size
        }
        covered = sorted(i for i in leaves if i < checkpoint.size)
        try:
            proofs = self.services.store.inclusion_proofs(covered, checkpoint.size)
        except LedgerError as e:
            return results | {i: (False, str(e), []) for i in covered}
        for i, proof in zip(covered, proofs, strict=True):
            try:
                verify_inclusion(i, checkpoint.size, leaves[i], proof.hashes, checkpoint.root)
            except LedgerError as e:
                results[i] = (False, str(e), [])
            else:
                results[i] = (True, None, list(proof.hashes))
        return results
