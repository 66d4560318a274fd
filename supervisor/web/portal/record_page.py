"""What the record page shows: the record as sealed in the ledger, its place in the tree
proved against the latest signed checkpoint, its amendments and its findings.

Who sees the patient's identity is the portal's decision: auditors see the
record with the identity masked.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson
from sqlalchemy import or_, select

from ledger.checkpoint import open_checkpoint
from ledger.database import read_transaction
from ledger.errors import LedgerError
from ledger.proof import verify_inclusion
from supervisor.custody.payload_keys import SealedPayloadError
from supervisor.database import tables
from supervisor.ground.records import RECORD_ENTRY_PREFIX, PayloadMismatchError, open_leaf_payload
from supervisor.runtime.services import Services

__all__ = ["IDENTITY_ROLES", "RecordView", "load_record_view", "mask_identity"]

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
    findings: list[dict[str, Any]]
    #: The stored payload is not what the leaf commits to: nothing of it is shown.
    content_mismatch: bool = False


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


def load_record_view(services: Services, index: int) -> RecordView | None:
    """The record at ledger ``index`` (None if that entry is not a record)."""
    store = services.store
    with read_transaction(services.engine) as connection:
        row = connection.execute(
            select(tables.records).where(tables.records.c.entry_index == index)
        ).first()
        if row is None:
            return None
        chain = connection.execute(
            select(tables.records.c.entry_index, tables.records.c.record_id)
            .where(
                tables.records.c.institution_code == row.institution_code,
                or_(
                    tables.records.c.record_id == row.amends,
                    tables.records.c.amends == row.record_id,
                ),
            )
            .order_by(tables.records.c.entry_index)
        ).all()
        found = connection.execute(
            select(tables.findings)
            .where(tables.findings.c.record_index == index)
            .order_by(tables.findings.c.entry_index)
        ).all()
    entry = store.entry(index)
    if not entry.type.startswith(RECORD_ENTRY_PREFIX):
        return None
    mismatch = False
    try:
        record = orjson.loads(open_leaf_payload(services.keys, entry.leaf, entry.payload))
    except SealedPayloadError:
        record = None
    except PayloadMismatchError:
        record, mismatch = None, True
    size, verified, problem = _prove(services, index, entry.leaf_hash)
    return RecordView(
        index,
        entry.type,
        entry.leaf_hash.hex(),
        record,
        row.record_id,
        row.institution_code,
        row.patient_pseudonym,
        size,
        verified,
        problem,
        [(r.entry_index, r.record_id) for r in chain],
        [
            {
                "rule": f.rule_id,
                "severity": f.severity,
                "entry_index": f.entry_index,
                "finding_id": f.finding_id,
            }
            for f in found
        ],
        mismatch,
    )


def _prove(services: Services, index: int, leaf_hash: bytes) -> tuple[int | None, bool, str | None]:
    """Check the inclusion proof against the latest checkpoint, as an auditor would: the
    checkpoint's signature with the log's key, then the proof to its root."""
    store = services.store
    signed = store.latest_checkpoint()
    if signed is None:
        return None, False, "no signed checkpoint yet"
    try:
        checkpoint, _ = open_checkpoint(signed.note, services.log_keys())
        if index >= checkpoint.size:
            return checkpoint.size, False, "not yet covered by a signed checkpoint"
        proof = store.inclusion_proof(index, checkpoint.size)
        verify_inclusion(index, checkpoint.size, leaf_hash, proof.hashes, checkpoint.root)
    except LedgerError as e:
        return None, False, str(e)
    return checkpoint.size, True, None
