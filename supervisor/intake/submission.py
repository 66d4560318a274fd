"""Mandatory transmission: accept a platform's signed batch of records, or refuse it whole.

``SubmissionService.submit`` takes the parsed JSON body and either appends
every record (one ledger entry each, in one transaction, projections
included) and returns a final receipt, or raises ``RejectionError`` naming what
is wrong, with nothing stored. It knows nothing of HTTP: the API maps a
``RejectionError`` to problem+json.
"""

from __future__ import annotations

import base64
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import nacl.exceptions
import nacl.signing
import orjson
from sqlalchemy import Connection, insert, select
from sqlalchemy.exc import IntegrityError

from ledger import schema as ledger_schema
from ledger.canonical import NotCanonicalizableError, canonical_json, canonical_json_prechecked
from ledger.database import insert_dicts, read_transaction, snapshot_transaction
from ledger.store import AppendResult, EntryDraft, LedgerStore
from supervisor.custody.payload_keys import SALT_SIZE, PayloadKeys
from supervisor.database import tables
from supervisor.database.record_counts import add_record_counts, count_rows
from supervisor.ground.records import (
    RECORD_ENTRY_PREFIX,
    batch_digest,
    leaf_commitment,
    open_committed,
    record_commitment,
    record_row,
    record_side_rows,
)
from supervisor.intake.envelope import (
    BATCH_ID_RE,
    KEY_ID_RE,
    PLATFORM_ID_RE,
    Envelope,
    RejectionError,
    SubmissionLimits,
    field_problem,
    parse_envelope,
)
from supervisor.intake.platforms import (
    PlatformKey,
    PlatformRegistry,
    authorised_institutions,
)
from supervisor.intake.receipts import ReceiptRecord, receipt_document
from supervisor.intake.record_schema import RecordProblem, record_problems
from supervisor.intake.request_signing import RequestSignature
from supervisor.transparency.witnessing import witnessed_since

__all__ = [
    "Envelope",
    "RejectionError",
    "SubmissionLimits",
    "SubmissionService",
    "parse_envelope",
    "require_unrevoked",
]


@dataclass(frozen=True)
class Submitted:
    """The outcome: ``created`` is False for a retry answered with the original receipt."""

    created: bool
    receipt: dict[str, Any]


def require_unrevoked(connection: Connection, platform_id: str, key_id: str, what: str) -> None:
    """Under the head lock: the signing key was not revoked while the ``what`` was in flight."""
    revoked = connection.execute(
        select(tables.platform_keys.c.revoked_index).where(tables.platform_keys.c.key_id == key_id)
    ).scalar_one_or_none()
    if revoked is not None:
        raise RejectionError(
            403,
            "revoked-key",
            "The signing key is revoked",
            f"key {key_id} of {platform_id} was revoked while this {what} was in flight; "
            "nothing of it was stored; sign with a current key",
        )


