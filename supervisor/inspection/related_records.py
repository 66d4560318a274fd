"""Reading record entries for inspection: the chunk, and the records they relate to.

Records come from the ``records`` projection joined with the ledger's
entries, their sealed payloads opened and parsed into typed values. Related
records (filings, consultations, charges of a consultation, prescriptions and
their fills) are found through the projections' indexes, one query for all the
keys of a kind, never by scanning.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from itertools import islice
from typing import Any, NamedTuple

import orjson
from sqlalchemy import Connection, select, text
from sqlalchemy.sql import Select

from inspectors.values import (
    Charge,
    Consultation,
    Delivery,
    Dispensing,
    InstitutionFiling,
    LedgerRecord,
    PharmacyFiling,
    Prescription,
    parse_record,
)
from ledger import schema as ledger_schema
from supervisor.custody.payload_keys import PayloadKeys, SealedPayloadError
from supervisor.database import tables
from supervisor.ground.records import PayloadMismatchError, open_leaf_payload

__all__ = [
    "RECORD_QUERY",
    "ChunkRow",
    "RecordReader",
    "RecordRow",
    "RelatedRecords",
    "keyed_rows",
    "linked",
    "read_chunk",
    "read_record_rows",
    "read_rows_at",
    "slices",
]

_log = logging.getLogger("careledger.inspector")

_NO_LIMIT = 2**62  # above any entry index
_records = tables.records
_entries = ledger_schema.entries
RECORD_QUERY = select(
    _records.c.entry_index, _records.c.received_at, _entries.c.leaf, _entries.c.payload
).join(_entries, _entries.c.idx == _records.c.entry_index)


@dataclass
class RelatedRecords:
    """The records a pass can compare with, by what they are looked up by."""

    filings: dict[str, list[LedgerRecord]] = field(default_factory=dict)
    consultations: dict[tuple[str, str], LedgerRecord] = field(default_factory=dict)
    charges: dict[tuple[str, str], dict[int, LedgerRecord]] = field(default_factory=dict)
    #: Pharmacies' filings by pharmacy code, oldest first.
    pharmacies: dict[str, list[LedgerRecord]] = field(default_factory=dict)
    #: Prescriptions by (hospital, record id): what dispensings fill.
    prescriptions: dict[tuple[str, str], LedgerRecord] = field(default_factory=dict)
    #: Dispensings by (pharmacy, record id): what deliveries carry.
    dispensings: dict[tuple[str, str], LedgerRecord] = field(default_factory=dict)
    #: Every dispensing of a prescription, by the prescription's key, by ledger index.
    fills: dict[tuple[str, str], dict[int, LedgerRecord]] = field(default_factory=dict)
    #: The keys of one prescription's versions (the original and its corrections), by the
    #: key a dispensing names: a pharmacy may fill either, and both count as one.
    versions: dict[tuple[str, str], frozenset[tuple[str, str]]] = field(default_factory=dict)

    def versions_of(self, key: tuple[str, str]) -> frozenset[tuple[str, str]]:
        return self.versions.get(key, frozenset({key}))

    def add(self, item: LedgerRecord) -> None:
        # By exact type, commonest first: called for every record of every chunk.
        record = item.record
        kind = type(record)
        if kind is Charge:
            assert isinstance(record, Charge)
            key = (record.institution_code, record.consultation_record_id)
            self.charges.setdefault(key, {})[item.index] = item
        elif kind is Consultation:
            self.consultations[(record.institution_code, record.record_id)] = item
        elif kind is Prescription:
            self.prescriptions[(record.institution_code, record.record_id)] = item
        elif kind is Dispensing:
            assert isinstance(record, Dispensing)
            self.dispensings[(record.institution_code, record.record_id)] = item
            if record.prescription is not None:
                link = (record.prescription.institution_code, record.prescription.record_id)
                self.fills.setdefault(link, {})[item.index] = item
        elif kind is InstitutionFiling or kind is PharmacyFiling:
            by_code = self.filings if kind is InstitutionFiling else self.pharmacies
            bucket = by_code.setdefault(record.institution_code, [])
            if all(other.index != item.index for other in bucket):
                bucket.append(item)
                bucket.sort(key=lambda f: f.index)


#: Records a follow remembers: a few chunks' worth, so that the next chunk's references to
#: the previous ones (and every chunk's filings) are not decrypted and parsed again.
REMEMBERED = 40_000


class RecordReader:
    """Opens sealed record payloads and finds related records."""

    def __init__(self, keys: PayloadKeys) -> None:
        self.keys = keys
        self._recent: dict[int, LedgerRecord] | None = None

    @contextmanager
    def remembering(self) -> Iterator[None]:
        """Keep what is opened for the span of one run (a follow: many chunks), so that a
        chunk's references to the previous ones, and every chunk's filings, are not
        decrypted again. A record entry never changes. A remembered record is served
        only when this chunk's own queries name its index, and those read the
        projections, from which retention removes a record (and its fills and drugs)
        in the transaction that records its keys' destruction: a shredded record is not
        served again. What the memo does not repeat is the payload's check against its
        leaf, done when it was first opened in this run."""
        self.forget(remember=True)
        try:
            yield
        finally:
            self.forget(remember=False)

    def forget(self, *, remember: bool) -> None:
        """Drop what is remembered; from now on remember (a new run) or not."""
        self._recent = {} if remember else None

    def _remember(self, items: Iterable[LedgerRecord]) -> None:
        recent = self._recent
        if recent is None:
            return
        for item in items:
            recent.pop(item.index, None)  # most recently used last
            recent[item.index] = item
        if len(recent) > REMEMBERED:
            for index in list(islice(recent, len(recent) - REMEMBERED)):
                del recent[index]

    def load_indices(self, connection: Connection, indices: Iterable[int]) -> list[LedgerRecord]:
        """The readable records of these entry indices, remembered ones without a read."""
        recent = self._recent or {}
        unique = set(indices)
        known = [recent[i] for i in unique if i in recent]
        loaded: list[LedgerRecord] = []
        for part in slices(sorted(i for i in unique if i not in recent)):
            query = RECORD_QUERY.where(_records.c.entry_index.in_(part))
            loaded += self.open(connection.execute(query))[0]
        self._remember(known)
        return sorted(known + loaded, key=lambda item: item.index)

    def open(self, rows: Iterable[Any]) -> tuple[list[LedgerRecord], int]:
        """Typed records of (entry_index, received_at, leaf, payload) rows.

        Shredded ones are counted as unreadable; so is a payload that is not what its
        leaf commits to, which is also logged as an error: it is never inspected, since
        findings about content the ledger does not vouch for would mislead.
        """
        opened, unreadable = [], 0
        keys = self.keys
        for row in rows:
            try:
                document = open_leaf_payload(keys, row.leaf, row.payload)
            except SealedPayloadError:
                unreadable += 1
                continue
            except PayloadMismatchError as e:
                _log.error(
                    "payload mismatch", extra={"entry_index": row.entry_index, "error": str(e)}
                )
                unreadable += 1
                continue
            record = parse_record(orjson.loads(document))
            opened.append(LedgerRecord(row.entry_index, tables.read_time(row.received_at), record))
        self._remember(opened)
        return opened, unreadable

    def load(self, connection: Connection, query: Select[Any]) -> list[LedgerRecord]:
        return self.open(connection.execute(query))[0]

    @staticmethod
    def _pharmacy_related(
        connection: Connection,
        world: RelatedRecords,
        prescription_keys: set[tuple[str, str]],
        dispensing_keys: set[tuple[str, str]],
        bound: int,
    ) -> list[int]:
        """Entry indices to load for dispensings and deliveries: the prescriptions filled,
        every other fill of those prescriptions (one index lookup each, any pharmacy and
        platform), and the dispensings delivered."""
        found: list[int] = []
        r = _records.c
        named = [
            row
            for row in keyed_rows(
                connection,
                r.record_id,
                prescription_keys,
                [r.entry_index, r.record_type, r.institution_code, r.record_id, r.amends],
                below=bound,
            )
            if row.record_type == "prescription"
        ]
        found += [row.entry_index for row in named]
        # A hospital's correction of a prescription is the same prescription: its versions
        # (one step either way, through the corrections' index) are filled together.
        originals = {(row.institution_code, row.amends) for row in named if row.amends}
        corrections = [
            row
            for row in keyed_rows(
                connection,
                r.amends,
                prescription_keys | originals,
                [r.entry_index, r.record_type, r.institution_code, r.record_id, r.amends],
                below=bound,
            )
            if row.record_type == "prescription"
        ]
        found += [row.entry_index for row in corrections]
        # Indexed by key: a chunk names thousands of prescriptions, so pairing each with
        # every row would be quadratic in the chunk.
        amends_of = {(row.institution_code, row.record_id): row.amends for row in named}
        corrected_by: dict[tuple[str, str], list[tuple[str, str]]] = {}
        for row in corrections:
            corrected_by.setdefault((row.institution_code, row.amends), []).append(
                (row.institution_code, row.record_id)
            )
        for key in prescription_keys:
            versions = {key}
            if amends := amends_of.get(key):
                versions.add((key[0], amends))
            for version in list(versions):
                versions.update(corrected_by.get(version, ()))
            world.versions[key] = frozenset(versions)
        every_version = {k for versions in world.versions.values() for k in versions}
        fills = tables.prescription_fills.c
        known = {i for by_index in world.fills.values() for i in by_index}
        rows = keyed_rows(
            connection,
            fills.prescription_record_id,
            every_version,
            [fills.entry_index],
            below=bound,
            institution_column=fills.prescription_institution_code,
        )
        found += [row.entry_index for row in rows if row.entry_index not in known]
        missing = [k for k in dispensing_keys if k not in world.dispensings]
        found += [
            index
            for index, record_type in linked(connection, _records.c.record_id, missing, below=bound)
            if record_type == "dispensing"
        ]
        return found

    def related(
        self,
        connection: Connection,
        candidates: Sequence[LedgerRecord],
        complete_from: int | None = None,
        bound: int | None = None,
    ) -> RelatedRecords:
        """Everything the candidates may be compared with: filings of their institutions,
        the consultations they refer to, the charges of those consultations.

        ``complete_from``: every record of the candidates' institutions from that index to
        the highest candidate is itself a candidate (a follower's chunk, or its share of
        one), so only earlier ones are looked up. ``bound``: only entries below it are
        looked up (the head a pass read), so that a pass sees the same ledger in whichever
        process and transaction it looks.
        """
        limit = _NO_LIMIT if bound is None else bound
        world = RelatedRecords()
        codes: set[str] = set()
        pharmacy_codes: set[str] = set()
        consultation_keys: set[tuple[str, str]] = set()
        charge_keys: set[tuple[str, str]] = set()
        prescription_keys: set[tuple[str, str]] = set()
        dispensing_keys: set[tuple[str, str]] = set()
        for item in candidates:
            record = item.record
            world.add(item)
            if isinstance(record, Dispensing | Delivery):
                pharmacy_codes.add(record.institution_code)
            else:
                codes.add(record.institution_code)
            if isinstance(record, Prescription | Charge):
                key = (record.institution_code, record.consultation_record_id)
                consultation_keys.add(key)
                if isinstance(record, Charge):
                    charge_keys.add(key)
            elif isinstance(record, Dispensing) and record.prescription is not None:
                link = record.prescription
                prescription_keys.add((link.institution_code, link.record_id))
            elif isinstance(record, Delivery):
                dispensing_keys.add((record.institution_code, record.dispensing_record_id))
        filing_indices: list[int] = []
        for record_type, wanted in (("institution", codes), ("pharmacy", pharmacy_codes)):
            if wanted:
                filing_indices += connection.execute(
                    select(_records.c.entry_index).where(
                        _records.c.record_type == record_type,
                        _records.c.institution_code.in_(wanted),
                        _records.c.entry_index < limit,
                    )
                ).scalars()
        for filing in self.load_indices(connection, filing_indices):
            world.add(filing)
        missing = [k for k in consultation_keys if k not in world.consultations]
        found = [
            index
            for index, record_type in linked(connection, _records.c.record_id, missing, below=limit)
            if record_type == "consultation"
        ]
        found += self._pharmacy_related(
            connection, world, prescription_keys, dispensing_keys, limit
        )
        if charge_keys:
            # A chunk's own charges are most of them: look up and decrypt only the others.
            below = complete_from
            if below is None:
                below = max(item.index for item in candidates)
            below = min(below, limit)
            known = {i for charges in world.charges.values() for i in charges}
            found += [
                index
                for index, record_type in linked(
                    connection, _records.c.consultation_record_id, charge_keys, below=below
                )
                if record_type == "charge" and index not in known
            ]
        for related in self.load_indices(connection, found):
            world.add(related)
        return world


class RecordRow(NamedTuple):
    """A record entry as read for inspection: index, arrival, leaf, sealed payload."""

    entry_index: int
    received_at: datetime
    leaf: bytes
    payload: bytes


#: The limit applies to the records alone, then the join: with stale statistics after a
#: bulk load, PostgreSQL otherwise joined and sorted every record up to the head (on disk)
#: to keep the first ten thousand.
_NEXT_RECORDS = (
    "SELECT r.entry_index, r.received_at, e.leaf, e.payload FROM ("
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
    return _record_rows(connection, _NEXT_RECORDS, (start, head, limit))


def read_rows_at(connection: Connection, indices: Sequence[int]) -> list[RecordRow]:
    """The record entries of these indices (a share of a chunk), in index order; the same
    raw read as ``read_record_rows``."""
    if not indices:
        return []
    if connection.dialect.name == "postgresql":
        return _record_rows(connection, _RECORDS_AT_POSTGRESQL, (list(indices),))
    return _record_rows(connection, _RECORDS_AT_SQLITE, (orjson.dumps(list(indices)).decode(),))


_RECORDS_AT_POSTGRESQL = (
    "SELECT r.entry_index, r.received_at, e.leaf, e.payload FROM records AS r "
    "JOIN ledger_entries AS e ON e.idx = r.entry_index "
    "WHERE r.entry_index = ANY(%s) ORDER BY r.entry_index"
)
_RECORDS_AT_SQLITE = (
    "SELECT r.entry_index, r.received_at, e.leaf, e.payload FROM json_each(?) AS k "
    "CROSS JOIN records AS r ON r.entry_index = k.value "
    "JOIN ledger_entries AS e ON e.idx = r.entry_index ORDER BY r.entry_index"
)


def _record_rows(connection: Connection, sql: str, parameters: tuple[Any, ...]) -> list[RecordRow]:
    raw: Any = connection.connection.dbapi_connection
    if connection.dialect.name == "postgresql":
        cursor = raw.cursor(binary=True)
        try:
            cursor.execute(sql.format("%s"), parameters)
            return [RecordRow(*row) for row in cursor.fetchall()]
        finally:
            cursor.close()
    cursor = raw.cursor()
    try:
        cursor.execute(sql.format("?"), parameters)
        # SQLite keeps times as UTC text without an offset.
        return [
            RecordRow(index, datetime.fromisoformat(received).replace(tzinfo=UTC), leaf, payload)
            for index, received, leaf, payload in cursor.fetchall()
        ]
    finally:
        cursor.close()


class ChunkRow(NamedTuple):
    """A record entry of a chunk as its projection row names it, before it is opened."""

    entry_index: int
    record_type: str
    institution_code: str
    record_id: str


_CHUNK = (
    "SELECT entry_index, record_type, institution_code, record_id FROM records "
    "WHERE entry_index >= {0} AND entry_index < {0} ORDER BY entry_index LIMIT {0}"
)


def read_chunk(connection: Connection, start: int, head: int, limit: int) -> list[ChunkRow]:
    """The next ``limit`` record entries from ``start`` (below ``head``) by their projection
    rows alone: what a follower needs to share a chunk out and to find what is now due,
    without reading a payload."""
    raw: Any = connection.connection.dbapi_connection
    mark = "%s" if connection.dialect.name == "postgresql" else "?"
    cursor = raw.cursor()
    try:
        cursor.execute(_CHUNK.format(mark), (start, head, limit))
        return [ChunkRow(*row) for row in cursor.fetchall()]
    finally:
        cursor.close()


def linked(
    connection: Connection,
    column: Any,
    keys: Iterable[tuple[str, str]],
    *,
    below: int | None = None,
) -> list[tuple[int, str]]:
    """(entry_index, record_type) of the records of an institution whose ``column`` is one
    of the keys' ids (and whose index is below ``below``), found through the composite
    index on (institution_code, column)."""
    rows = keyed_rows(
        connection, column, keys, [_records.c.entry_index, _records.c.record_type], below=below
    )
    return [(row.entry_index, row.record_type) for row in rows]


def keyed_rows(
    connection: Connection,
    column: Any,
    keys: Iterable[tuple[str, str]],
    selected: Sequence[Any],
    *,
    below: int | None = None,
    institution_column: Any = None,
) -> list[Any]:
    """The ``selected`` columns of the rows of ``column``'s table (which has
    ``institution_code`` and ``entry_index``) whose (institution_code, column) is one of
    ``keys``, and whose index is below ``below``.

    One query on either database, whatever the number of institutions: PostgreSQL joins
    two arrays unnested side by side, SQLite a JSON array of pairs read by ``json_each``;
    both then use the composite index. (SQLite uses no index for a row-value ``IN``, and a
    query per institution cost a statement per institution and chunk: at a hundred
    institutions, more time than the lookups themselves.) ``institution_column`` names
    the key's first column when it is not ``institution_code``.
    """
    pairs = sorted(set(keys))
    if not pairs:
        return []
    table = column.table
    first = table.c.institution_code if institution_column is None else institution_column
    limit = _NO_LIMIT if below is None else below
    wanted = ", ".join(f"t.{c.name}" for c in selected)
    if connection.dialect.name == "postgresql":
        keyed = (
            "unnest(CAST(:institutions AS text[]), CAST(:ids AS text[])) "
            "AS k(institution_code, linked)"
        )
        on = f"t.{first.name} = k.institution_code AND t.{column.name} = k.linked"
        return list(
            connection.execute(
                # Column and table names from our own Table objects; values are bound.
                text(
                    f"SELECT {wanted} FROM {table.name} AS t JOIN {keyed} "  # nosec B608
                    f"ON {on} WHERE t.entry_index < :below"
                ),
                {
                    "institutions": [i for i, _ in pairs],
                    "ids": [v for _, v in pairs],
                    "below": limit,
                },
            )
        )
    on = (
        f"t.{first.name} = json_extract(k.value, '$[0]') "
        f"AND t.{column.name} = json_extract(k.value, '$[1]')"
    )
    return list(
        connection.execute(
            text(
                # CROSS JOIN keeps the keys the outer loop: with statistics saying the
                # table is small, SQLite would otherwise scan it once per key.
                f"SELECT {wanted} FROM json_each(:pairs) AS k "  # nosec B608
                f"CROSS JOIN {table.name} AS t ON {on} WHERE t.entry_index < :below"
            ),
            {"pairs": orjson.dumps(pairs).decode(), "below": limit},
        )
    )


def slices(values: Sequence[Any], size: int = 2000) -> Iterable[Sequence[Any]]:
    """Bounded IN lists: SQLite and PostgreSQL both limit bound parameters."""
    for start in range(0, len(values), size):
        yield values[start : start + size]
