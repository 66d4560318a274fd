"""Performance assessment (绩效考核): indicators, score, rank, peers and trend per institution.

Pure: ``assess(facts, methodology, period)`` gives the same ``Assessment``
for the same facts, which is what ``report verify`` relies on. Every
indicator keeps its numerator and denominator so a reader can check the
rate, and the methodology file says what each one counts.
"""

from __future__ import annotations

import statistics
from bisect import bisect_right
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from .facts import CHARGE, CONSULTATION, NO_VALUE, PRESCRIPTION, FindingFact, LedgerFacts
from .methodology import IndicatorSpec, Methodology
from .periods import Period

__all__ = [
    "Assessment",
    "IndicatorValue",
    "InstitutionAssessment",
    "Tallies",
    "Tally",
    "assess",
    "competition_ranks",
    "indicator_values",
    "medians",
    "score_indicator",
    "weighted_score",
]

_LEGITIMACY_RULES = frozenset({"VISIT-FIRST", "VISIT-DIAGNOSIS-MISMATCH"})
_PRICE_FAMILIES = frozenset({"PRICE", "INS"})


@dataclass
class Tally:
    """Counts for one institution in one period."""

    consultations: int = 0
    prescriptions: int = 0
    charges: int = 0
    reviewed: int = 0
    review_minutes: list[float] = field(default_factory=list)
    satisfaction_sum: int = 0
    satisfaction_count: int = 0
    # Distinct records with a counting finding of each group.
    illegitimate_visits: int = 0
    rx_findings: int = 0
    price_findings: int = 0
    credential_findings: int = 0
    late: int = 0
    ordered: int = 0
    rectified: int = 0
    rectification_days: list[float] = field(default_factory=list)

    @property
    def records(self) -> int:
        return self.consultations + self.prescriptions + self.charges


@dataclass(frozen=True)
class IndicatorValue:
    id: str
    numerator: float | None
    denominator: int
    value: float | None
    score: float | None

    def document(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "numerator": self.numerator,
            "denominator": self.denominator,
            "value": self.value,
            "score": self.score,
        }


@dataclass(frozen=True)
class InstitutionAssessment:
    institution_code: str
    name: str
    kind: str
    volume: Mapping[str, int]
    indicators: tuple[IndicatorValue, ...]
    score: float | None
    ranked: bool
    rank: int | None
    trend: tuple[float | None, ...]
    province_median: Mapping[str, float | None]
    peer_median: Mapping[str, float | None]

    def indicator(self, indicator_id: str) -> IndicatorValue:
        return next(i for i in self.indicators if i.id == indicator_id)

    def document(self) -> dict[str, Any]:
        return {
            "institution_code": self.institution_code,
            "name": self.name,
            "kind": self.kind,
            "volume": dict(self.volume),
            "indicators": [i.document() for i in self.indicators],
            "score": self.score,
            "ranked": self.ranked,
            "rank": self.rank,
            "trend": list(self.trend),
            "province_median": dict(self.province_median),
            "peer_median": dict(self.peer_median),
        }


@dataclass(frozen=True)
class Assessment:
    period: Period
    trend_periods: tuple[Period, ...]
    institutions: tuple[InstitutionAssessment, ...]
    province: Mapping[str, Any]

    def document(self) -> dict[str, Any]:
        return {
            "period": self.period.key,
            "trend_periods": [p.key for p in self.trend_periods],
            "province": dict(self.province),
            "institutions": [i.document() for i in self.institutions],
        }


def _round(value: float | None, places: int) -> float | None:
    return None if value is None else round(value, places)


def score_indicator(spec: IndicatorSpec, value: float | None) -> float | None:
    """An indicator's score, 0..100, as the methodology says; None without data or weight."""
    if value is None or spec.score == "none":
        return None
    if spec.score == "rate":
        score = value * 100 if spec.direction == "up" else (1 - value) * 100
    elif spec.score == "likert":
        score = (value - 1) / 4 * 100
    else:  # band: full marks at the target, none at the limit, linear between
        assert spec.target is not None and spec.limit is not None
        score = (spec.limit - value) / (spec.limit - spec.target) * 100
    return round(min(100.0, max(0.0, score)), 2)


def _rate(numerator: int, denominator: int) -> tuple[float | None, float | None]:
    if denominator == 0:
        return None, None
    return float(numerator), round(numerator / denominator, 4)


def _median(values: list[float]) -> float | None:
    return round(statistics.median(values), 2) if values else None


