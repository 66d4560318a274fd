"""Pharmacy indicators and their assessment (assessment-v3 on): review rate, dispensing
compliance, double-fill and controlled-drug cases, cold-chain compliance, delivery
verification, notices met; vetoes; scores and a ranking among pharmacies.

Pure, like the hospitals' assessment: the same facts give the same assessment. The
methodology file's header and ``[pharmacy]`` table state every rule; this module only
carries them out. Pharmacy cases are told apart from hospital cases here
(``pharmacy_case``), so hospitals are assessed exactly as under version 2.
"""

from __future__ import annotations

import statistics
from bisect import bisect_right
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from .assessment import IndicatorValue, competition_ranks, score_indicator
from .assessment_v2 import CaseCharge, responsiveness
from .facts import CaseFact, FindingFact, LedgerFacts, rule_family
from .methodology import CasePenalty, IndicatorSpec, Methodology, PharmacyMethodology
from .periods import Period, date_of_day, day_number
from .pharmacy_facts import (
    APPROVED,
    COLD_CHAIN_SHIPPED,
    COLD_DRUG,
    DELIVERED,
    LINKED,
    RX_DRUG,
    VERIFIED,
    PharmacyFacts,
)

__all__ = [
    "PharmacyAssessment",
    "RatedPharmacy",
    "assess_pharmacies",
    "hospital_view",
    "pharmacy_case",
    "pharmacy_view",
]

RATED, VETOED, NO_DATA = "rated", "vetoed", "no_data"
_ORDER = {RATED: 0, NO_DATA: 1, VETOED: 2}
DOUBLE_FILL, CONTROLLED = "DISP-DOUBLE-FILL", "DISP-CONTROLLED-ONLINE"
NO_PHARMACIST, COLD_CHAIN = "DISP-NO-PHARMACIST", "DISP-COLD-CHAIN"


# -- which cases are a pharmacy's ---------------------------------------------------


def _hospital_codes(facts: LedgerFacts) -> set[str]:
    return set(facts.institutions) | set(facts.institution_filings)


def pharmacy_case(case: CaseFact, pharmacies: set[str], hospitals: set[str]) -> bool:
    """A DISP case, or any case on a pharmacy that is not also a hospital."""
    return rule_family(case.rule) == "DISP" or (
        case.institution_code in pharmacies and case.institution_code not in hospitals
    )


def _view(facts: LedgerFacts, keep: Callable[[CaseFact], bool]) -> LedgerFacts:
    """``facts`` with only the cases ``keep`` keeps, and only their notices."""
    cases = {case_id: case for case_id, case in facts.cases.items() if keep(case)}
    notices = {n_id: n for n_id, n in facts.notices.items() if n.case_id in cases}
    return replace(facts, cases=cases, notices=notices)


def hospital_view(facts: LedgerFacts) -> LedgerFacts:
    """The facts hospitals are assessed on: every case but the pharmacies'."""
    pharmacies, hospitals = facts.pharmacy.pharmacy_codes(), _hospital_codes(facts)
    return _view(facts, lambda case: not pharmacy_case(case, pharmacies, hospitals))


def pharmacy_view(facts: LedgerFacts) -> LedgerFacts:
    """The facts pharmacies are assessed on: only the pharmacies' cases."""
    pharmacies, hospitals = facts.pharmacy.pharmacy_codes(), _hospital_codes(facts)
    return _view(facts, lambda case: pharmacy_case(case, pharmacies, hospitals))


# -- counting ------------------------------------------------------------------------


@dataclass
class PharmacyTally:
    """Counts for one pharmacy in one period (distinct records each)."""

    dispensings: int = 0
    deliveries: int = 0
    review_due: int = 0
    reviewed: int = 0
    flagged: int = 0  # dispensings with a DISP finding
    cold_due: int = 0
    cold_breached: int = 0
    verify_due: int = 0
    verified: int = 0
    double_fill_records: int = 0
    controlled_records: int = 0
    double_fill_cases: int = 0
    controlled_cases: int = 0

    @property
    def records(self) -> int:
        return self.dispensings + self.deliveries


