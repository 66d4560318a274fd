"""The intelligent-supervision digest (智能监管日报): what is new, what is risky, what is late.

Pure, like the assessment: ``digest(facts, period)`` over the same facts
gives the same digest. Windows are counted in province days ending with the
period; "new" means a finding that entered the ledger during the period.

Editions: ``digest-v1`` is what digests published before cases were computed
with, and still recomputes them byte for byte; ``digest-v2`` (``digest_document``)
adds the cases escalated in the period and the notices overdue at its end;
``digest-v3`` adds the drugs section (``reports.digest_drugs``) and names pharmacies
among the riskiest institutions.
"""

from __future__ import annotations

import statistics
from collections import Counter, defaultdict
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from .digest_drugs import drugs_section
from .facts import PRESCRIPTION, FindingFact, LedgerFacts, NoticeFact
from .periods import Period, date_of_day, day_number, day_of_date

__all__ = [
    "DIGEST_EDITIONS",
    "SEVERITY_WEIGHT",
    "Digest",
    "digest",
    "digest_document",
    "escalated_cases",
    "overdue_notices",
    "robust_z",
]

#: Oldest first; the last is what new digests are computed with.
DIGEST_EDITIONS = ("digest-v1", "digest-v2", "digest-v3")

#: How much a finding weighs in the risk ranking; a warning is a suspicion, not a breach.
SEVERITY_WEIGHT: Mapping[str, int] = {"high": 5, "medium": 3, "low": 1, "warning": 1}
SEVERITIES = ("high", "medium", "low", "warning")
RISK_WINDOW_DAYS = 30
BASELINE_DAYS = 28
PRESCRIBING_WINDOW_DAYS = 7
TOP = 10
#: A day is a spike when it is this many robust deviations above the baseline...
SPIKE_Z = 3.5
#: ... and at least this many records (a quiet clinic doubling from 2 to 4 is not news).
SPIKE_MIN_RECORDS = 20
PRESCRIBING_Z = 3.5
PRESCRIBING_MIN = 5


def robust_z(value: float, sample: list[float]) -> float | None:
    """``0.6745 (value - median) / MAD``: how unusual ``value`` is, unmoved by outliers.

    None when the sample has no spread to measure against.
    """
    if len(sample) < 3:
        return None
    median = statistics.median(sample)
    mad = statistics.median(abs(x - median) for x in sample)
    if mad == 0:
        return None
    return 0.6745 * (value - median) / mad


@dataclass(frozen=True)
class Digest:
    period: Period
    new_findings: Mapping[str, Any]
    top_institutions: tuple[Mapping[str, Any], ...]
    top_practitioners: tuple[Mapping[str, Any], ...]
    overdue: tuple[Mapping[str, Any], ...]
    volume_spikes: tuple[Mapping[str, Any], ...]
    prescribing_anomalies: tuple[Mapping[str, Any], ...]
    changes: Mapping[str, Any]

    def document(self) -> dict[str, Any]:
        return {
            "period": self.period.key,
            "new_findings": dict(self.new_findings),
            "top_institutions": [dict(r) for r in self.top_institutions],
            "top_practitioners": [dict(r) for r in self.top_practitioners],
            "overdue_rectifications": [dict(r) for r in self.overdue],
            "volume_spikes": [dict(r) for r in self.volume_spikes],
            "prescribing_anomalies": [dict(r) for r in self.prescribing_anomalies],
            "changes": dict(self.changes),
        }


def _found_in(facts: LedgerFacts, first_day: int, end_day: int) -> list[FindingFact]:
    return [f for f in facts.findings.values() if first_day <= day_number(f.found_at) < end_day]


def _new_findings(findings: list[FindingFact]) -> dict[str, Any]:
    by_severity = Counter(f.severity for f in findings)
    return {
        "total": len(findings),
        "by_severity": {s: by_severity.get(s, 0) for s in SEVERITIES},
        "by_rule": dict(sorted(Counter(f.rule for f in findings).items())),
        "by_institution": dict(sorted(Counter(f.institution_code for f in findings).items())),
    }


def _risk_rows(
    weights: Counter[str], counts: Counter[str], high: Counter[str]
) -> list[dict[str, Any]]:
    ordered = sorted(weights, key=lambda key: (-weights[key], key))[:TOP]
    return [
        {"code": key, "risk_points": weights[key], "findings": counts[key], "high": high[key]}
        for key in ordered
    ]