def indicator_values(tally: Tally) -> dict[str, tuple[float | None, int, float | None]]:
    """id -> (numerator, denominator, value) for one institution-period."""
    values: dict[str, tuple[float | None, int, float | None]] = {}

    def rate(indicator_id: str, good: int, total: int) -> None:
        numerator, value = _rate(good, total)
        values[indicator_id] = (numerator, total, value)

    rate(
        "follow_up_legitimacy", tally.consultations - tally.illegitimate_visits, tally.consultations
    )
    rate("pharmacist_review_rate", tally.reviewed, tally.prescriptions)
    median_review = _median(tally.review_minutes)
    values["review_minutes_median"] = (median_review, len(tally.review_minutes), median_review)
    rate("prescription_compliance", tally.prescriptions - tally.rx_findings, tally.prescriptions)
    rate("price_compliance", tally.charges - tally.price_findings, tally.charges)
    given = tally.consultations + tally.prescriptions
    rate("credential_compliance", given - tally.credential_findings, given)
    rate("transmission_timeliness", tally.records - tally.late, tally.records)
    rate("rectification_rate", tally.rectified, tally.ordered)
    median_days = _median(tally.rectification_days)
    values["rectification_days_median"] = (
        median_days,
        len(tally.rectification_days),
        median_days,
    )
    mean = (
        round(tally.satisfaction_sum / tally.satisfaction_count, 4)
        if tally.satisfaction_count
        else None
    )
    values["satisfaction"] = (
        float(tally.satisfaction_sum) if tally.satisfaction_count else None,
        tally.satisfaction_count,
        mean,
    )
    values["volume"] = (float(tally.records), tally.records, float(tally.records))
    return values


def weighted_score(methodology: Methodology, indicators: Iterable[IndicatorValue]) -> float | None:
    scored = {spec.id: spec.weight for spec in methodology.scored}
    pairs = [(scored[i.id], i.score) for i in indicators if i.id in scored and i.score is not None]
    weight = sum(w for w, _ in pairs)
    if weight == 0:
        return None
    return round(sum(w * s for w, s in pairs) / weight, 2)


class Tallies:
    """Tallies per (institution id, period position) over consecutive periods."""

    def __init__(
        self,
        facts: LedgerFacts,
        periods: list[Period],
        counts: Callable[[FindingFact], bool] = lambda finding: finding.counts,
    ) -> None:
        self.facts = facts
        self.counts = counts
        self.periods = periods
        self._starts = [p.first_day for p in periods]
        self._end = periods[-1].end_day
        self.by_key: dict[tuple[int, int], Tally] = defaultdict(Tally)

    def position(self, day: int) -> int | None:
        if day < self._starts[0] or day >= self._end:
            return None
        return bisect_right(self._starts, day) - 1

    def count_records(self) -> None:
        facts = self.facts
        superseded = facts.superseded
        for slot in range(len(facts.index)):
            position = self.position(facts.day[slot])
            if position is None or slot in superseded:
                continue
            tally = self.by_key[(facts.institution[slot], position)]
            kind = facts.kind[slot]
            if kind == CONSULTATION:
                tally.consultations += 1
                if facts.satisfaction[slot]:
                    tally.satisfaction_sum += facts.satisfaction[slot]
                    tally.satisfaction_count += 1
            elif kind == PRESCRIPTION:
                tally.prescriptions += 1
                minutes = facts.review_minutes[slot]
                if minutes != NO_VALUE:
                    tally.reviewed += 1
                    tally.review_minutes.append(minutes)
            elif kind == CHARGE:
                tally.charges += 1

    def count_findings(self) -> None:
        facts = self.facts
        flagged: dict[str, set[int]] = defaultdict(set)
        for finding in facts.findings.values():
            if not self.counts(finding):
                continue
            slot = facts.slot_of(finding.record_index)
            if slot is None or slot in facts.superseded:
                continue
            position = self.position(facts.day[slot])
            if position is None:
                continue
            kind = facts.kind[slot]
            for group in _groups(finding, kind):
                flagged[group].add(slot)
            if finding.ordered_at is not None:
                tally = self.by_key[(facts.institution[slot], position)]
                tally.ordered += 1
                if finding.resolved_at is not None:
                    tally.rectified += 1
                    days = (finding.resolved_at - finding.ordered_at).total_seconds() / 86400
                    tally.rectification_days.append(days)
        attribute = {
            "legitimacy": "illegitimate_visits",
            "rx": "rx_findings",
            "price": "price_findings",
            "credential": "credential_findings",
            "late": "late",
        }
        for group, slots in flagged.items():
            for slot in slots:
                position = self.position(facts.day[slot])
                assert position is not None
                tally = self.by_key[(facts.institution[slot], position)]
                name = attribute[group]
                setattr(tally, name, getattr(tally, name) + 1)


