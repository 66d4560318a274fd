"""Computing a report at a signed checkpoint: read the ledger, compute, export, render.

One path for generating and for verifying: both read the entries up to the
checkpoint through ``report_sources`` (every byte checked), compute the
assessment or digest, and export the same canonical data.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection

from ledger.checkpoint import SignedCheckpoint
from reports.assessment import assess
from reports.assessment_v2 import assess_v2
from reports.assessment_v3 import assess_v3
from reports.digest import DIGEST_EDITIONS, digest_document
from reports.exports import ReportBasis, ReportData, report_data
from reports.labels import LANGUAGES
from reports.methodology import Methodology, load_methodology
from reports.pdf import render_pdf
from reports.periods import Period, parse_period
from supervisor.custody.payload_keys import PayloadKeys
from supervisor.reporting.sources import read_ledger_facts

__all__ = [
    "DIGEST_EDITIONS",
    "KINDS",
    "ComputedReport",
    "ReportError",
    "Timings",
    "compute_report",
    "parse_report_period",
]

KINDS = ("assessment", "digest")
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
    #: The digest edition computed (None for an assessment: its methodology says).
    digest_edition: str | None = None


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
    digest_edition: str | None = None,
    languages: tuple[str, ...] = LANGUAGES,
) -> ComputedReport:
    """A report's data and PDFs at ``checkpoint``. Raises ``LedgerBasisError``.

    Assessments follow ``methodology`` (default: the newest shipped); digests the
    ``digest_edition`` (default: the newest). A first version's report keeps its id
    and bytes; a later one's id names its version."""
    started = time.perf_counter()
    head = checkpoint.checkpoint
    reading = read_ledger_facts(connection, keys, head.size, head.root)
    read_done = time.perf_counter()
    body: dict[str, Any]
    edition: str | None = None
    if kind == "assessment":
        methodology = methodology or load_methodology()
        if methodology.case_penalty is None:  # assessment-v1: rates of records only
            body = assess(reading.facts, methodology, period).document()
        elif methodology.pharmacy is None:  # assessment-v2: hospitals only
            body = assess_v2(reading.facts, methodology, period).document()
            edition = methodology.version
        else:  # assessment-v3 on: hospitals as v2, and pharmacies
            body = assess_v3(reading.facts, methodology, period).document()
            edition = methodology.version
    else:
        methodology = None
        digest_edition = digest_edition or DIGEST_EDITIONS[-1]
        if digest_edition not in DIGEST_EDITIONS:
            raise ReportError(
                f"unknown digest edition {digest_edition!r}; known: {', '.join(DIGEST_EDITIONS)}"
            )
        body = digest_document(reading.facts, period, digest_edition)
        edition = None if digest_edition == DIGEST_EDITIONS[0] else digest_edition
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
    data = report_data(kind, period.key, basis, body, edition)
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
        digest_edition,
    )