@dataclass
class _Flagged:
    """Slots with a counting finding, by what the indicators ask."""

    dispensing: set[int] = field(default_factory=set)
    no_pharmacist: set[int] = field(default_factory=set)
    double_fill: set[int] = field(default_factory=set)
    controlled_dispensing: set[int] = field(default_factory=set)
    controlled_delivery: set[int] = field(default_factory=set)
    cold_chain: set[int] = field(default_factory=set)


def _flagged(
    facts: LedgerFacts, counts: Callable[[FindingFact], bool], findings: Iterable[FindingFact]
) -> _Flagged:
    pharmacy = facts.pharmacy
    flagged = _Flagged()
    for finding in findings:
        if finding.family != "DISP" or not counts(finding):
            continue
        slot = pharmacy.dispensing_slot(finding.record_index)
        if slot is not None:
            if slot in pharmacy.dispensing_superseded:
                continue
            flagged.dispensing.add(slot)
            if finding.rule == NO_PHARMACIST:
                flagged.no_pharmacist.add(slot)
            elif finding.rule == DOUBLE_FILL:
                flagged.double_fill.add(slot)
            elif finding.rule == CONTROLLED:
                flagged.controlled_dispensing.add(slot)
            continue
        slot = pharmacy.delivery_slot(finding.record_index)
        if slot is None or slot in pharmacy.delivery_superseded:
            continue
        if finding.rule == COLD_CHAIN:
            flagged.cold_chain.add(slot)
        elif finding.rule == CONTROLLED:
            flagged.controlled_delivery.add(slot)
    return flagged


class _Positions:
    def __init__(self, periods: list[Period]) -> None:
        self._starts = [p.first_day for p in periods]
        self._end = periods[-1].end_day

    def __call__(self, day: int) -> int | None:
        if day < self._starts[0] or day >= self._end:
            return None
        return bisect_right(self._starts, day) - 1


def _count_dispensings(
    pharmacy: PharmacyFacts,
    flagged: _Flagged,
    position: _Positions,
    tallies: dict[tuple[str, int], PharmacyTally],
) -> None:
    for slot in range(len(pharmacy.dispensing_index)):
        at = position(pharmacy.dispensing_day[slot])
        if at is None or slot in pharmacy.dispensing_superseded:
            continue
        tally = tallies[(pharmacy.codes[pharmacy.dispensing_pharmacy[slot]], at)]
        tally.dispensings += 1
        flags = pharmacy.dispensing_flags[slot]
        if flags & (LINKED | RX_DRUG):
            tally.review_due += 1
            if (
                flags & APPROVED
                and slot not in flagged.no_pharmacist
                and pharmacy.reviewer_rostered(slot)
            ):
                tally.reviewed += 1
        tally.flagged += slot in flagged.dispensing
        tally.double_fill_records += slot in flagged.double_fill
        tally.controlled_records += slot in flagged.controlled_dispensing


def _count_deliveries(
    pharmacy: PharmacyFacts,
    flagged: _Flagged,
    position: _Positions,
    tallies: dict[tuple[str, int], PharmacyTally],
) -> None:
    for slot in range(len(pharmacy.delivery_index)):
        at = position(pharmacy.delivery_day[slot])
        if at is None or slot in pharmacy.delivery_superseded:
            continue
        tally = tallies[(pharmacy.codes[pharmacy.delivery_pharmacy[slot]], at)]
        tally.deliveries += 1
        flags = pharmacy.delivery_flags[slot]
        carried = pharmacy.delivery_dispensing[slot]
        carried_flags = pharmacy.dispensing_flags[carried] if carried >= 0 else 0
        breached = slot in flagged.cold_chain
        if breached or flags & COLD_CHAIN_SHIPPED or carried_flags & COLD_DRUG:
            tally.cold_due += 1
            tally.cold_breached += breached
        if flags & DELIVERED and carried_flags & (LINKED | RX_DRUG):
            tally.verify_due += 1
            tally.verified += bool(flags & VERIFIED)
        tally.controlled_records += slot in flagged.controlled_delivery


