"""Generating, publishing and verifying reports.

A report is computed at a signed checkpoint from the ledger alone
(``report_sources``), exported as canonical JSON, CSV and a Chinese and an
English PDF, and published as a ``report.publication`` entry that states the
checkpoint, the reference-data versions, the methodology hash and the hashes
of every file. Verifying a PDF finds that entry by the PDF's hash in the
ledger itself (not in a projection an administrator could edit), proves the
entry and the report's checkpoint against the log's signed head, and
recomputes the data at the checkpoint: the data hash must come out the same.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from hashlib import sha256
from pathlib import Path
from typing import Any

import orjson
from sqlalchemy import Connection, RowMapping, insert, select
from sqlalchemy.exc import IntegrityError

from ledger import schema as ledger_schema
from ledger.checkpoint import SignedCheckpoint, open_checkpoint
from ledger.database import read_transaction
from ledger.errors import LedgerError
from ledger.hashing import leaf_hash
from ledger.note import Verifier
from ledger.proof import verify_consistency, verify_inclusion
from ledger.store import AppendResult, LedgerStore
from reports.assessment import assess
from reports.digest import digest
from reports.exports import ReportBasis, ReportData, report_data
from reports.labels import LANGUAGES
from reports.methodology import Methodology, load_methodology, methodology_with_hash
from reports.pdf import render_pdf
from reports.periods import Period, parse_period

from . import tables
from .payload_keys import PayloadKeys
from .report_publication import REPORT_ENTRY, report_row
from .report_sources import LedgerBasisError, read_ledger_facts
from .sealed_entries import sealed_entry

__all__ = [
    "GENERATE_ROLES",
    "KINDS",
    "Generated",
    "PublishedReport",
    "ReportError",
    "ReportService",
    "Verification",
    "compute_report",
]

KINDS = ("assessment", "digest")
#: Who may generate and publish a report on demand (auditors verify, they do not publish).
GENERATE_ROLES = frozenset({"regulator", "supervisor"})
_PERIOD_KINDS = {"assessment": ("month", "quarter"), "digest": ("day", "month")}


class ReportError(Exception):
    """A report cannot be generated as asked (bad kind or period, unknown checkpoint)."""


@dataclass(frozen=True)
class Timings:
    """Seconds spent reading and checking the ledger, computing, and exporting and rendering."""

    query: float
    compute: float
    render: float


@dataclass(frozen=True)
class ComputedReport:
    data: ReportData
    pdfs: dict[str, bytes]
    methodology: Methodology | None
    timings: Timings


def parse_report_period(kind: str, text: str) -> Period:
    """The period of a report of ``kind``; raises ``ReportError`` saying what is accepted."""
    if kind not in KINDS:
        raise ReportError(f"unknown report kind {kind!r}; expected one of {', '.join(KINDS)}")
    try:
        period = parse_period(text)
    except ValueError as e:
        raise ReportError(str(e)) from e
    if period.kind not in _PERIOD_KINDS[kind]:
        allowed = " or ".join(_PERIOD_KINDS[kind])
        raise ReportError(f"a {kind} covers a {allowed}, not a {period.kind} ({text!r})")
    return period


def compute_report(
    connection: Connection,
    keys: PayloadKeys,
    kind: str,
    period: Period,
    *,
    checkpoint: SignedCheckpoint,
    methodology: Methodology | None,
    languages: tuple[str, ...] = LANGUAGES,
) -> ComputedReport:
    """A report's data and PDFs at ``checkpoint``. Raises ``LedgerBasisError``."""
    started = time.perf_counter()
    head = checkpoint.checkpoint
    reading = read_ledger_facts(connection, keys, head.size, head.root)
    read_done = time.perf_counter()
    body: dict[str, Any]
    if kind == "assessment":
        methodology = methodology or load_methodology()
        body = assess(reading.facts, methodology, period).document()
    else:
        methodology = None
        body = digest(reading.facts, period).document()
    basis = ReportBasis(
        log_origin=head.origin,
        tree_size=head.size,
        root_hash=head.root.hex(),
        checkpoint=checkpoint.note,
        reference_versions=reading.reference_versions,
        methodology_version=None if methodology is None else methodology.version,
        methodology_sha256=None if methodology is None else methodology.sha256,
        records_unreadable=reading.facts.unreadable,
    )
    data = report_data(kind, period.key, basis, body)
    computed = time.perf_counter()
    pdfs = {
        language: render_pdf(
            data.document, language, data_sha256=data.data_sha256, methodology=methodology
        )
        for language in languages
    }
    rendered = time.perf_counter()
    return ComputedReport(
        data,
        pdfs,
        methodology,
        Timings(read_done - started, computed - read_done, rendered - computed),
    )


