"""Receipts for submitted batches, and their offline verification.

A receipt is final: a signed checkpoint that already contains the whole
batch, and for each record its leaf, leaf hash, salt and inclusion proof.
``verify_receipt`` needs only the receipt, the log's verifier key and, to
check the commitments, the envelope the platform sent: no network, no
database. It is pure and never imports Flask.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ledger.canonical import canonical_json
from ledger.checkpoint import open_checkpoint
from ledger.errors import LedgerError
from ledger.hashing import leaf_hash
from ledger.leaf import decode_leaf
from ledger.log_keys import KeyChain
from ledger.note import Verifier
from ledger.proof import verify_consistency, verify_inclusion
from supervisor.ground.records import record_commitment

__all__ = [
    "RECEIPT_VERSION",
    "ReceiptError",
    "ReceiptRecord",
    "VerifiedReceipt",
    "receipt_document",
    "verify_receipt",
    "verify_recovered_receipt",
]

RECEIPT_VERSION = "careledger.receipt/v1"


class ReceiptError(Exception):
    """A receipt does not prove what it claims. ``record_id`` names the record, if one."""

    def __init__(self, message: str, record_id: str | None = None) -> None:
        super().__init__(message if record_id is None else f"record {record_id}: {message}")
        self.record_id = record_id


@dataclass(frozen=True)
class ReceiptRecord:
    record_id: str
    index: int
    leaf: bytes
    salt: bytes
    inclusion_proof: tuple[bytes, ...]


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def receipt_document(
    *,
    platform_id: str,
    batch_id: str,
    checkpoint_note: str,
    tree_size: int,
    records: Sequence[ReceiptRecord],
) -> dict[str, Any]:
    """The receipt as JSON-ready data (``leaf_hash`` included for convenience)."""
    return {
        "receipt_version": RECEIPT_VERSION,
        "platform_id": platform_id,
        "batch_id": batch_id,
        "tree_size": tree_size,
        "checkpoint": checkpoint_note,
        "records": [
            {
                "record_id": r.record_id,
                "index": r.index,
                "leaf": _b64(r.leaf),
                "leaf_hash": _b64(leaf_hash(r.leaf)),
                "salt": _b64(r.salt),
                "inclusion_proof": [_b64(h) for h in r.inclusion_proof],
            }
            for r in records
        ],
    }


@dataclass(frozen=True)
class VerifiedReceipt:
    tree_size: int
    root: bytes
    indices: tuple[int, ...]
    witnesses: tuple[str, ...] = ()


def _decode(text: Any, what: str, record_id: str | None = None) -> bytes:
    if not isinstance(text, str):
        raise ReceiptError(f"{what} is not a base64 string", record_id)
    try:
        return base64.b64decode(text, validate=True)
    except (ValueError, binascii.Error) as e:
        raise ReceiptError(f"{what} is not valid base64", record_id) from e


def verify_receipt(
    receipt: Mapping[str, Any],
    verifier: Verifier | KeyChain,
    envelope: Mapping[str, Any] | None = None,
    witnesses: Sequence[Verifier] = (),
) -> VerifiedReceipt:
    """Check a receipt offline. Raises ``ReceiptError`` saying what does not hold.

    ``verifier``: the log's key, or its chain of keys (after a rotation).
    Always: the checkpoint is signed by the log, and every record's leaf is
    in the tree it commits to. With ``envelope`` (the batch as sent, with its
    signature): the receipt covers exactly its records, in order, and every
    leaf commits to that record, that key and that signature. If the receipt
    carries a ``witnessed`` checkpoint, it must extend the receipt's; the
    names in ``VerifiedReceipt.witnesses`` are those of ``witnesses`` whose
    cosignatures on it verify.
    """
    if receipt.get("receipt_version") != RECEIPT_VERSION:
        raise ReceiptError(f"not a {RECEIPT_VERSION} receipt")
    try:
        checkpoint, _ = open_checkpoint(str(receipt.get("checkpoint", "")), verifier)
    except LedgerError as e:
        raise ReceiptError(f"checkpoint does not verify: {e}") from e
    if receipt.get("tree_size") != checkpoint.size:
        raise ReceiptError("tree_size differs from the checkpoint's size")
    entries = receipt.get("records")
    if not isinstance(entries, list) or not entries:
        raise ReceiptError("the receipt lists no records")
    sent: list[Any] | None = None
    if envelope is not None:
        sent = list(envelope["records"])
        if [r.get("record_id") for r in sent] != [e.get("record_id") for e in entries]:
            raise ReceiptError("the receipt does not list the batch's records in order")
    indices = []
    for position, entry in enumerate(entries):
        record_id = str(entry.get("record_id"))
        index = entry.get("index")
        if not isinstance(index, int):
            raise ReceiptError("index is not an integer", record_id)
        leaf = _decode(entry.get("leaf"), "leaf", record_id)
        hashed = leaf_hash(leaf)
        if _decode(entry.get("leaf_hash"), "leaf_hash", record_id) != hashed:
            raise ReceiptError("leaf_hash is not the hash of the leaf", record_id)
        proof = [_decode(h, "inclusion proof", record_id) for h in entry.get("inclusion_proof", [])]
        try:
            verify_inclusion(index, checkpoint.size, hashed, proof, checkpoint.root)
        except LedgerError as e:
            raise ReceiptError(f"inclusion proof does not verify: {e}", record_id) from e
        try:
            header = decode_leaf(leaf)
        except LedgerError as e:
            raise ReceiptError(str(e), record_id) from e
        if header.index != index:
            raise ReceiptError("the leaf names another index", record_id)
        if envelope is not None and sent is not None:
            _check_commitment(header.statement, entry, sent[position], envelope, record_id)
        indices.append(index)
    cosigned = _check_witnessed(receipt, verifier, witnesses, checkpoint.size, checkpoint.root)
    return VerifiedReceipt(checkpoint.size, checkpoint.root, tuple(indices), cosigned)


def verify_recovered_receipt(
    receipt: Mapping[str, Any],
    verifier: Verifier | KeyChain,
    platform_id: str,
    records: Mapping[str, Any],
) -> set[str]:
    """A receipt fetched again for records whose own batch was lost (the client crashed
    after the commit): ``verify_receipt`` without the envelope, then, for each record of
    ``records`` (by record_id) it lists, that its leaf names ``platform_id`` and commits to
    exactly that content. Returns the record ids it vouches for; raises ``ReceiptError``
    if one of them differs from what was stored.
    """
    verify_receipt(receipt, verifier)
    confirmed = set()
    for entry in receipt["records"]:
        record_id = str(entry.get("record_id"))
        if record_id not in records:
            continue
        statement = decode_leaf(_decode(entry.get("leaf"), "leaf", record_id)).statement
        if statement.get("platform_id") != platform_id:
            raise ReceiptError("the leaf names another platform", record_id)
        salt = _decode(entry.get("salt"), "salt", record_id)
        if statement.get("commitment") != record_commitment(
            salt, canonical_json(records[record_id])
        ):
            raise ReceiptError(
                "was received already with other content; send a correction with `amends`",
                record_id,
            )
        confirmed.add(record_id)
    return confirmed


def _check_witnessed(
    receipt: Mapping[str, Any],
    verifier: Verifier | KeyChain,
    witnesses: Sequence[Verifier],
    size: int,
    root: bytes,
) -> tuple[str, ...]:
    witnessed = receipt.get("witnessed")
    if witnessed is None:
        return ()
    try:
        later, opened = open_checkpoint(str(witnessed.get("checkpoint", "")), verifier, witnesses)
    except LedgerError as e:
        raise ReceiptError(f"the witnessed checkpoint does not verify: {e}") from e
    proof = [
        _decode(h, "witnessed consistency proof") for h in witnessed.get("consistency_proof", [])
    ]
    if later.size < size or (later.size == size and later.root != root):
        raise ReceiptError("the witnessed checkpoint does not extend the receipt's")
    if later.size > size:
        try:
            verify_consistency(size, later.size, proof, root, later.root)
        except LedgerError as e:
            raise ReceiptError(f"the witnessed checkpoint is not consistent: {e}") from e
    known = {w.name for w in witnesses}
    return tuple(s.name for s in opened.verified if s.name in known)


def _check_commitment(
    statement: Mapping[str, Any],
    entry: Mapping[str, Any],
    record: Any,
    envelope: Mapping[str, Any],
    record_id: str,
) -> None:
    expected = {
        "batch_id": envelope["batch_id"],
        "batch_signature": envelope["signature"],
        "key_id": envelope["key_id"],
        "platform_id": envelope["platform_id"],
        "record_id": record_id,
    }
    for name, value in expected.items():
        if statement.get(name) != value:
            raise ReceiptError(f"the leaf's {name} is not the one sent", record_id)
    salt = _decode(entry.get("salt"), "salt", record_id)
    if statement.get("commitment") != record_commitment(salt, canonical_json(record)):
        raise ReceiptError("the leaf does not commit to the record sent", record_id)