def _record_days(pharmacy: PharmacyFacts, indices: Iterable[int]) -> list[int]:
    days = []
    for index in indices:
        if (slot := pharmacy.dispensing_slot(index)) is not None:
            days.append(pharmacy.dispensing_day[slot])
        elif (slot := pharmacy.delivery_slot(index)) is not None:
            days.append(pharmacy.delivery_day[slot])
    return days


def pharmacy_case_days(facts: LedgerFacts, case: CaseFact, period: Period) -> int:
    """Days of ``period`` on which the case was open (0: not in the period): from the day
    its earliest record occurred (found, if none is readable) to the day it ended."""
    days = _record_days(facts.pharmacy, case.record_indices)
    first = min(days) if days else day_number(case.first_found)
    start = max(first, period.first_day)
    end = period.end_day if case.ended_at is None else day_number(case.ended_at) + 1
    return max(0, min(end, period.end_day) - start)


def _points(penalty: CasePenalty, case: CaseFact, days: int) -> float:
    cap = penalty.duration_cap_days
    points = penalty.severity_points.get(case.severity, 0.0) * (1 + min(days, cap) / cap)
    return round(points * (penalty.repeat_factor if case.repeat else 1.0), 2)


def _charges(
    facts: LedgerFacts, penalty: CasePenalty, rules: PharmacyMethodology, period: Period
) -> dict[str, list[CaseCharge]]:
    """pharmacy code -> its cases in the period: every one (the counts need them all),
    with what it costs and whether it vetoes."""
    vetoing, charged_rules = frozenset(rules.veto_rules), frozenset(rules.charged_rules)
    charges: dict[str, list[CaseCharge]] = defaultdict(list)
    for case in facts.cases.values():
        if case.state == "dismissed":
            continue
        days = pharmacy_case_days(facts, case, period)
        if days == 0:
            continue
        charged = case.grouping in penalty.groupings or case.repeat or case.rule in charged_rules
        charges[case.institution_code].append(
            CaseCharge(
                case.case_id,
                case.rule,
                case.severity,
                case.grouping,
                case.repeat,
                case.state,
                days,
                _points(penalty, case, days) if charged else 0.0,
                case.rule in vetoing,
            )
        )
    for listed in charges.values():
        listed.sort(key=lambda c: (not c.veto, -c.points, c.rule, c.case_id))
    return charges


# -- scoring -------------------------------------------------------------------------


def _rate(good: int, total: int) -> tuple[float | None, int, float | None]:
    if total == 0:
        return None, 0, None
    return float(good), total, round(good / total, 4)


def pharmacy_indicator_values(
    tally: PharmacyTally, answered: tuple[int, int]
) -> dict[str, tuple[float | None, int, float | None]]:
    """id -> (numerator, denominator, value) for one pharmacy-period."""
    met, due = answered
    return {
        "dispensing_volume": (
            float(tally.dispensings),
            tally.dispensings,
            float(tally.dispensings),
        ),
        "pharmacy_review_rate": _rate(tally.reviewed, tally.review_due),
        "dispensing_compliance": _rate(tally.dispensings - tally.flagged, tally.dispensings),
        "double_fill_cases": (
            float(tally.double_fill_records),
            tally.dispensings,
            float(tally.double_fill_cases),
        ),
        "controlled_drug_cases": (
            float(tally.controlled_records),
            tally.records,
            float(tally.controlled_cases),
        ),
        "cold_chain_compliance": _rate(tally.cold_due - tally.cold_breached, tally.cold_due),
        "delivery_verification": _rate(tally.verified, tally.verify_due),
        "responsiveness": _rate(met, due),
    }


