"""Performance assessment under ``assessment-v2``: causes, not records; vetoes; answers.

Pure, like version 1 (``reports.assessment``, whose record indicators it reuses):
the same facts give the same assessment. An institution's score is its
record-quality score less the points its cases cost (once per case, by severity
and how long it stayed open); an institution with a veto case is not rated. The
methodology file's header states every rule; this module only carries them out.
"""

from __future__ import annotations

import statistics
from collections import defaultdict
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from .assessment import (
    IndicatorValue,
    Tallies,
    Tally,
    competition_ranks,
    indicator_values,
    medians,
    score_indicator,
    weighted_score,
)
from .facts import CaseFact, FindingFact, LedgerFacts
from .methodology import CasePenalty, Methodology
from .periods import Period, day_number, day_of_date

__all__ = [
    "AssessmentV2",
    "CaseCharge",
    "RatedInstitution",
    "assess_v2",
    "case_days",
    "responsiveness",
]

RATED, VETOED, NO_DATA = "rated", "vetoed", "no_data"
_ORDER = {RATED: 0, NO_DATA: 1, VETOED: 2}


@dataclass(frozen=True)
class CaseCharge:
    """A case of the institution in the period: what it costs, and whether it vetoes."""

    case_id: str
    rule: str
    severity: str
    grouping: str
    repeat: bool
    state: str
    days: int
    points: float
    veto: bool

    def document(self) -> dict[str, Any]:
        return {
            "case_id": self.case_id,
            "rule": self.rule,
            "severity": self.severity,
            "grouping": self.grouping,
            "repeat": self.repeat,
            "state": self.state,
            "days_open": self.days,
            "points": self.points,
            "veto": self.veto,
        }


@dataclass(frozen=True)
class RatedInstitution:
    institution_code: str
    name: str
    kind: str
    volume: Mapping[str, int]
    indicators: tuple[IndicatorValue, ...]
    quality: float | None
    penalty: float
    score: float | None
    rating: str  # rated | vetoed | no_data
    ranked: bool
    rank: int | None
    cases: tuple[CaseCharge, ...]
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
            "trend": list(self.trend),
            "province_median": dict(self.province_median),
            "peer_median": dict(self.peer_median),
        }


@dataclass(frozen=True)
class AssessmentV2:
    period: Period
    trend_periods: tuple[Period, ...]
    institutions: tuple[RatedInstitution, ...]
    province: Mapping[str, Any]

    def document(self) -> dict[str, Any]:
        return {
            "period": self.period.key,
            "trend_periods": [p.key for p in self.trend_periods],
            "province": dict(self.province),
            "institutions": [i.document() for i in self.institutions],
        }


def _first_day(facts: LedgerFacts, case: CaseFact) -> int:
    """The day the earliest of the case's records occurred (found, if none is readable)."""
    days = [
        facts.day[slot]
        for index in case.record_indices
        if (slot := facts.slot_of(index)) is not None
    ]
    return min(days) if days else day_number(case.first_found)


def case_days(facts: LedgerFacts, case: CaseFact, period: Period) -> int:
    """Days of ``period`` on which the case was open (0: not in the period)."""
    start = max(_first_day(facts, case), period.first_day)
    end = period.end_day if case.ended_at is None else day_number(case.ended_at) + 1
    return max(0, min(end, period.end_day) - start)


def _points(penalty: CasePenalty, case: CaseFact, days: int, charged: bool) -> float:
    if not charged:
        return 0.0
    cap = penalty.duration_cap_days
    points = penalty.severity_points.get(case.severity, 0.0) * (1 + min(days, cap) / cap)
    return round(points * (penalty.repeat_factor if case.repeat else 1.0), 2)


def _charges(
    facts: LedgerFacts, methodology: Methodology, period: Period
) -> dict[str, list[CaseCharge]]:
    """institution code -> its cases in the period that cost points or veto."""
    penalty = methodology.case_penalty
    assert penalty is not None, "an assessment-v2 methodology has a [cases] table"
    vetoing = frozenset(methodology.veto_rules)
    charges: dict[str, list[CaseCharge]] = defaultdict(list)
    for case in facts.cases.values():
        if case.state == "dismissed":
            continue
        charged = case.grouping in penalty.groupings or case.repeat
        veto = case.rule in vetoing
        if not (charged or veto):
            continue
        days = case_days(facts, case, period)
        if days == 0:
            continue
        charges[case.institution_code].append(
            CaseCharge(
                case.case_id,
                case.rule,
                case.severity,
                case.grouping,
                case.repeat,
                case.state,
                days,
                _points(penalty, case, days, charged),
                veto,
            )
        )
    for listed in charges.values():
        listed.sort(key=lambda c: (not c.veto, -c.points, c.rule, c.case_id))
    return charges


def responsiveness(facts: LedgerFacts, period: Period) -> dict[str, tuple[int, int]]:
    """institution code -> (notices met, notices due) in ``period`` (see the methodology)."""
    counts: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for notice in facts.notices.values():
        case = facts.cases.get(notice.case_id)
        if notice.deadline is None or case is None or case.state == "dismissed":
            continue
        if not period.first_day <= day_of_date(notice.deadline) < period.end_day:
            continue
        tally = counts[notice.institution_code]
        tally[1] += 1
        tally[0] += any(
            r.review == "accepted"
            and r.deadline is not None
            and day_number(r.received_at) <= day_of_date(r.deadline)
            for r in notice.responses
        )
    return {code: (met, due) for code, (met, due) in counts.items()}