def _top_risks(facts: LedgerFacts, period: Period) -> tuple[list[dict[str, Any]], ...]:
    start = period.end_day - RISK_WINDOW_DAYS
    weights: dict[str, Counter[str]] = {"institution": Counter(), "practitioner": Counter()}
    counts: dict[str, Counter[str]] = {"institution": Counter(), "practitioner": Counter()}
    high: dict[str, Counter[str]] = {"institution": Counter(), "practitioner": Counter()}
    for finding in _found_in(facts, start, period.end_day):
        if not finding.counts:
            continue
        weight = SEVERITY_WEIGHT.get(finding.severity, 1)
        keys = [("institution", finding.institution_code)]
        slot = facts.slot_of(finding.record_index)
        if slot is not None and facts.practitioner[slot] >= 0:
            keys.append(("practitioner", facts.practitioners[facts.practitioner[slot]]))
        for what, key in keys:
            weights[what][key] += weight
            counts[what][key] += 1
            high[what][key] += finding.severity == "high"
    institutions = _risk_rows(weights["institution"], counts["institution"], high["institution"])
    for row in institutions:
        row["name"] = facts.institution_name(row["code"])
    practitioners = _risk_rows(
        weights["practitioner"], counts["practitioner"], high["practitioner"]
    )
    for row in practitioners:
        row["name"] = facts.practitioner_names.get(row["code"], "")
    return institutions, practitioners


def _overdue(facts: LedgerFacts, period: Period) -> list[dict[str, Any]]:
    """Rectification orders not resolved whose deadline fell before the period's last day."""
    on_day = period.end_day - 1
    rows = []
    for finding in facts.findings.values():
        if finding.state != "rectification_ordered" or finding.deadline is None:
            continue
        deadline_day = day_of_date(finding.deadline)
        if deadline_day < on_day:
            rows.append(
                {
                    "finding_id": finding.finding_id,
                    "rule": finding.rule,
                    "institution_code": finding.institution_code,
                    "deadline": finding.deadline.isoformat(),
                    "days_overdue": on_day - deadline_day,
                }
            )
    return sorted(rows, key=lambda r: (-r["days_overdue"], r["finding_id"]))


def _daily_volume(facts: LedgerFacts, first_day: int, end_day: int) -> dict[int, Counter[int]]:
    """institution id -> day -> records (live versions only)."""
    volume: dict[int, Counter[int]] = defaultdict(Counter)
    for slot in range(len(facts.index)):
        day = facts.day[slot]
        if first_day <= day < end_day and slot not in facts.superseded:
            volume[facts.institution[slot]][day] += 1
    return volume


def _records_in(facts: LedgerFacts, period: Period) -> int:
    volume = _daily_volume(facts, period.first_day, period.end_day)
    return sum(sum(days.values()) for days in volume.values())


def _volume_spikes(facts: LedgerFacts, period: Period) -> list[dict[str, Any]]:
    first = period.first_day - BASELINE_DAYS
    volume = _daily_volume(facts, first, period.end_day)
    spikes = []
    for institution, days in volume.items():
        baseline = [float(days.get(d, 0)) for d in range(first, period.first_day)]
        for day in range(period.first_day, period.end_day):
            count = days.get(day, 0)
            z = robust_z(float(count), baseline)
            if count >= SPIKE_MIN_RECORDS and z is not None and z >= SPIKE_Z:
                spikes.append(
                    {
                        "institution_code": facts.institutions[institution],
                        "day": date_of_day(day).isoformat(),
                        "records": count,
                        "baseline_median": statistics.median(baseline),
                        "robust_z": round(z, 2),
                    }
                )
    return sorted(spikes, key=lambda r: (-r["robust_z"], r["institution_code"], r["day"]))


def _prescribing_anomalies(facts: LedgerFacts, period: Period) -> list[dict[str, Any]]:
    """Practitioners whose prescriptions in the last week stand out from their peers'."""
    first = period.end_day - PRESCRIBING_WINDOW_DAYS
    counts: Counter[int] = Counter()
    amounts: dict[int, float] = defaultdict(float)
    for slot in range(len(facts.index)):
        if facts.kind[slot] != PRESCRIPTION or slot in facts.superseded:
            continue
        if first <= facts.day[slot] < period.end_day and facts.practitioner[slot] >= 0:
            counts[facts.practitioner[slot]] += 1
            amounts[facts.practitioner[slot]] += facts.amount[slot]
    active = [p for p in counts if counts[p] >= PRESCRIBING_MIN]
    volume_sample = [float(counts[p]) for p in active]
    mean_amounts = {p: amounts[p] / counts[p] for p in active}
    amount_sample = list(mean_amounts.values())
    rows = []
    for practitioner in active:
        z_count = robust_z(float(counts[practitioner]), volume_sample)
        z_amount = robust_z(mean_amounts[practitioner], amount_sample)
        reasons = []
        if z_count is not None and z_count >= PRESCRIBING_Z:
            reasons.append("volume")
        if z_amount is not None and z_amount >= PRESCRIBING_Z:
            reasons.append("amount")
        if reasons:
            licence = facts.practitioners[practitioner]
            rows.append(
                {
                    "license_no": licence,
                    "name": facts.practitioner_names.get(licence, ""),
                    "prescriptions": counts[practitioner],
                    "mean_amount": round(mean_amounts[practitioner], 2),
                    "volume_z": None if z_count is None else round(z_count, 2),
                    "amount_z": None if z_amount is None else round(z_amount, 2),
                    "reasons": reasons,
                }
            )
    return sorted(
        rows, key=lambda r: (-(r["amount_z"] or 0) - (r["volume_z"] or 0), r["license_no"])
    )