def _indicators(
    specs: tuple[IndicatorSpec, ...], tally: PharmacyTally, answered: tuple[int, int]
) -> tuple[IndicatorValue, ...]:
    raw = pharmacy_indicator_values(tally, answered)
    return tuple(
        IndicatorValue(
            spec.id,
            raw[spec.id][0],
            raw[spec.id][1],
            raw[spec.id][2],
            score_indicator(spec, raw[spec.id][2]),
        )
        for spec in specs
    )


def _weighted(specs: tuple[IndicatorSpec, ...], values: tuple[IndicatorValue, ...]) -> float | None:
    weights = {spec.id: spec.weight for spec in specs if spec.weight > 0}
    pairs = [(weights[v.id], v.score) for v in values if v.id in weights and v.score is not None]
    total = sum(w for w, _ in pairs)
    if total == 0:
        return None
    return round(sum(w * s for w, s in pairs) / total, 2)


def _medians(
    rows: list[tuple[IndicatorValue, ...]], specs: tuple[IndicatorSpec, ...]
) -> dict[str, float | None]:
    medians: dict[str, float | None] = {}
    for position, spec in enumerate(specs):
        values = [v for row in rows if (v := row[position].value) is not None]
        medians[spec.id] = round(statistics.median(values), 4) if values else None
    return medians


@dataclass(frozen=True)
class _Scored:
    indicators: tuple[IndicatorValue, ...]
    quality: float | None
    penalty: float
    score: float | None
    rating: str
    cases: tuple[CaseCharge, ...]


def _cases_of(cases: Iterable[CaseCharge], rule: str) -> int:
    return sum(c.rule == rule for c in cases)


def _score(
    specs: tuple[IndicatorSpec, ...],
    tally: PharmacyTally,
    answered: tuple[int, int],
    cases: list[CaseCharge],
) -> _Scored:
    tally = replace(
        tally,
        double_fill_cases=_cases_of(cases, DOUBLE_FILL),
        controlled_cases=_cases_of(cases, CONTROLLED),
    )
    indicators = _indicators(specs, tally, answered)
    quality = _weighted(specs, indicators)
    penalty = round(sum(c.points for c in cases), 2)
    if any(c.veto for c in cases):
        return _Scored(indicators, quality, penalty, None, VETOED, tuple(cases))
    if quality is None:
        return _Scored(indicators, None, penalty, None, NO_DATA, tuple(cases))
    score = round(max(0.0, quality - penalty), 2)
    return _Scored(indicators, quality, penalty, score, RATED, tuple(cases))


# -- the assessment ------------------------------------------------------------------


@dataclass(frozen=True)
class RatedPharmacy:
    institution_code: str
    name: str
    kind: str
    parent_code: str | None
    volume: Mapping[str, int]
    indicators: tuple[IndicatorValue, ...]
    quality: float | None
    penalty: float
    score: float | None
    rating: str  # rated | vetoed | no_data
    ranked: bool
    rank: int | None
    cases: tuple[CaseCharge, ...]
    double_fills: tuple[Mapping[str, Any], ...]
    trend: tuple[float | None, ...]
    province_median: Mapping[str, float | None]
    peer_median: Mapping[str, float | None]

    @property
    def vetoes(self) -> tuple[CaseCharge, ...]:
        return tuple(c for c in self.cases if c.veto)

    def document(self) -> dict[str, Any]:
        return {
            "institution_code": self.institution_code,
            "name": self.name,
            "kind": self.kind,
            "parent_code": self.parent_code,
            "volume": dict(self.volume),
            "indicators": [i.document() for i in self.indicators],
            "quality_score": self.quality,
            "case_penalty": self.penalty,
            "score": self.score,
            "rating": self.rating,
            "ranked": self.ranked,
            "rank": self.rank,
            "veto": [{"rule": c.rule, "case_id": c.case_id} for c in self.vetoes],
            "cases": [c.document() for c in self.cases],
            "double_fills": [dict(d) for d in self.double_fills],
            "trend": list(self.trend),
            "province_median": dict(self.province_median),
            "peer_median": dict(self.peer_median),
        }


