"""Generating, publishing, listing and verifying reports.

A report is computed at a signed checkpoint from the ledger alone
(``report_computation``), written as canonical JSON, CSV and a Chinese and an
English PDF, and published as a ``report.publication`` entry that states the
checkpoint, the reference-data versions, the methodology hash and the hashes
of every file (``report_verification`` checks a file against it).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from hashlib import sha256
from pathlib import Path

from sqlalchemy import Connection, RowMapping, insert, select
from sqlalchemy.exc import IntegrityError

from ledger.checkpoint import SignedCheckpoint
from ledger.database import read_transaction
from ledger.log_keys import KeyChain
from ledger.store import AppendResult, LedgerStore
from reports.labels import LANGUAGES
from reports.methodology import Methodology
from supervisor.custody.file_modes import private_folder
from supervisor.custody.payload_keys import PayloadKeys
from supervisor.database import tables
from supervisor.ground.sealed_entries import sealed_entry
from supervisor.reporting.computation import (
    DIGEST_EDITIONS,
    KINDS,
    ComputedReport,
    ReportError,
    compute_report,
    parse_report_period,
)
from supervisor.reporting.publication import REPORT_ENTRY, report_row
from supervisor.reporting.verification import Verification, verify_report

__all__ = [
    "GENERATE_ROLES",
    "KINDS",
    "Generated",
    "PublishedReport",
    "ReportError",
    "ReportService",
]

#: Who may generate and publish a report on demand (auditors verify, they do not publish).
GENERATE_ROLES = frozenset({"regulator", "supervisor"})


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

    def file_hashes(self) -> dict[str, str]:
        """File kind (``json``, ``csv``, ``pdf-zh``, ``pdf-en``) -> the SHA-256 published."""
        hashes = {"json": self.data_sha256, "csv": self.csv_sha256}
        hashes.update({f"pdf-{lang}": digest for lang, digest in self.pdf_sha256.items()})
        return hashes

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
    #: Published files missing from the data folder that this version cannot render again
    #: byte for byte (file kind -> path): only a backup restores them.
    unrestorable: dict[str, Path] = field(default_factory=dict)


def _write_atomically(path: Path, content: bytes) -> None:
    partial = path.with_name(path.name + ".partial")
    partial.write_bytes(content)
    os.replace(partial, path)


class ReportService:
    def __init__(
        self,
        store: LedgerStore,
        keys: PayloadKeys,
        log_keys: Callable[[], KeyChain],
        reports_dir: Path,
        clock: Callable[[], datetime],
    ) -> None:
        self.store = store
        self.keys = keys
        #: The log's key chain, read when a report is verified (a rotation may come meanwhile).
        self.log_keys = log_keys
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

    def write_files(
        self,
        computed: ComputedReport,
        folder: Path | None = None,
        *,
        published: PublishedReport | None = None,
    ) -> list[Path]:
        """Write the report's files (to the data folder unless ``folder`` is given).

        With ``published``, only the files whose bytes are those the publication names:
        a file rendered since in another way (headers, a time marked differently) would
        not verify, so it never replaces the published one. The data file always matches
        when the ledger is intact; it is what ``report verify`` recomputes."""
        if folder is None:  # the data folder's copy is private; an --out folder is the user's
            folder = private_folder(self.reports_dir)
        folder.mkdir(parents=True, exist_ok=True)
        names = self.file_names(computed.data.report_id)
        contents = {"json": computed.data.json_bytes, "csv": computed.data.csv_bytes}
        contents.update({f"pdf-{lang}": pdf for lang, pdf in computed.pdfs.items()})
        if published is not None:
            named = published.file_hashes()
            contents = {
                kind: content
                for kind, content in contents.items()
                if sha256(content).hexdigest() == named.get(kind)
            }
        written = []
        for file_kind, content in contents.items():
            path = folder / names[file_kind]
            _write_atomically(path, content)
            written.append(path)
        return written

    def missing_files(self, report: PublishedReport) -> dict[str, Path]:
        """The published report's files that are not in the data folder."""
        paths = {kind: self.file_path(report.report_id, kind) for kind in report.file_hashes()}
        return {kind: path for kind, path in paths.items() if not path.is_file()}

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
        digest_edition: str | None = None,
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
                digest_edition=digest_edition,
            )

    def period_has_records(self, kind: str, period_text: str) -> bool:
        """Whether any record of the period (China days) is in the search projection: a
        convenience for asking before publishing an empty report, never its basis."""
        period = parse_report_period(kind, period_text)
        r = tables.records.c
        with read_transaction(self.store.engine) as connection:
            found = connection.execute(
                select(r.entry_index)
                .where(
                    r.occurred_at >= tables.stored_time(period.start_time),
                    r.occurred_at < tables.stored_time(period.end_time),
                )
                .limit(1)
            ).first()
        return found is not None

    def generate(
        self,
        kind: str,
        period_text: str,
        *,
        requested_by: str,
        roles: tuple[str, ...] = (),
        at_size: int | None = None,
        methodology: Methodology | None = None,
        digest_edition: str | None = None,
    ) -> Generated:
        """Compute, write the files and publish; a report already published is not again,
        and its published files are not replaced by ones rendered differently since.
        ``methodology`` and ``digest_edition`` default to the newest shipped."""
        computed = self.compute(
            kind,
            period_text,
            at_size=at_size,
            methodology=methodology,
            digest_edition=digest_edition,
        )
        data = computed.data
        existing = self.get(data.report_id)
        self.write_files(computed, published=existing)
        if existing is not None:
            return Generated(existing, computed, False, self.missing_files(existing))
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
        if computed.digest_edition not in (None, DIGEST_EDITIONS[0]):
            # What verification recomputes with; absent, a digest is the first edition.
            statement["digest_edition"] = computed.digest_edition
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

    def verify(
        self, content: bytes, progress: Callable[[str], None] = lambda step: None
    ) -> Verification:
        """Check a report file (either PDF edition, or the JSON data) against the ledger."""
        return verify_report(
            self.store, self.keys, self.log_keys(), content, now=self.clock(), progress=progress
        )