class SubmissionService:
    """Turns signed batches into ledger entries and receipts (see the module docstring)."""

    def __init__(
        self,
        store: LedgerStore,
        keys: PayloadKeys,
        limits: SubmissionLimits,
        clock: Callable[[], datetime],
    ) -> None:
        self.store = store
        self.keys = keys
        self.limits = limits
        self.clock = clock
        self.platforms = PlatformRegistry(store)

    # -- checks, in the order they are made -----------------------------------

    def platform_key(self, platform_id: str, key_id: str) -> PlatformKey:
        """A current key of ``platform_id``; raises on an unknown or revoked key."""
        key = self.platforms.key(key_id)
        if key is None or key.platform_id != platform_id:
            raise RejectionError(
                403,
                "unknown-key",
                "Unknown platform or key",
                f"platform {platform_id!r} has no key {key_id!r}",
            )
        if key.revoked:
            raise RejectionError(
                403,
                "revoked-key",
                "The signing key is revoked",
                f"key {key.key_id} of {key.platform_id} was revoked; sign with a current key",
            )
        return key

    def authenticate_request(self, signed: RequestSignature, message: bytes) -> PlatformKey:
        """Check a signed read request (``request_signing``); raises ``RejectionError``."""
        if not (
            PLATFORM_ID_RE.fullmatch(signed.platform_id) and KEY_ID_RE.fullmatch(signed.key_id)
        ):
            raise RejectionError(
                401,
                "unauthenticated",
                "Sign the request",
                "platform_id or key_id in the Authorization header is malformed",
            )
        key = self.platform_key(signed.platform_id, signed.key_id)
        now = self.clock()
        if abs(now.timestamp() - signed.created) > self.limits.clock_skew.total_seconds():
            raise RejectionError(
                401,
                "clock-skew",
                "The request signature is too old or too new",
                f"created={signed.created} is more than "
                f"{self.limits.clock_skew.total_seconds():.0f} s from the server time "
                f"{now.isoformat()}",
                server_time=now.isoformat(),
            )
        try:
            nacl.signing.VerifyKey(key.public_key).verify(message, signed.signature)
        except (nacl.exceptions.BadSignatureError, ValueError) as e:
            raise RejectionError(
                401,
                "bad-signature",
                "The request signature does not verify",
                f"the Authorization signature is not by key {key.key_id} over this request",
            ) from e
        return key

    def _authenticate(self, envelope: Envelope) -> tuple[PlatformKey, bytes]:
        """The signing key and the signed bytes; raises on unknown/revoked key or bad signature."""
        key = self.platform_key(envelope.platform_id, envelope.key_id)
        try:
            signed = canonical_json(envelope.unsigned)
        except NotCanonicalizableError as e:
            problems = self._schema_problems(envelope.records)
            if problems:
                raise self._invalid_records(problems) from e
            raise RejectionError(
                422, "not-canonicalizable", "The batch cannot be canonicalised", str(e)
            ) from e
        try:
            nacl.signing.VerifyKey(key.public_key).verify(signed, envelope.signature)
        except nacl.exceptions.BadSignatureError as e:
            raise RejectionError(
                403,
                "bad-signature",
                "The batch signature does not verify",
                "signature is not an Ed25519 signature by key "
                f"{key.key_id} over the RFC 8785 canonical JSON of the envelope "
                "without its signature field",
            ) from e
        return key, signed

    def _check_clock(self, envelope: Envelope, now: datetime) -> None:
        self.check_created_at(envelope.created_at_text, now)

    def check_created_at(self, text: str, now: datetime) -> None:
        """A signed document's ``created_at`` is a real date within the allowed clock skew."""
        try:
            created_at = datetime.fromisoformat(text)
        except ValueError as e:  # matches the pattern but not the calendar (02-30)
            raise field_problem("created_at", "is not a valid date") from e
        skew = abs(created_at - now)
        if skew > self.limits.clock_skew:
            raise RejectionError(
                422,
                "clock-skew",
                "created_at is too far from the regulator's clock",
                f"created_at is {skew.total_seconds():.0f} s from the server time "
                f"{now.isoformat()}; at most {self.limits.clock_skew.total_seconds():.0f} s "
                "allowed. Check the platform's clock and sign it again",
                server_time=now.isoformat(),
            )

    @staticmethod
    def _schema_problems(records: Sequence[Any]) -> list[RecordProblem]:
        problems: list[RecordProblem] = []
        for position, record in enumerate(records):
            problems.extend(record_problems(record, position))
        return problems

    @staticmethod
    def _invalid_records(problems: Sequence[RecordProblem]) -> RejectionError:
        first = problems[0]
        return RejectionError(
            422,
            "invalid-records",
            "Records do not match the schema",
            f"{len(problems)} problem(s); first at {first.pointer}: {first.detail}",
            problems,
        )

    def _check_records(self, envelope: Envelope, key: PlatformKey, connection: Connection) -> None:
        problems = self._schema_problems(envelope.records)
        if problems:
            raise self._invalid_records(problems)
        allowed = authorised_institutions(connection, key.platform_id)
        #: (institution, record_id) -> first position; record ids are unique per institution.
        seen: dict[tuple[str, str], int] = {}
        wrong_institution: list[RecordProblem] = []
        duplicates: list[RecordProblem] = []
        for position, record in enumerate(envelope.records):
            code = record["institution_code"]
            if code not in allowed:
                wrong_institution.append(
                    RecordProblem(
                        f"/records/{position}/institution_code",
                        f"platform {key.platform_id} is not authorised for {code}",
                    )
                )
            first = seen.setdefault((code, record["record_id"]), position)
            if first != position:
                duplicates.append(
                    RecordProblem(
                        f"/records/{position}/record_id",
                        f"record_id {record['record_id']} appears twice in this batch "
                        f"(first at /records/{first})",
                    )
                )
        if wrong_institution:
            raise RejectionError(
                403,
                "wrong-institution",
                "Records of another institution",
                f"{wrong_institution[0].detail} ({len(wrong_institution)} record(s)); a "
                "platform submits for its own institution and those the regulator authorised "
                "(`careledger platform authorise`)",
                wrong_institution,
            )
        if duplicates:
            raise RejectionError(
                422, "duplicate-record", "Duplicate record_id", duplicates[0].detail, duplicates
            )
        stored = self._stored_by_institution(connection, list(seen))
        if stored:
            conflicts = [
                RecordProblem(
                    f"/records/{seen[key_of]}/record_id",
                    f"record_id {key_of[1]} was received already (ledger index {index}); "
                    "send a correction as a new record with `amends`",
                )
                for key_of, (index, _, _) in stored.items()
            ]
            # Where this platform's own earlier batches hold them: a client that lost a
            # receipt (crashed between the commit and writing it) fetches it from there.
            received_in = [
                {
                    "institution_code": key_of[0],
                    "record_id": key_of[1],
                    "index": index,
                    "batch_id": batch_id,
                }
                for key_of, (index, platform_id, batch_id) in stored.items()
                if platform_id == key.platform_id
            ]
            raise RejectionError(
                409,
                "duplicate-record",
                "Record received already",
                conflicts[0].detail,
                conflicts,
                received_in=received_in,
            )
        amended = [(r["institution_code"], r["amends"]) for r in envelope.records if "amends" in r]
        known = set(self._stored_by_institution(connection, amended))
        for position, record in enumerate(envelope.records):
            target = record.get("amends")
            code = record["institution_code"]
            if (
                target is not None
                and (code, target) not in known
                and seen.get((code, target), position) >= position
            ):
                raise RejectionError(
                    422,
                    "unknown-amended-record",
                    "A correction refers to an unknown record",
                    f"/records/{position}/amends: no earlier record {target} of institution {code}",
                    [RecordProblem(f"/records/{position}/amends", f"no record {target}")],
                )

    @classmethod
    def _stored_by_institution(
        cls, connection: Connection, keys: Sequence[tuple[str, str]]
    ) -> dict[tuple[str, str], tuple[int, str, str]]:
        """(institution, record_id) -> (ledger index, platform, batch) of those stored."""
        by_institution: dict[str, list[str]] = {}
        for code, record_id in keys:
            by_institution.setdefault(code, []).append(record_id)
        found: dict[tuple[str, str], tuple[int, str, str]] = {}
        for code, record_ids in sorted(by_institution.items()):
            for record_id, stored in cls._stored_record_ids(connection, code, record_ids).items():
                found[(code, record_id)] = stored
        return found

    @staticmethod
    def _stored_record_ids(
        connection: Connection, institution_code: str, record_ids: Sequence[str]
    ) -> dict[str, tuple[int, str, str]]:
        """record_id -> (ledger index, platform, batch) of those stored already."""
        found: dict[str, tuple[int, str, str]] = {}
        r = tables.records.c
        for start in range(0, len(record_ids), 500):
            chunk = record_ids[start : start + 500]
            rows = connection.execute(
                select(r.record_id, r.entry_index, r.platform_id, r.batch_id).where(
                    r.institution_code == institution_code, r.record_id.in_(chunk)
                )
            )
            found.update(
                {row.record_id: (row.entry_index, row.platform_id, row.batch_id) for row in rows}
            )
        return found

    def _previous_batch(self, connection: Connection, envelope: Envelope) -> Any | None:
        return connection.execute(
            select(tables.batches).where(
                tables.batches.c.platform_id == envelope.platform_id,
                tables.batches.c.batch_id == envelope.batch_id,
            )
        ).first()

    def _retry_answer(self, previous: Any, digest: bytes, envelope: Envelope) -> Submitted:
        if previous.content_digest != digest:
            raise RejectionError(
                409,
                "batch-conflict",
                "batch_id reused with different content",
                f"batch {envelope.batch_id} was received already with other content; "
                "a new batch needs a new batch_id",
            )
        return Submitted(False, self._receipt_of(previous))

    def _require_unrevoked(self, connection: Connection, envelope: Envelope) -> None:
        require_unrevoked(connection, envelope.platform_id, envelope.key_id, "batch")
        # An authorisation revoked while the batch was in flight refuses it too.
        allowed = authorised_institutions(connection, envelope.platform_id)
        for position, record in enumerate(envelope.records):
            if record["institution_code"] not in allowed:
                raise RejectionError(
                    403,
                    "wrong-institution",
                    "Records of another institution",
                    f"{envelope.platform_id}'s authorisation for {record['institution_code']} "
                    "was revoked while this batch was in flight; nothing of it was stored",
                    [RecordProblem(f"/records/{position}/institution_code", "not authorised")],
                )

    # -- the submission ----------------------------------------------------------------

    def submit(self, document: Any) -> Submitted:
        """Accept the whole batch or raise ``RejectionError``; never stores part of a batch."""
        envelope = parse_envelope(document)
        key, signed = self._authenticate(envelope)
        # After authentication: the limit is this regulator's configuration, not the schema's.
        if len(envelope.records) > self.limits.max_records:
            raise RejectionError(
                413,
                "batch-too-large",
                "The batch has too many records",
                f"{len(envelope.records)} records; at most {self.limits.max_records} per batch",
                max_records=self.limits.max_records,
            )
        now = self.clock()
        started = time.perf_counter()
        digest = batch_digest(signed)
        # One snapshot for both checks: read statement by statement, a retry of a batch
        # that commits in between finds no batch, then its records, and was told 409.
        with snapshot_transaction(self.store.engine) as connection:
            previous = self._previous_batch(connection, envelope)
            if previous is not None:
                return self._retry_answer(previous, digest, envelope)
            self._check_clock(envelope, now)
            self._check_records(envelope, key, connection)
        drafts, rows = self._drafts(envelope, now)
        try:
            result = self.store.append(
                drafts, now=now, within=self._projector(envelope, rows, digest, now, started)
            )
        except IntegrityError:
            # A concurrent request committed the same batch or record first: answer as it
            # would have been answered had it arrived second.
            with read_transaction(self.store.engine) as connection:
                previous = self._previous_batch(connection, envelope)
                if previous is not None:
                    return self._retry_answer(previous, digest, envelope)
                self._check_records(envelope, key, connection)
            raise
        return Submitted(
            True,
            self._receipt(
                envelope.platform_id,
                envelope.batch_id,
                result.first_index,
                len(drafts),
                result.size,
            ),
        )

    def _drafts(
        self, envelope: Envelope, now: datetime
    ) -> tuple[list[EntryDraft], list[tuple[Any, dict[str, Any]]]]:
        drafts: list[EntryDraft] = []
        projected: list[tuple[Any, dict[str, Any]]] = []
        common = {
            "batch_created_at": envelope.created_at_text,
            "batch_id": envelope.batch_id,
            "batch_signature": envelope.signature_text,
            "key_id": envelope.key_id,
            "platform_id": envelope.platform_id,
        }
        for record in envelope.records:
            salt = os.urandom(SALT_SIZE)
            record_bytes = canonical_json_prechecked(record)  # the envelope passed canonical_json
            statement = {
                **common,
                "commitment": record_commitment(salt, record_bytes),
                "institution_code": record["institution_code"],
                "record_id": record["record_id"],
            }
            sealed = self.keys.seal(record["type"], now, salt + record_bytes)
            drafts.append(EntryDraft(RECORD_ENTRY_PREFIX + record["type"], statement, sealed))
            projected.append((record, statement))
        return drafts, projected

    def _projector(
        self,
        envelope: Envelope,
        projected: Sequence[tuple[Any, dict[str, Any]]],
        digest: bytes,
        now: datetime,
        started: float,
    ) -> Callable[[Connection, AppendResult], None]:
        # Made before the head lock is taken: inside it only the indices are filled in.
        rows = [
            record_row(self.keys, offset, record, statement, now)
            for offset, (record, statement) in enumerate(projected)
        ]
        fills: list[dict[str, Any]] = []
        drugs: list[dict[str, Any]] = []
        for offset, (record, _) in enumerate(projected):
            more_fills, more_drugs = record_side_rows(offset, record)
            fills += more_fills
            drugs += more_drugs

        def project(connection: Connection, result: AppendResult) -> None:
            # Under the head lock, so after any revocation committed before it: a key
            # revoked while this batch was in flight does not commit it.
            self._require_unrevoked(connection, envelope)
            connection.execute(
                insert(tables.batches).values(
                    platform_id=envelope.platform_id,
                    batch_id=envelope.batch_id,
                    content_digest=digest,
                    first_index=result.first_index,
                    record_count=len(projected),
                    tree_size=result.size,
                    received_at=tables.stored_time(now),
                    processing_ms=round((time.perf_counter() - started) * 1000),
                )
            )
            for table, relative in (
                (tables.records, rows),
                (tables.prescription_fills, fills),
                (tables.record_drugs, drugs),
            ):
                insert_dicts(
                    connection,
                    table,
                    [r | {"entry_index": result.first_index + r["entry_index"]} for r in relative],
                )
            add_record_counts(connection, count_rows(rows))

        return project

    # -- receipts ------------------------------------------------------------------------

    def receipt(self, platform_id: str, batch_id: str) -> dict[str, Any] | None:
        """The receipt of an accepted batch, as first issued; None if there is no such batch."""
        if not BATCH_ID_RE.fullmatch(batch_id):
            return None
        with read_transaction(self.store.engine) as connection:
            row = connection.execute(
                select(tables.batches).where(
                    tables.batches.c.platform_id == platform_id,
                    tables.batches.c.batch_id == batch_id,
                )
            ).first()
        return None if row is None else self._receipt_of(row)

    def _receipt_of(self, batch: Any) -> dict[str, Any]:
        return self._receipt(
            batch.platform_id,
            batch.batch_id,
            batch.first_index,
            batch.record_count,
            batch.tree_size,
        )

    def _receipt(
        self, platform_id: str, batch_id: str, first_index: int, count: int, tree_size: int
    ) -> dict[str, Any]:
        indices = list(range(first_index, first_index + count))
        with read_transaction(self.store.engine) as connection:
            stored = connection.execute(
                select(ledger_schema.entries.c.leaf, ledger_schema.entries.c.payload)
                .where(
                    ledger_schema.entries.c.idx >= first_index,
                    ledger_schema.entries.c.idx < first_index + count,
                )
                .order_by(ledger_schema.entries.c.idx)
            ).all()
        proofs = self.store.inclusion_proofs(indices, tree_size)
        checkpoint = self.store.checkpoint_at(tree_size)
        if checkpoint is None:
            raise RuntimeError(f"no checkpoint of size {tree_size} for batch {batch_id}")
        records = []
        for index, row, proof in zip(indices, stored, proofs, strict=True):
            # A receipt proves the commitment: give the salt only of the committed content.
            stated_index, commitment = leaf_commitment(row.leaf)
            salt, _ = open_committed(self.keys, commitment, row.payload, stated_index)
            record_id = orjson.loads(row.leaf)["statement"]["record_id"]  # our own leaf
            records.append(ReceiptRecord(record_id, index, row.leaf, salt, proof.hashes))
        document = receipt_document(
            platform_id=platform_id,
            batch_id=batch_id,
            checkpoint_note=checkpoint.note,
            tree_size=tree_size,
            records=records,
        )
        return document | self._witnessing(tree_size)

    def _witnessing(self, tree_size: int) -> dict[str, Any]:
        """Which witnesses have cosigned the batch: a later cosigned checkpoint and the
        consistency proof from the receipt's own (none yet when the batch was just taken)."""
        witnessed = witnessed_since(self.store, tree_size)
        if witnessed is None:
            return {"witnesses": []}
        note, names = witnessed
        size = int(note.split("\n")[1])
        proof = self.store.consistency_proof(tree_size, size) if size > tree_size else []
        return {
            "witnesses": names,
            "witnessed": {
                "checkpoint": note,
                "consistency_proof": [base64.b64encode(h).decode() for h in proof],
            },
        }