@dataclass(frozen=True)
class PharmacyAssessment:
    pharmacies: tuple[RatedPharmacy, ...]
    province: Mapping[str, Any]

    def document(self) -> dict[str, Any]:
        return {
            "province": dict(self.province),
            "pharmacies": [p.document() for p in self.pharmacies],
        }


def double_fill_row(facts: LedgerFacts, finding: FindingFact) -> dict[str, Any]:
    """A double fill as a reader follows it: the later fill's pharmacy and record, every
    pharmacy involved, how many dispensings, and the prescription's hospital."""
    pharmacy = facts.pharmacy
    prescription = None
    for index in finding.related_indices:
        slot = facts.slot_of(index)
        if slot is not None:
            prescription = {
                "index": index,
                "institution_code": facts.institutions[facts.institution[slot]],
            }
    involved = (finding.record_index, *finding.related_indices)
    codes = pharmacy.pharmacies_of(involved)
    return {
        "finding_id": finding.finding_id,
        "case_id": finding.case_id,
        "institution_code": finding.institution_code,
        "name": pharmacy.name(finding.institution_code),
        "record_id": finding.record_id,
        "found_on": date_of_day(day_number(finding.found_at)).isoformat(),
        "pharmacies": codes,
        "pharmacy_names": [pharmacy.name(code) for code in codes],
        "dispensings": pharmacy.dispensings_among(sorted(set(involved))),
        "prescription": prescription,
        "state": finding.state,
    }


def _double_fills(
    facts: LedgerFacts, counts: Callable[[FindingFact], bool], period: Period
) -> dict[str, list[dict[str, Any]]]:
    """pharmacy code -> its counting double fills on dispensings that occurred in the period."""
    pharmacy = facts.pharmacy
    rows: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for finding in facts.findings.values():
        if finding.rule != DOUBLE_FILL or not counts(finding):
            continue
        slot = pharmacy.dispensing_slot(finding.record_index)
        if slot is None or slot in pharmacy.dispensing_superseded:
            continue
        if period.contains(pharmacy.dispensing_day[slot]):
            rows[finding.institution_code].append(double_fill_row(facts, finding))
    for listed in rows.values():
        listed.sort(key=lambda r: (r["record_id"], r["finding_id"]))
    return rows


def _spread(scores: list[float]) -> dict[str, float | int | None]:
    if not scores:
        return {"rated": 0, "max": None, "min": None, "range": None, "stdev": None}
    return {
        "rated": len(scores),
        "max": max(scores),
        "min": min(scores),
        "range": round(max(scores) - min(scores), 2),
        "stdev": round(statistics.pstdev(scores), 2),
    }


def _counts(facts: LedgerFacts) -> Callable[[FindingFact], bool]:
    """A finding counts unless it, or its case, was dismissed."""

    def counts(finding: FindingFact) -> bool:
        case = facts.cases.get(finding.case_id or "")
        return finding.counts and (case is None or case.state != "dismissed")

    return counts


