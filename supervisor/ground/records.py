"""The record entries every capability reads: their entry type, their search row,
how a sealed record opens, and the commitment a leaf makes to it.

``record_row`` is the only way a ``records`` projection row is made, whether
live (in the append's transaction) or on replay, so a rebuild gives exactly
the rows live ingestion gave.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from hashlib import sha256
from typing import Any

import orjson

from supervisor.custody.payload_keys import (
    SALT_SIZE,
    PayloadKeys,
    PayloadShreddedError,
    SealedPayloadError,
)
from supervisor.database import tables

__all__ = [
    "RECORD_ENTRY_PREFIX",
    "PayloadMismatchError",
    "batch_digest",
    "check_plain_payload",
    "leaf_commitment",
    "open_committed",
    "open_leaf_payload",
    "record_commitment",
    "record_row",
    "record_side_rows",
    "utc_time",
]

RECORD_ENTRY_PREFIX = "record."


def utc_time(text: str) -> datetime:
    """An RFC 3339 time as UTC: SQLite keeps no offset, so every stored time is UTC."""
    return datetime.fromisoformat(text).astimezone(UTC)


def record_row(
    keys: PayloadKeys,
    index: int,
    record: Mapping[str, Any],
    statement: Mapping[str, Any],
    received_at: datetime,
) -> dict[str, Any]:
    """The ``records`` projection row of one record entry."""
    record_type = record["type"]
    practitioner = record.get("practitioner_license_no") or record.get("prescriber_license_no")
    if record_type == "practitioner":
        practitioner = record["license_no"]
    elif record_type == "dispensing" and record["pharmacist_review"] is not None:
        practitioner = record["pharmacist_review"]["pharmacist_license_no"]
    patient = record.get("patient")
    person_id = record.get("id_number") if record_type == "practitioner" else None
    return {
        "entry_index": index,
        "institution_code": record["institution_code"],
        "record_id": record["record_id"],
        "record_type": record_type,
        "occurred_at": utc_time(record["occurred_at"]),
        "received_at": tables.stored_time(received_at),
        "platform_id": statement["platform_id"],
        "batch_id": statement["batch_id"],
        "practitioner_license_no": practitioner,
        "patient_pseudonym": keys.pseudonym("patient", patient["id_number"]) if patient else None,
        "person_pseudonym": keys.pseudonym("practitioner", person_id) if person_id else None,
        "amends": record.get("amends"),
        "consultation_record_id": record.get("consultation_record_id")
        or record.get("dispensing_record_id"),
    }


def record_side_rows(
    index: int, record: Mapping[str, Any]
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The ``prescription_fills`` rows (a dispensing of a prescription) and the
    ``record_drugs`` rows (a prescription's or dispensing's drugs) of one record entry,
    live and on replay alike."""
    fills: list[dict[str, Any]] = []
    link = record.get("prescription") if record["type"] == "dispensing" else None
    if link is not None:
        fills.append(
            {
                "entry_index": index,
                "prescription_institution_code": link["institution_code"],
                "prescription_record_id": link["record_id"],
                "pharmacy_code": record["institution_code"],
                "record_id": record["record_id"],
            }
        )
    drugs: list[dict[str, Any]] = []
    if record["type"] in ("prescription", "dispensing"):
        codes = dict.fromkeys(item["drug_code"] for item in record["items"])
        drugs = [{"entry_index": index, "drug_code": code} for code in codes]
    return fills, drugs


class PayloadMismatchError(Exception):
    """A sealed payload is not the one its leaf commits to: it was swapped or edited.

    Only someone who can write the database directly (a superuser, whoever holds the
    SQLite file) can cause this; the ledger's proofs still hold, so ``ledger verify``
    alone does not see it (``ledger verify --payloads`` does).
    """

    def __init__(self, index: int | None) -> None:
        where = "an entry" if index is None else f"entry {index}"
        super().__init__(
            f"{where}: its sealed payload does not match the commitment in its leaf "
            "(the payload was swapped or altered in storage)"
        )
        self.index = index


def leaf_commitment(leaf: bytes) -> tuple[int, str | None]:
    """(index, commitment) that a stored leaf states; None if its entry commits to nothing."""
    parsed = orjson.loads(leaf)
    commitment = parsed["statement"].get("commitment")
    return int(parsed["index"]), commitment if isinstance(commitment, str) else None


def open_committed(
    keys: PayloadKeys, commitment: str | None, payload: bytes | None, index: int | None = None
) -> tuple[bytes, bytes]:
    """(salt, canonical document) sealed in ``payload``, after checking that it is what the
    leaf commits to (``SHA-256(salt || document)``).

    Raises ``PayloadShreddedError`` (a ``SealedPayloadError``) once the data key is
    shredded by retention, and ``PayloadMismatchError`` for anything else: a payload
    that is missing, not sealed, altered (its authentication fails) or not the committed
    one. Every place that shows or uses a sealed payload opens it here: what is shown is
    what is committed, and tampering never passes for retention.
    """
    try:
        plaintext = keys.open(payload or b"")
    except PayloadShreddedError:
        raise
    except SealedPayloadError as e:
        raise PayloadMismatchError(index) from e
    if commitment is None or sha256(plaintext).hexdigest() != commitment:
        raise PayloadMismatchError(index)
    return plaintext[:SALT_SIZE], plaintext[SALT_SIZE:]


def check_plain_payload(leaf: bytes, payload: bytes | None) -> None:
    """An unsealed payload (reference data) is the one its leaf's ``payload_sha256`` names;
    ``PayloadMismatchError`` otherwise."""
    parsed = orjson.loads(leaf)
    expected = parsed["statement"].get("payload_sha256")
    if payload is None or expected != sha256(payload).hexdigest():
        raise PayloadMismatchError(int(parsed["index"]))


def open_leaf_payload(keys: PayloadKeys, leaf: bytes, payload: bytes | None) -> bytes:
    """The canonical document of a stored entry (``open_committed`` with its own leaf)."""
    index, commitment = leaf_commitment(leaf)
    return open_committed(keys, commitment, payload, index)[1]


def batch_digest(signed_bytes: bytes) -> bytes:
    """What idempotent retries compare: SHA-256 of the batch's signed canonical bytes."""
    return sha256(signed_bytes).digest()


def record_commitment(salt: bytes, record_bytes: bytes) -> str:
    """The leaf's commitment to a record: hex SHA-256(salt || canonical record)."""
    return sha256(salt + record_bytes).hexdigest()