@dataclass(frozen=True)
class PublishedReport:
    report_id: str
    entry_index: int
    kind: str
    period: str
    tree_size: int
    root_hash: str
    methodology_sha256: str | None
    data_sha256: str
    csv_sha256: str
    pdf_sha256: dict[str, str]
    requested_by: str
    published_at: datetime

    @classmethod
    def from_row(cls, row: RowMapping) -> PublishedReport:
        return cls(
            report_id=row["report_id"],
            entry_index=int(row["entry_index"]),
            kind=row["kind"],
            period=row["period"],
            tree_size=int(row["tree_size"]),
            root_hash=row["root_hash"],
            methodology_sha256=row["methodology_sha256"],
            data_sha256=row["data_sha256"],
            csv_sha256=row["csv_sha256"],
            pdf_sha256={"zh": row["pdf_zh_sha256"], "en": row["pdf_en_sha256"]},
            requested_by=row["requested_by"],
            published_at=tables.read_time(row["published_at"]),
        )


@dataclass(frozen=True)
class Generated:
    report: PublishedReport
    computed: ComputedReport
    newly_published: bool


@dataclass(frozen=True)
class Check:
    name: str
    ok: bool
    detail: str


@dataclass
class Verification:
    """What ``report verify`` established, check by check; ``ok`` only if all passed."""

    checks: list[Check] = field(default_factory=list)
    report_id: str | None = None

    @property
    def ok(self) -> bool:
        return bool(self.checks) and all(c.ok for c in self.checks)

    def add(self, name: str, ok: bool, detail: str) -> bool:
        self.checks.append(Check(name, ok, detail))
        return ok


def _write_atomically(path: Path, content: bytes) -> None:
    partial = path.with_name(path.name + ".partial")
    partial.write_bytes(content)
    os.replace(partial, path)