def assess_pharmacies(
    facts: LedgerFacts, methodology: Methodology, period: Period
) -> PharmacyAssessment:
    """Every pharmacy's assessment for ``period`` under ``methodology``'s ``[pharmacy]``.

    ``facts`` are the whole ledger's; the pharmacies' cases are chosen here."""
    rules, penalty = methodology.pharmacy, methodology.case_penalty
    if rules is None or penalty is None:
        raise ValueError(f"{methodology.version} does not assess pharmacies")
    view = pharmacy_view(facts)
    pharmacy = facts.pharmacy
    specs = rules.indicators
    periods = period.history(methodology.trend_periods)
    counts = _counts(view)
    flagged = _flagged(view, counts, view.findings.values())
    tallies: dict[tuple[str, int], PharmacyTally] = defaultdict(PharmacyTally)
    position = _Positions(periods)
    _count_dispensings(pharmacy, flagged, position, tallies)
    _count_deliveries(pharmacy, flagged, position, tallies)
    cased = {case.institution_code for case in view.cases.values()}
    codes = sorted(pharmacy.pharmacy_codes() | cased)

    def scored(at: int) -> dict[str, _Scored]:
        charges = _charges(view, penalty, rules, periods[at])
        answered = responsiveness(view, periods[at])
        return {
            code: _score(
                specs,
                tallies.get((code, at)) or PharmacyTally(),
                answered.get(code, (0, 0)),
                charges.get(code, []),
            )
            for code in codes
        }

    history = [scored(at) for at in range(len(periods))]
    current = len(periods) - 1
    now = history[current]

    def dispensings(code: str) -> int:
        found = tallies.get((code, current))
        return 0 if found is None else found.dispensings

    def deliveries(code: str) -> int:
        found = tallies.get((code, current))
        return 0 if found is None else found.deliveries

    eligible = sorted(
        code
        for code in codes
        if now[code].rating == RATED and dispensings(code) >= rules.min_dispensings
    )
    ranks = competition_ranks({code: now[code].score for code in eligible})  # type: ignore[misc]
    province_median = _medians([now[c].indicators for c in eligible], specs)
    kinds = {code: pharmacy.kind(code) for code in codes}
    peer_medians = {
        kind: _medians([now[c].indicators for c in eligible if kinds[c] == kind], specs)
        for kind in sorted(set(kinds.values()))
    }
    double_fills = _double_fills(view, counts, period)
    rows = []
    for code in codes:
        filing = pharmacy.latest_filing(code)
        rows.append(
            RatedPharmacy(
                institution_code=code,
                name=pharmacy.name(code),
                kind=kinds[code],
                parent_code=None if filing is None else filing.parent_code,
                volume={"dispensing": dispensings(code), "delivery": deliveries(code)},
                indicators=now[code].indicators,
                quality=now[code].quality,
                penalty=now[code].penalty,
                score=now[code].score,
                rating=now[code].rating,
                ranked=code in ranks,
                rank=ranks.get(code),
                cases=now[code].cases,
                double_fills=tuple(double_fills.get(code, ())),
                trend=tuple(history[at][code].score for at in range(len(periods))),
                province_median=province_median,
                peer_median=peer_medians[kinds[code]],
            )
        )
    # Ranked first, then rated but unranked, then without data; vetoed always last.
    ordered = tuple(
        sorted(
            rows,
            key=lambda r: (r.rank is None, _ORDER[r.rating], r.rank or 0, r.institution_code),
        )
    )
    ranked_scores = [r.score for r in ordered if r.ranked and r.score is not None]
    rated_scores = [r.score for r in ordered if r.score is not None]
    province = {
        "pharmacies": len(ordered),
        "ranked": len(ranked_scores),
        "rated": len(rated_scores),
        "vetoed": sum(r.rating == VETOED for r in ordered),
        "dispensings": sum(dispensings(c) for c in codes),
        "deliveries": sum(deliveries(c) for c in codes),
        "double_fill_cases": sum(_cases_of(now[c].cases, DOUBLE_FILL) for c in codes),
        "controlled_drug_cases": sum(_cases_of(now[c].cases, CONTROLLED) for c in codes),
        "mean_score": round(statistics.fmean(ranked_scores), 2) if ranked_scores else None,
        "median_score": round(statistics.median(ranked_scores), 2) if ranked_scores else None,
        "spread": _spread(rated_scores),
        "cases_counted": sum(len(r.cases) for r in ordered),
        "min_dispensings": rules.min_dispensings,
        "indicator_median": province_median,
    }
    return PharmacyAssessment(ordered, province)