def _indicators(
    methodology: Methodology, tally: Tally, answered: tuple[int, int]
) -> tuple[IndicatorValue, ...]:
    raw = indicator_values(tally)
    met, due = answered
    raw["responsiveness"] = (float(met), due, round(met / due, 4)) if due else (None, 0, None)
    return tuple(
        IndicatorValue(
            spec.id,
            raw[spec.id][0],
            raw[spec.id][1],
            raw[spec.id][2],
            score_indicator(spec, raw[spec.id][2]) if spec.id != "volume" else None,
        )
        for spec in methodology.indicators
    )


def _counts(facts: LedgerFacts) -> Callable[[FindingFact], bool]:
    """A finding counts unless it, or its case, was dismissed."""

    def counts(finding: FindingFact) -> bool:
        case = facts.cases.get(finding.case_id or "")
        return finding.counts and (case is None or case.state != "dismissed")

    return counts


@dataclass(frozen=True)
class _Scored:
    indicators: tuple[IndicatorValue, ...]
    quality: float | None
    penalty: float
    score: float | None
    rating: str
    cases: tuple[CaseCharge, ...]


def _score(
    methodology: Methodology, tally: Tally, answered: tuple[int, int], cases: list[CaseCharge]
) -> _Scored:
    indicators = _indicators(methodology, tally, answered)
    quality = weighted_score(methodology, indicators)
    penalty = round(sum(c.points for c in cases), 2)
    if any(c.veto for c in cases):
        return _Scored(indicators, quality, penalty, None, VETOED, tuple(cases))
    if quality is None:
        return _Scored(indicators, None, penalty, None, NO_DATA, tuple(cases))
    score = round(max(0.0, quality - penalty), 2)
    return _Scored(indicators, quality, penalty, score, RATED, tuple(cases))


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


def assess_v2(facts: LedgerFacts, methodology: Methodology, period: Period) -> AssessmentV2:
    """Every institution's assessment for ``period`` under ``methodology`` (v2 rules)."""
    periods = period.history(methodology.trend_periods)
    tallies = Tallies(facts, periods, _counts(facts))
    tallies.count_records()
    tallies.count_findings()
    current = len(periods) - 1
    # An institution with cases is assessed even if it sent no records of care.
    cased = {case.institution_code for case in facts.cases.values()}
    codes = sorted(set(facts.institutions) | set(facts.institution_filings) | cased)
    ids = {code: n for n, code in enumerate(facts.institutions)}
    empty = Tally()

    def tally_of(code: str, position: int) -> Tally:
        found = ids.get(code)
        return tallies.by_key.get((found, position), empty) if found is not None else empty

    def scored(position: int) -> dict[str, _Scored]:
        at = periods[position]
        charges, answered = _charges(facts, methodology, at), responsiveness(facts, at)
        return {
            code: _score(
                methodology,
                tally_of(code, position),
                answered.get(code, (0, 0)),
                charges.get(code, []),
            )
            for code in codes
        }

    history = [scored(position) for position in range(len(periods))]
    now = history[current]
    eligible = sorted(
        code
        for code in codes
        if now[code].rating == RATED and tally_of(code, current).records >= methodology.min_records
    )
    ranks = competition_ranks({code: now[code].score for code in eligible})  # type: ignore[misc]
    province_median = medians([now[c].indicators for c in eligible], methodology)
    kinds = {code: facts.institution_kind(code) for code in codes}
    peer_medians = {
        kind: medians([now[c].indicators for c in eligible if kinds[c] == kind], methodology)
        for kind in sorted(set(kinds.values()))
    }
    rows = [
        RatedInstitution(
            institution_code=code,
            name=facts.institution_name(code),
            kind=kinds[code],
            volume={
                "consultation": tally_of(code, current).consultations,
                "prescription": tally_of(code, current).prescriptions,
                "charge": tally_of(code, current).charges,
            },
            indicators=now[code].indicators,
            quality=now[code].quality,
            penalty=now[code].penalty,
            score=now[code].score,
            rating=now[code].rating,
            ranked=code in ranks,
            rank=ranks.get(code),
            cases=now[code].cases,
            trend=tuple(history[p][code].score for p in range(len(periods))),
            province_median=province_median,
            peer_median=peer_medians[kinds[code]],
        )
        for code in codes
    ]
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
        "institutions": len(ordered),
        "ranked": len(ranked_scores),
        "rated": len(rated_scores),
        "vetoed": sum(r.rating == VETOED for r in ordered),
        "records": sum(tally_of(c, current).records for c in codes),
        "mean_score": round(statistics.fmean(ranked_scores), 2) if ranked_scores else None,
        "median_score": round(statistics.median(ranked_scores), 2) if ranked_scores else None,
        "spread": _spread(rated_scores),
        "cases_counted": sum(len(r.cases) for r in ordered),
        "indicator_median": province_median,
        "unreadable_records": facts.unreadable,
    }
    return AssessmentV2(period, tuple(periods), ordered, province)
