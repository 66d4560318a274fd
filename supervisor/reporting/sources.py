"""Reading the ledger at one checkpoint into report facts, checking every byte on the way.

A report is computed from the entries ``0 .. size-1`` and nothing else: not
the projections, which are conveniences that an administrator could edit.
While reading, each leaf must continue the hash chain, each opened payload
must match its leaf's commitment and the leaves must hash to the
checkpoint's root. Generating a report and verifying one share this path,
so a record altered in the database after publication makes verification
fail instead of silently changing the numbers.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from hashlib import sha256
from typing import Any

import orjson
from sqlalchemy import Connection, select

from inspectors.grouping import CaseBook
from ledger import schema as ledger_schema
from ledger.hashing import root_of_leaf_hashes
from ledger.leaf import GENESIS_PREV, chain_prefix
from reports.facts import FactsBuilder, LedgerFacts
from supervisor.cases.events import CASE_EVENT_ENTRY
from supervisor.cases.responses import RESPONSE_ENTRY
from supervisor.custody.payload_keys import (
    SALT_SIZE,
    PayloadKeys,
    PayloadShreddedError,
    SealedPayloadError,
)
from supervisor.ground.records import RECORD_ENTRY_PREFIX
from supervisor.inspection.case_grouping import case_key_of
from supervisor.inspection.inspector import FINDING_ENTRY
from supervisor.inspection.reference_data import REFERENCE_ENTRY_PREFIX
from supervisor.inspection.triage import FINDING_ACTION_ENTRY

__all__ = ["LedgerBasisError", "LedgerReading", "read_ledger_facts"]

_CHUNK = 20_000
DRUG_CATALOGUE = "drugs"
_entries = ledger_schema.entries


class LedgerBasisError(Exception):
    """The ledger does not hold what the checkpoint commits to (altered, missing, reordered)."""

    def __init__(self, message: str, index: int | None = None) -> None:
        super().__init__(message)
        self.index = index


@dataclass
class LedgerReading:
    """The facts at ``size`` and what else a report states about its basis."""

    facts: LedgerFacts
    root: bytes
    reference_versions: dict[str, str] = field(default_factory=dict)
    sealed_opened: int = 0


def _check_commitment(index: int, statement: dict[str, Any], plaintext: bytes) -> bytes:
    """The document inside a payload, after checking it is the one the leaf commits to."""
    expected = statement.get("commitment")
    if expected is None or sha256(plaintext).hexdigest() != expected:
        raise LedgerBasisError(
            f"entry {index}: its payload does not match the commitment in its leaf "
            "(the payload was altered)",
            index,
        )
    return plaintext[SALT_SIZE:]


class _Reader:
    """Walks the entries once; ``leaf_hashes`` feeds the root while facts accumulate."""

    def __init__(self, connection: Connection, keys: PayloadKeys, size: int) -> None:
        self.connection = connection
        self.keys = keys
        self.size = size
        self.builder = FactsBuilder()
        self.reference_versions: dict[str, str] = {}
        self.sealed_opened = 0
        # Findings join cases as the portal's grouping placed them (one implementation).
        self.cases = CaseBook()

    def leaf_hashes(self) -> Iterator[bytes]:
        expected, prev = 0, GENESIS_PREV
        while expected < self.size:
            rows = self.connection.execute(
                select(_entries.c.idx, _entries.c.type, _entries.c.leaf, _entries.c.payload)
                .where(_entries.c.idx >= expected, _entries.c.idx < self.size)
                .order_by(_entries.c.idx)
                .limit(_CHUNK)
            ).all()
            if not rows:
                raise LedgerBasisError(f"entries {expected}..{self.size - 1} are missing", expected)
            for index, entry_type, leaf, payload in rows:
                if index != expected:
                    raise LedgerBasisError(f"entry {expected} is missing", expected)
                if not leaf.startswith(chain_prefix(index, prev)):
                    raise LedgerBasisError(
                        f"entry {index} does not continue the hash chain "
                        "(it or the entry before it was altered)",
                        index,
                    )
                prev = sha256(b"\x00" + leaf).digest()
                yield prev
                self._take(index, entry_type, leaf, payload)
                expected += 1

    def _take(self, index: int, entry_type: str, leaf: bytes, payload: bytes | None) -> None:
        if entry_type.startswith(RECORD_ENTRY_PREFIX):
            header = orjson.loads(leaf)
            try:
                plaintext = self.keys.open(payload or b"")
            except PayloadShreddedError:
                self.builder.add_unreadable()
                return
            except SealedPayloadError as e:  # altered, missing or not sealed: not retention
                raise LedgerBasisError(
                    f"entry {index}: its payload cannot be opened ({e})", index
                ) from e
            document = _check_commitment(index, header["statement"], plaintext)
            self.sealed_opened += 1
            self.builder.add_record(index, orjson.loads(document))
        elif entry_type == FINDING_ENTRY:
            header = orjson.loads(leaf)
            statement = header["statement"]
            found_at = datetime.fromisoformat(header["received_at"])
            key = case_key_of(statement, found_at)
            place = self.cases.place(key)
            self.builder.add_finding(
                statement, found_at, case_id=place.case_id, case_key=key, repeat=place.repeat
            )
        elif entry_type == FINDING_ACTION_ENTRY:
            header = orjson.loads(leaf)
            details = self._sealed(index, header["statement"], payload)
            if details is None:
                return  # shredded: the finding keeps the state of its last readable step
            self.builder.add_finding_action(details, datetime.fromisoformat(header["received_at"]))
        elif entry_type == CASE_EVENT_ENTRY:
            header = orjson.loads(leaf)
            statement = header["statement"]
            details = self._sealed(index, statement, payload)
            self.cases.moved(statement["case_id"], statement["state_after"])
            self.builder.add_case_event(
                statement, details, datetime.fromisoformat(header["received_at"])
            )
        elif entry_type == RESPONSE_ENTRY:
            header = orjson.loads(leaf)
            self.cases.moved(header["statement"]["case_id"], "responded")
            self.builder.add_notice_response(
                header["statement"], datetime.fromisoformat(header["received_at"])
            )
        elif entry_type.startswith(REFERENCE_ENTRY_PREFIX):
            statement = orjson.loads(leaf)["statement"]
            self.reference_versions[statement["dataset"]] = statement["version"]
            if statement["dataset"] == DRUG_CATALOGUE:
                # Pharmacy indicators ask which drugs need a prescription or travel cold.
                self.builder.add_drug_catalogue(index, self._plain(index, statement, payload))

    @staticmethod
    def _plain(index: int, statement: dict[str, Any], payload: bytes | None) -> Any:
        """A reference entry's rows, checked against the hash its leaf states."""
        if payload is None or sha256(payload).hexdigest() != statement.get("payload_sha256"):
            raise LedgerBasisError(
                f"entry {index}: its reference data does not match the hash in its leaf "
                "(the payload was altered)",
                index,
            )
        return orjson.loads(payload)

    def _sealed(
        self, index: int, statement: dict[str, Any], payload: bytes | None
    ) -> dict[str, Any] | None:
        """A sealed entry's details checked against its leaf; None once shredded."""
        try:
            plaintext = self.keys.open(payload or b"")
        except PayloadShreddedError:
            return None
        except SealedPayloadError as e:  # altered, missing or not sealed: not retention
            raise LedgerBasisError(
                f"entry {index}: its payload cannot be opened ({e})", index
            ) from e
        details: dict[str, Any] = orjson.loads(_check_commitment(index, statement, plaintext))
        self.sealed_opened += 1
        return details


def read_ledger_facts(
    connection: Connection, keys: PayloadKeys, size: int, root: bytes
) -> LedgerReading:
    """Facts from the first ``size`` entries, which must hash to ``root``.

    Raises ``LedgerBasisError`` naming the first entry that breaks the chain,
    a commitment, or (when no single entry is to blame) the root.
    """
    reader = _Reader(connection, keys, size)
    computed = root_of_leaf_hashes(reader.leaf_hashes())
    if computed != root:
        raise LedgerBasisError(
            f"the first {size} entries hash to {computed.hex()}, not to the checkpoint's "
            f"root {root.hex()} (the ledger was rewritten)"
        )
    return LedgerReading(
        reader.builder.finish(size),
        computed,
        dict(sorted(reader.reference_versions.items())),
        reader.sealed_opened,
    )