def _groups(finding: FindingFact, kind: int) -> list[str]:
    """Which compliance groups a counting finding on a record of ``kind`` falls in."""
    groups = []
    if kind == CONSULTATION and finding.rule in _LEGITIMACY_RULES:
        groups.append("legitimacy")
    if kind == PRESCRIPTION and finding.family == "RX":
        groups.append("rx")
    if kind == CHARGE and finding.family in _PRICE_FAMILIES:
        groups.append("price")
    if kind in (CONSULTATION, PRESCRIPTION) and finding.family == "CRED":
        groups.append("credential")
    if finding.rule == "DATA-LATE":
        groups.append("late")
    return groups


def _indicators(methodology: Methodology, tally: Tally) -> tuple[IndicatorValue, ...]:
    raw = indicator_values(tally)
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


def competition_ranks(scores: Mapping[str, float]) -> dict[str, int]:
    """1, 2, 2, 4: equal scores share a rank."""
    ordered = sorted(scores.items(), key=lambda item: (-item[1], item[0]))
    ranks: dict[str, int] = {}
    for position, (code, score) in enumerate(ordered):
        previous = ordered[position - 1] if position else None
        ranks[code] = ranks[previous[0]] if previous and previous[1] == score else position + 1
    return ranks


def medians(
    rows: list[tuple[IndicatorValue, ...]], methodology: Methodology
) -> dict[str, float | None]:
    medians: dict[str, float | None] = {}
    for position, spec in enumerate(methodology.indicators):
        values = [v for row in rows if (v := row[position].value) is not None]
        medians[spec.id] = round(statistics.median(values), 4) if values else None
    return medians


def assess(facts: LedgerFacts, methodology: Methodology, period: Period) -> Assessment:
    """The assessment of every institution for ``period``, with its trend over earlier ones."""
    periods = period.history(methodology.trend_periods)
    tallies = Tallies(facts, periods)
    tallies.count_records()
    tallies.count_findings()
    current = len(periods) - 1
    codes = sorted(set(facts.institutions) | set(facts.institution_filings))
    ids = {code: n for n, code in enumerate(facts.institutions)}
    empty = Tally()

    def tally_of(code: str, position: int) -> Tally:
        found = ids.get(code)
        return tallies.by_key.get((found, position), empty) if found is not None else empty

    indicators = {code: _indicators(methodology, tally_of(code, current)) for code in codes}
    scores = {code: weighted_score(methodology, indicators[code]) for code in codes}
    eligible = {
        code
        for code in codes
        if tally_of(code, current).records >= methodology.min_records and scores[code] is not None
    }
    ranks = competition_ranks({code: scores[code] for code in eligible})  # type: ignore[misc]
    province_median = medians([indicators[c] for c in sorted(eligible)], methodology)
    kinds = {code: facts.institution_kind(code) for code in codes}
    peer_medians = {
        kind: medians([indicators[c] for c in sorted(eligible) if kinds[c] == kind], methodology)
        for kind in sorted(set(kinds.values()))
    }
    trends = {
        code: tuple(
            weighted_score(methodology, _indicators(methodology, tally_of(code, position)))
            for position in range(len(periods))
        )
        for code in codes
    }
    rows = tuple(
        InstitutionAssessment(
            institution_code=code,
            name=facts.institution_name(code),
            kind=kinds[code],
            volume={
                "consultation": tally_of(code, current).consultations,
                "prescription": tally_of(code, current).prescriptions,
                "charge": tally_of(code, current).charges,
            },
            indicators=indicators[code],
            score=scores[code],
            ranked=code in eligible,
            rank=ranks.get(code),
            trend=trends[code],
            province_median=province_median,
            peer_median=peer_medians[kinds[code]],
        )
        for code in codes
    )
    ordered = tuple(sorted(rows, key=lambda r: (r.rank is None, r.rank or 0, r.institution_code)))
    province_scores = [r.score for r in ordered if r.ranked and r.score is not None]
    province = {
        "institutions": len(ordered),
        "ranked": len(province_scores),
        "records": sum(tally_of(c, current).records for c in codes),
        "mean_score": round(statistics.fmean(province_scores), 2) if province_scores else None,
        "median_score": round(statistics.median(province_scores), 2) if province_scores else None,
        "indicator_median": province_median,
        "unreadable_records": facts.unreadable,
    }
    return Assessment(period, tuple(periods), ordered, province)