class ReportService:
    def __init__(
        self,
        store: LedgerStore,
        keys: PayloadKeys,
        verifier: Verifier,
        reports_dir: Path,
        clock: Callable[[], datetime],
    ) -> None:
        self.store = store
        self.keys = keys
        self.verifier = verifier
        self.reports_dir = reports_dir
        self.clock = clock

    # -- files ---------------------------------------------------------------

    def file_names(self, report_id: str) -> dict[str, str]:
        """File kind -> file name: ``json``, ``csv``, ``pdf-zh``, ``pdf-en``."""
        names = {"json": f"{report_id}.json", "csv": f"{report_id}.csv"}
        names.update({f"pdf-{lang}": f"{report_id}-{lang}.pdf" for lang in LANGUAGES})
        return names

    def file_path(self, report_id: str, file_kind: str) -> Path:
        return self.reports_dir / self.file_names(report_id)[file_kind]

    def write_files(self, computed: ComputedReport, folder: Path | None = None) -> list[Path]:
        folder = folder or self.reports_dir
        folder.mkdir(parents=True, exist_ok=True)
        names = self.file_names(computed.data.report_id)
        contents = {"json": computed.data.json_bytes, "csv": computed.data.csv_bytes}
        contents.update({f"pdf-{lang}": pdf for lang, pdf in computed.pdfs.items()})
        written = []
        for file_kind, content in contents.items():
            path = folder / names[file_kind]
            _write_atomically(path, content)
            written.append(path)
        return written

    # -- generating ----------------------------------------------------------

    def _checkpoint(self, at_size: int | None) -> SignedCheckpoint:
        if at_size is None:
            return self.store.sign_checkpoint(now=self.clock())
        found = self.store.checkpoint_at(at_size)
        if found is None:
            raise ReportError(f"no checkpoint was signed at tree size {at_size}")
        return found

    def compute(
        self,
        kind: str,
        period_text: str,
        *,
        at_size: int | None = None,
        methodology: Methodology | None = None,
    ) -> ComputedReport:
        period = parse_report_period(kind, period_text)
        checkpoint = self._checkpoint(at_size)
        with read_transaction(self.store.engine) as connection:
            return compute_report(
                connection,
                self.keys,
                kind,
                period,
                checkpoint=checkpoint,
                methodology=methodology,
            )

    def generate(
        self,
        kind: str,
        period_text: str,
        *,
        requested_by: str,
        roles: tuple[str, ...] = (),
        at_size: int | None = None,
    ) -> Generated:
        """Compute, write the files and publish; a report already published is not again."""
        computed = self.compute(kind, period_text, at_size=at_size)
        data = computed.data
        self.write_files(computed)
        existing = self.get(data.report_id)
        if existing is not None:
            return Generated(existing, computed, newly_published=False)
        basis = data.document["basis"]
        statement = {
            "report_id": data.report_id,
            "kind": kind,
            "period": data.period,
            "tree_size": basis["tree_size"],
            "root_hash": basis["root_hash"],
            "methodology_sha256": None
            if computed.methodology is None
            else computed.methodology.sha256,
            "reference_versions": basis["reference_versions"],
            "data_sha256": data.data_sha256,
            "csv_sha256": data.csv_sha256,
            "pdf_sha256": {lang: sha256(pdf).hexdigest() for lang, pdf in computed.pdfs.items()},
        }
        now = self.clock()
        draft = sealed_entry(
            self.keys,
            REPORT_ENTRY,
            "report",
            now,
            public=statement,
            details={"requested_by": requested_by, "roles": list(roles)},
        )

        def project(connection: Connection, result: AppendResult) -> None:
            connection.execute(
                insert(tables.reports).values(
                    report_row(result.first_index, statement, requested_by, now)
                )
            )

        try:
            self.store.append([draft], now=now, within=project)
        except IntegrityError:
            # Published meanwhile by another request or the scheduler: same id, same data.
            existing = self.get(data.report_id)
            if existing is None:
                raise
            return Generated(existing, computed, newly_published=False)
        published = self.get(data.report_id)
        assert published is not None
        return Generated(published, computed, newly_published=True)

    # -- reading -------------------------------------------------------------

    def get(self, report_id: str) -> PublishedReport | None:
        with read_transaction(self.store.engine) as connection:
            row = (
                connection.execute(
                    select(tables.reports).where(tables.reports.c.report_id == report_id)
                )
                .mappings()
                .first()
            )
        return None if row is None else PublishedReport.from_row(row)

    def list(
        self, *, kind: str | None = None, period: str | None = None, limit: int = 200
    ) -> list[PublishedReport]:
        query = select(tables.reports).order_by(tables.reports.c.entry_index.desc()).limit(limit)
        if kind:
            query = query.where(tables.reports.c.kind == kind)
        if period:
            query = query.where(tables.reports.c.period.startswith(period))
        with read_transaction(self.store.engine) as connection:
            rows = connection.execute(query).mappings().all()
        return [PublishedReport.from_row(r) for r in rows]

    # -- verifying -----------------------------------------------------------

    def _find_publication(self, file_hash: str) -> tuple[int, bytes, dict[str, Any]] | None:
        """The publication entry naming a file with ``file_hash``, found in the ledger itself."""
        e = ledger_schema.entries.c
        with read_transaction(self.store.engine) as connection:
            rows = connection.execute(
                select(e.idx, e.leaf).where(e.type == REPORT_ENTRY).order_by(e.idx)
            ).all()
        for index, leaf in rows:
            statement = orjson.loads(leaf)["statement"]
            named = {statement["data_sha256"], *statement["pdf_sha256"].values()}
            if file_hash in named:
                return int(index), bytes(leaf), statement
        return None

    def verify(self, content: bytes) -> Verification:
        """Check a report file (either PDF edition, or the JSON data) against the ledger."""
        result = Verification()
        file_hash = sha256(content).hexdigest()
        found = self._find_publication(file_hash)
        if not result.add(
            "published",
            found is not None,
            f"a report.publication entry names this file (SHA-256 {file_hash})"
            if found is not None
            else f"no report.publication entry in the ledger names a file with SHA-256 "
            f"{file_hash}: the file was altered, or was never published here",
        ):
            return result
        assert found is not None
        index, leaf, statement = found
        result.report_id = statement["report_id"]
        latest = self.store.latest_checkpoint()
        if latest is None or latest.checkpoint.size <= index:
            latest = self.store.sign_checkpoint(now=self.clock())
        try:
            head, _ = open_checkpoint(latest.note, self.verifier)
            proof = self.store.inclusion_proof(index, head.size)
            verify_inclusion(index, head.size, leaf_hash(leaf), proof.hashes, head.root)
        except LedgerError as e:
            result.add("included", False, f"entry {index} is not proven in the log: {e}")
            return result
        result.add(
            "included",
            True,
            f"entry {index} is included in the log's signed checkpoint at size {head.size}",
        )
        size = int(statement["tree_size"])
        root = bytes.fromhex(statement["root_hash"])
        report_checkpoint = self.store.checkpoint_at(size)
        try:
            if report_checkpoint is None:
                raise LedgerError(f"no checkpoint at size {size} is stored")
            at, _ = open_checkpoint(report_checkpoint.note, self.verifier)
            if at.root != root:
                raise LedgerError("the stored checkpoint's root differs from the report's")
            verify_consistency(
                size, head.size, self.store.consistency_proof(size, head.size), root, head.root
            )
        except LedgerError as e:
            result.add("checkpoint", False, f"the report's checkpoint does not hold: {e}")
            return result
        result.add(
            "checkpoint",
            True,
            f"the report's checkpoint (size {size}, root {root.hex()[:16]}…) is signed by the "
            f"log and consistent with its head (size {head.size})",
        )
        methodology = None
        if statement["kind"] == "assessment":
            methodology = methodology_with_hash(statement["methodology_sha256"])
        try:
            period = parse_report_period(statement["kind"], statement["period"])
            with read_transaction(self.store.engine) as connection:
                computed = compute_report(
                    connection,
                    self.keys,
                    statement["kind"],
                    period,
                    checkpoint=report_checkpoint,
                    methodology=methodology,
                    languages=(),
                )
        except LedgerBasisError as e:
            result.add("recomputed", False, f"the ledger at size {size} no longer holds: {e}")
            return result
        same = computed.data.data_sha256 == statement["data_sha256"]
        result.add(
            "recomputed",
            same,
            f"recomputed at size {size}: data SHA-256 {computed.data.data_sha256} "
            + (
                "matches the publication"
                if same
                else f"differs from the published {statement['data_sha256']}"
            ),
        )
        return result
