"""Which records are final, and what each is judged by.

A record is final once what it needs has arrived (its institution's filing, the
consultation of a prescription or charge, the prescription a dispensing fills,
the dispensing a delivery carries) or its grace deadline has passed, after
which what is missing is reported. Pure: the related records come in a
``RelatedRecords``, the time as ``now``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime

from inspectors.findings import Finding, Subject
from inspectors.policy import Policy
from inspectors.reference import ReferenceSnapshot
from inspectors.rulebook import inspect_subject
from inspectors.values import (
    Charge,
    Delivery,
    Dispensing,
    InstitutionFiling,
    LedgerRecord,
    PharmacyFiling,
    Prescription,
)
from supervisor.inspection.related_records import RelatedRecords

__all__ = ["Waiting", "decide", "subject_of"]


def subject_of(
    item: LedgerRecord, world: RelatedRecords, policy: Policy, now: datetime
) -> Subject | Waiting:
    """The subject of ``item`` if it is final now, else what it waits for."""
    record = item.record
    deadline = item.received_at + policy.grace
    if isinstance(record, Dispensing | Delivery | PharmacyFiling):
        return _pharmacy_subject(item, world, deadline, now)
    past_deadline = now >= deadline
    if isinstance(record, InstitutionFiling):
        institution: LedgerRecord | None = item
    else:
        institution = _filing_for(world.filings.get(record.institution_code, ()), item, deadline)
    consultation = None
    earlier: tuple[LedgerRecord, ...] = ()
    waiting = institution is None
    link = None
    if isinstance(record, Prescription | Charge):
        key = (record.institution_code, record.consultation_record_id)
        link = record.consultation_record_id
        consultation = _arrived(world.consultations.get(key), deadline)
        waiting = waiting or consultation is None
        if isinstance(record, Charge):
            earlier = tuple(
                sorted(
                    (c for i, c in world.charges.get(key, {}).items() if i < item.index),
                    key=lambda c: c.index,
                )
            )
    if waiting and not past_deadline:
        return Waiting(record.institution_code, link)
    filing = None if institution is None else institution.record
    assert filing is None or isinstance(filing, InstitutionFiling)
    return Subject(item, filing, consultation, earlier)


def decide(
    candidates: Sequence[LedgerRecord],
    world: RelatedRecords,
    reference: ReferenceSnapshot,
    policy: Policy,
    now: datetime,
    *,
    case_subject: Callable[[str, str], str],
) -> tuple[list[Finding], list[tuple[LedgerRecord, Waiting]]]:
    """The findings of the candidates that are final now, and the others with what they
    wait for."""
    findings: list[Finding] = []
    waiting: list[tuple[LedgerRecord, Waiting]] = []
    for item in candidates:
        subject = subject_of(item, world, policy, now)
        if isinstance(subject, Waiting):
            waiting.append((item, subject))
        else:
            findings += inspect_subject(subject, reference, policy, case_subject=case_subject)
    return findings, waiting


def _filing_for(
    filings: Sequence[LedgerRecord], item: LedgerRecord, deadline: datetime
) -> LedgerRecord | None:
    """The filing a record is judged by: the latest one before it in the ledger, else the
    first one received by its deadline."""
    before = [f for f in filings if f.index < item.index]
    if before:
        return before[-1]
    for filing in filings:
        if filing.received_at <= deadline:
            return filing
    return None


@dataclass(frozen=True)
class Waiting:
    """What a record not yet final waits for: a record ``waiting_for`` of institution
    ``institution_code`` (None: only a filing of that institution)."""

    institution_code: str
    waiting_for: str | None


def _arrived(related: LedgerRecord | None, deadline: datetime) -> LedgerRecord | None:
    """A related record as a subject sees it: one that arrived after the grace period
    stays missing."""
    return None if related is None or related.received_at > deadline else related


def _folded_fills(fills: dict[int, LedgerRecord], item: LedgerRecord) -> tuple[LedgerRecord, ...]:
    """The other dispensings of ``item``'s prescription earlier in the ledger, each
    correction standing for the dispensing it corrects (a correction is not a second
    fill). A correction keeps its original's place: it is compared with the fills before
    the original only, so a typo fixed by the first pharmacy does not make it the second."""
    record = item.record
    cut = item.index
    if isinstance(record, Dispensing) and record.amends is not None:
        for index, fill in fills.items():
            same = (fill.record.institution_code, fill.record.record_id)
            if same == (record.institution_code, record.amends):
                cut = min(cut, index)
    seen = {i: f for i, f in fills.items() if i < cut}
    seen[item.index] = item
    corrected = {
        (f.record.institution_code, f.record.amends)
        for f in seen.values()
        if isinstance(f.record, Dispensing) and f.record.amends is not None
    }
    return tuple(
        f
        for i, f in sorted(seen.items())
        if i != item.index and (f.record.institution_code, f.record.record_id) not in corrected
    )


def _pharmacy_subject(
    item: LedgerRecord, world: RelatedRecords, deadline: datetime, now: datetime
) -> Subject | Waiting:
    """A pharmacy filing, dispensing or delivery with what it is judged by: the pharmacy's
    filing, the prescription filled and its earlier fills, the dispensing delivered."""
    record = item.record
    code = record.institution_code
    if isinstance(record, PharmacyFiling):
        return Subject(item, pharmacy=record)
    filed = _filing_for(world.pharmacies.get(code, ()), item, deadline)
    pharmacy = None if filed is None else filed.record
    assert pharmacy is None or isinstance(pharmacy, PharmacyFiling)
    final = now >= deadline
    if isinstance(record, Delivery):
        dispensing = _arrived(world.dispensings.get((code, record.dispensing_record_id)), deadline)
        if dispensing is None and not final:
            return Waiting(code, record.dispensing_record_id)
        return Subject(item, pharmacy=pharmacy, dispensing=dispensing)
    assert isinstance(record, Dispensing)
    link = record.prescription
    prescription = None
    fills: tuple[LedgerRecord, ...] = ()
    if link is not None:
        key = (link.institution_code, link.record_id)
        # The latest version of the prescription received by the deadline is what it is
        # judged by; the fills of every version count together.
        versions = world.versions_of(key)
        arrived = [
            version
            for k in versions
            if (version := _arrived(world.prescriptions.get(k), deadline)) is not None
        ]
        prescription = max(arrived, key=lambda v: v.index) if arrived else None
        every_fill = {i: f for k in versions for i, f in world.fills.get(k, {}).items()}
        fills = _folded_fills(every_fill, item)
        if prescription is None and not final:
            return Waiting(link.institution_code, link.record_id)
    if pharmacy is None and not final:
        return Waiting(code, None)
    return Subject(item, pharmacy=pharmacy, prescription=prescription, earlier_fills=fills)
