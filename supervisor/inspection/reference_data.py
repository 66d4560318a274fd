"""Reference data and policy as ledger entries: imported whole, versioned, never edited.

Each import appends one ``reference.<dataset>`` entry whose payload is the
canonical dataset (registry, prices, drugs) or the policy file's bytes, and
whose statement names its version (SHA-256). The ``reference_versions``
table is its projection; the newest entry of a dataset is the version in
force. Importing what is already in force appends nothing.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from hashlib import sha256
from typing import Any

import orjson
from sqlalchemy import Connection, func, insert, select

from inspectors.policy import Policy, default_policy_bytes, parse_policy
from inspectors.reference import (
    DATASETS,
    DrugCatalogue,
    PractitionerRegistry,
    PriceCatalogue,
    ReferenceSnapshot,
    dataset_from_rows,
    dataset_version,
)
from ledger import schema as ledger_schema
from ledger.canonical import canonical_json
from ledger.database import read_transaction
from ledger.store import AppendResult, EntryDraft, LedgerStore
from supervisor.database import tables
from supervisor.ground.records import check_plain_payload

__all__ = [
    "POLICY",
    "REFERENCE_ENTRY_PREFIX",
    "ImportResult",
    "ReferenceData",
    "ReferenceVersion",
    "reference_row",
]

REFERENCE_ENTRY_PREFIX = "reference."
POLICY = "policy"
_KINDS = (*DATASETS, POLICY)


@dataclass(frozen=True)
class ImportResult:
    dataset: str
    version: str
    row_count: int
    entry_index: int | None  # None: this version was already in force

    @property
    def unchanged(self) -> bool:
        return self.entry_index is None


@dataclass(frozen=True)
class ReferenceVersion:
    entry_index: int
    dataset: str
    version: str
    row_count: int
    source: str
    imported_at: datetime


def reference_row(
    index: int, statement: Mapping[str, Any], received_at: datetime
) -> dict[str, Any]:
    """The ``reference_versions`` row of a reference entry (live and on replay)."""
    return {
        "entry_index": index,
        "dataset": statement["dataset"],
        "version": statement["version"],
        "row_count": statement["row_count"],
        "source": statement["source"],
        "imported_at": tables.stored_time(received_at),
    }


_LATEST = select(tables.reference_versions).where(
    tables.reference_versions.c.entry_index.in_(
        select(func.max(tables.reference_versions.c.entry_index)).group_by(
            tables.reference_versions.c.dataset
        )
    )
)


_DATASETS_KEPT = 12


def _version(row: Any) -> ReferenceVersion:
    return ReferenceVersion(
        row.entry_index,
        row.dataset,
        row.version,
        row.row_count,
        row.source,
        tables.read_time(row.imported_at),
    )


class ReferenceData:
    """Imports reference versions into the ledger and loads the snapshot in force."""

    def __init__(self, store: LedgerStore) -> None:
        self.store = store
        self._lock = threading.Lock()
        self._cached: tuple[tuple[int, ...], ReferenceSnapshot, Policy] | None = None
        #: Datasets by ledger index: versions never change, so a small cache serves history.
        self._datasets: OrderedDict[int, Any] = OrderedDict()

    # -- importing ---------------------------------------------------------

    def import_rows(
        self, dataset: str, rows: Sequence[Mapping[str, Any]], *, source: str, now: datetime
    ) -> ImportResult:
        """Append canonical ``rows`` (from ``inspectors.reference_files``) as the new version."""
        if dataset not in DATASETS:
            raise ValueError(f"unknown reference dataset {dataset!r}")
        version = dataset_version(dataset, rows)
        return self._append(
            dataset, version, len(rows), canonical_json(list(rows)), source=source, now=now
        )

    def import_policy(self, content: bytes, *, source: str, now: datetime) -> ImportResult:
        """Append a policy file (checked first: ``PolicyError`` leaves the policy in force)."""
        policy = parse_policy(content)
        return self._append(POLICY, policy.sha256, 1, content, source=source, now=now)

    def _append(
        self,
        dataset: str,
        version: str,
        row_count: int,
        payload: bytes,
        *,
        source: str,
        now: datetime,
    ) -> ImportResult:
        current = self.current_versions()
        if dataset in current and current[dataset].version == version:
            return ImportResult(dataset, version, row_count, None)
        statement = {
            "dataset": dataset,
            "version": version,
            "row_count": row_count,
            "source": source[:200],
            "payload_sha256": sha256(payload).hexdigest(),
        }

        def project(connection: Connection, result: AppendResult) -> None:
            connection.execute(
                insert(tables.reference_versions).values(
                    reference_row(result.first_index, statement, now)
                )
            )

        result = self.store.append(
            [EntryDraft(REFERENCE_ENTRY_PREFIX + dataset, statement, payload)],
            now=now,
            within=project,
        )
        return ImportResult(dataset, version, row_count, result.first_index)

    def ensure_policy(self, *, now: datetime) -> None:
        """Record the shipped default policy if no policy was ever imported, so every run's
        policy hash points at bytes in the ledger."""
        if POLICY not in self.current_versions():
            self.import_policy(default_policy_bytes(), source="default", now=now)

    # -- reading -----------------------------------------------------------

    def current_versions(self) -> dict[str, ReferenceVersion]:
        with read_transaction(self.store.engine) as connection:
            return self._current(connection)

    @staticmethod
    def _current(connection: Connection) -> dict[str, ReferenceVersion]:
        return {row.dataset: _version(row) for row in connection.execute(_LATEST)}

    def history(self, dataset: str | None = None) -> list[ReferenceVersion]:
        query = select(tables.reference_versions).order_by(tables.reference_versions.c.entry_index)
        if dataset is not None:
            query = query.where(tables.reference_versions.c.dataset == dataset)
        with read_transaction(self.store.engine) as connection:
            return [_version(row) for row in connection.execute(query)]

    def payload(self, entry_index: int) -> bytes:
        """A version's payload, checked against the SHA-256 its leaf states."""
        e = ledger_schema.entries.c
        with read_transaction(self.store.engine) as connection:
            leaf, payload = connection.execute(
                select(e.leaf, e.payload).where(e.idx == entry_index)
            ).one()
        check_plain_payload(bytes(leaf), None if payload is None else bytes(payload))
        return bytes(payload)

    def rows(self, entry_index: int) -> list[dict[str, Any]]:
        """The canonical rows of a dataset version."""
        rows: list[dict[str, Any]] = orjson.loads(self.payload(entry_index))
        return rows

    def _dataset(self, entry_index: int, dataset: str, version: str) -> Any:
        """One dataset version, typed (kept for the next call: a page of history reads the
        same few versions again and again)."""
        with self._lock:
            if (known := self._datasets.get(entry_index)) is not None:
                self._datasets.move_to_end(entry_index)
                return known
        typed = dataset_from_rows(dataset, self.rows(entry_index), version)
        with self._lock:
            self._datasets[entry_index] = typed
            while len(self._datasets) > _DATASETS_KEPT:
                self._datasets.popitem(last=False)
        return typed

    def _snapshot_from(self, versions: Sequence[ReferenceVersion]) -> ReferenceSnapshot:
        return ReferenceSnapshot(
            **{v.dataset: self._dataset(v.entry_index, v.dataset, v.version) for v in versions}
        )

    def snapshot_at(self, entry_index: int) -> ReferenceSnapshot:
        """The reference data in force when the ledger entry at ``entry_index`` was appended:
        for each dataset, the newest version imported before it (empty if none was)."""
        return self.snapshots_at([entry_index])[entry_index]

    def snapshots_at(self, entry_indices: Sequence[int]) -> dict[int, ReferenceSnapshot]:
        """``snapshot_at`` for several entries, with one read of the (small) version table."""
        r = tables.reference_versions.c
        if not entry_indices:
            return {}
        with read_transaction(self.store.engine) as connection:
            rows = connection.execute(
                select(tables.reference_versions)
                .where(r.dataset.in_(DATASETS), r.entry_index < max(entry_indices))
                .order_by(r.entry_index)
            ).all()
        versions = [_version(row) for row in rows]
        snapshots: dict[int, ReferenceSnapshot] = {}
        for index in entry_indices:
            in_force = {v.dataset: v for v in versions if v.entry_index < index}
            snapshots[index] = self._snapshot_from(list(in_force.values()))
        return snapshots

    def snapshot_of(self, versions: Mapping[str, str]) -> ReferenceSnapshot:
        """The reference data a finding names (dataset -> version hash), as it was imported;
        a version never imported here (or the empty one) stays empty."""
        r = tables.reference_versions.c
        wanted = [(d, v) for d, v in versions.items() if d in DATASETS]
        if not wanted:
            return ReferenceSnapshot()
        with read_transaction(self.store.engine) as connection:
            rows = connection.execute(
                select(tables.reference_versions)
                .where(r.dataset.in_([d for d, _ in wanted]), r.version.in_([v for _, v in wanted]))
                .order_by(r.entry_index)
            ).all()
        chosen = {
            row.dataset: _version(row) for row in rows if versions.get(row.dataset) == row.version
        }
        return self._snapshot_from(list(chosen.values()))

    def snapshot(self) -> tuple[ReferenceSnapshot, Policy]:
        """The reference data and policy in force (the shipped policy if none was imported).

        Loaded once per set of versions: a new import is picked up by the next call.
        """
        current = self.current_versions()
        key = tuple(current[k].entry_index if k in current else -1 for k in _KINDS)
        with self._lock:
            if self._cached is not None and self._cached[0] == key:
                return self._cached[1], self._cached[2]
        datasets: dict[str, Any] = {}
        for dataset in DATASETS:
            if dataset in current:
                version = current[dataset]
                datasets[dataset] = dataset_from_rows(
                    dataset, self.rows(version.entry_index), version.version
                )
        reference = ReferenceSnapshot(
            **{k: v for k, v in datasets.items()}  # registry / prices / drugs, where imported
        )
        assert isinstance(reference.registry, PractitionerRegistry)
        assert isinstance(reference.prices, PriceCatalogue)
        assert isinstance(reference.drugs, DrugCatalogue)
        policy_bytes = (
            self.payload(current[POLICY].entry_index)
            if POLICY in current
            else default_policy_bytes()
        )
        policy = parse_policy(policy_bytes)
        with self._lock:
            self._cached = (key, reference, policy)
        return reference, policy