def digest(facts: LedgerFacts, period: Period) -> Digest:
    """The digest for ``period`` (usually one day) and how it differs from the period before."""
    new = _found_in(facts, period.first_day, period.end_day)
    previous = period.previous()
    before = _found_in(facts, previous.first_day, previous.end_day)
    institutions, practitioners = _top_risks(facts, period)
    overdue = _overdue(facts, period)
    overdue_before = _overdue(facts, previous)
    volume_now = sum(
        sum(d.values()) for d in _daily_volume(facts, period.first_day, period.end_day).values()
    )
    volume_before = sum(
        sum(d.values()) for d in _daily_volume(facts, previous.first_day, previous.end_day).values()
    )
    changes = {
        "previous_period": previous.key,
        "new_findings": len(new) - len(before),
        "high_findings": sum(f.severity == "high" for f in new)
        - sum(f.severity == "high" for f in before),
        "overdue_rectifications": len(overdue) - len(overdue_before),
        "records": volume_now - volume_before,
        "records_now": volume_now,
        "records_before": volume_before,
    }
    return Digest(
        period=period,
        new_findings=_new_findings(new),
        top_institutions=tuple(institutions),
        top_practitioners=tuple(practitioners),
        overdue=tuple(overdue),
        volume_spikes=tuple(_volume_spikes(facts, period)),
        prescribing_anomalies=tuple(_prescribing_anomalies(facts, period)),
        changes=changes,
    )


def escalated_cases(facts: LedgerFacts, period: Period) -> list[dict[str, Any]]:
    """Cases escalated during the period (by a person or by the scheduler on a missed
    deadline), each once, at its latest escalation in the period."""
    rows: dict[str, dict[str, Any]] = {}
    for case in facts.cases.values():
        for at, action, _ in case.steps:
            if action != "escalate" or not period.first_day <= day_number(at) < period.end_day:
                continue
            notice = facts.notices.get(case.notice_id or "")
            rows[case.case_id] = {
                "case_id": case.case_id,
                "rule": case.rule,
                "institution_code": case.institution_code,
                "severity": case.severity,
                "day": date_of_day(day_number(at)).isoformat(),
                "deadline": None
                if notice is None or notice.deadline is None
                else notice.deadline.isoformat(),
                "state": case.state,
            }
    return sorted(rows.values(), key=lambda r: (r["day"], r["institution_code"], r["case_id"]))


def _accepted_by(notice: NoticeFact, end_day: int) -> bool:
    return any(
        r.review == "accepted" and r.reviewed_at is not None and day_number(r.reviewed_at) < end_day
        for r in notice.responses
    )


def overdue_notices(facts: LedgerFacts, period: Period) -> list[dict[str, Any]]:
    """Notices in force at the period's last day whose deadline had passed without an
    accepted answer, the case neither closed nor dismissed by then."""
    on_day = period.end_day - 1
    rows = []
    for notice in facts.notices.values():
        case = facts.cases.get(notice.case_id)
        if case is None or notice.deadline is None or case.notice_id != notice.notice_id:
            continue
        if day_number(notice.issued_at) > on_day:
            continue
        if case.ended_at is not None and day_number(case.ended_at) <= on_day:
            continue
        deadline_day = day_of_date(notice.deadline)
        if deadline_day >= on_day or _accepted_by(notice, period.end_day):
            continue
        rows.append(
            {
                "notice_id": notice.notice_id,
                "case_id": case.case_id,
                "rule": case.rule,
                "institution_code": case.institution_code,
                "deadline": notice.deadline.isoformat(),
                "days_overdue": on_day - deadline_day,
                "answers": sum(day_number(r.received_at) <= on_day for r in notice.responses),
            }
        )
    return sorted(rows, key=lambda r: (-r["days_overdue"], r["notice_id"]))


def digest_document(facts: LedgerFacts, period: Period, edition: str) -> dict[str, Any]:
    """The digest's data in ``edition`` (one of ``DIGEST_EDITIONS``)."""
    if edition not in DIGEST_EDITIONS:
        raise ValueError(f"unknown digest edition {edition!r}")
    document = digest(facts, period).document()
    if edition == "digest-v1":
        return document
    document["edition"] = edition
    document["escalated_cases"] = escalated_cases(facts, period)
    document["overdue_notices"] = overdue_notices(facts, period)
    if edition == "digest-v2":
        return document
    pharmacies = facts.pharmacy.pharmacy_codes()
    for row in document["top_institutions"]:
        if row["code"] in pharmacies and row["code"] not in facts.institution_filings:
            row["name"] = facts.pharmacy.name(row["code"])
    document["drugs"] = drugs_section(facts, period)
    return document
