"""Performance-assessment indicators on a world small enough to count by hand."""

from __future__ import annotations

import pytest

from reports.assessment import Assessment, assess, score_indicator
from reports.methodology import methodology_version, parse_methodology
from reports.periods import Period

from .ledger_world import World

A, B = "HOSP-A", "HOSP-B"
OCTOBER = Period.month(2026, 10)


def methodology_ranking_everyone() -> object:
    shipped = methodology_version("assessment-v1")
    return parse_methodology(shipped.text.replace("min_records = 30", "min_records = 1").encode())


def october_world() -> World:
    w = World()
    w.institution(A, "甲互联网医院", "second_name")
    w.institution(B, "乙互联网医院", "standalone")
    w.practitioner("D1", "张医生")
    # September: one clean consultation at A (the trend's previous point).
    w.consultation("A-c0", A, "2026-09-20T10:00:00+08:00")
    # October at A: 4 consultations, 2 prescriptions, 2 live charges (ch1 is amended by ch1b).
    w.consultation("A-c1", A, "2026-10-01T09:00:00+08:00", satisfaction=5)
    w.consultation("A-c2", A, "2026-10-02T09:00:00+08:00", satisfaction=4)
    w.consultation("A-c3", A, "2026-10-03T09:00:00+08:00")
    # 2026-10-31T20:00 UTC is 1 November 04:00 in the province: not October.
    w.consultation("A-nov", A, "2026-10-31T20:00:00Z")
    w.consultation("A-c4", A, "2026-10-04T09:00:00+08:00")
    w.prescription("A-p1", A, "2026-10-05T09:00:00+08:00", reviewed_at="2026-10-05T09:12:00+08:00")
    w.prescription("A-p2", A, "2026-10-06T09:00:00+08:00", reviewed_at=None)
    w.charge("A-ch1", A, "2026-10-07T09:00:00+08:00")
    w.charge("A-ch2", A, "2026-10-08T09:00:00+08:00")
    w.charge("A-ch1b", A, "2026-10-07T09:00:00+08:00", amends="A-ch1")
    # B: two clean consultations.
    w.consultation("B-c1", B, "2026-10-10T09:00:00+08:00")
    w.consultation("B-c2", B, "2026-10-11T09:00:00+08:00")
    found = "2026-10-20T10:00:00+08:00"
    w.finding("f-visit", "VISIT-FIRST", "A-c3", A, found)
    w.finding("f-noreview", "RX-NO-REVIEW", "A-p2", A, found)
    w.finding("f-days", "RX-DAYS", "A-p2", A, found)  # same prescription: counts once
    w.finding("f-superseded", "PRICE-CEILING", "A-ch1", A, found)  # ch1 was amended
    w.finding("f-dismissed", "PRICE-AMOUNT", "A-ch2", A, found)
    w.finding("f-cred", "CRED-INACTIVE", "A-c4", A, found)
    w.finding("f-late", "DATA-LATE", "A-ch2", A, found, severity="low")
    w.action("f-dismissed", "dismiss", "dismissed", "2026-10-21T10:00:00+08:00")
    w.action(
        "f-days",
        "order_rectification",
        "rectification_ordered",
        "2026-11-01T10:00:00+08:00",
        deadline="2026-11-30",
    )
    w.action("f-days", "resolve", "resolved", "2026-11-04T10:00:00+08:00")
    w.action(
        "f-visit",
        "order_rectification",
        "rectification_ordered",
        "2026-11-01T10:00:00+08:00",
        deadline="2026-11-30",
    )
    return w


@pytest.fixture
def october() -> Assessment:
    return assess(october_world().facts(), methodology_ranking_everyone(), OCTOBER)  # type: ignore[arg-type]


def test_rates_keep_their_hand_counted_numerators_and_denominators(october: Assessment) -> None:
    a = next(i for i in october.institutions if i.institution_code == A)
    expected = {
        # 4 consultations (A-nov is November); A-c3 has VISIT-FIRST: 3 / 4.
        "follow_up_legitimacy": (3, 4, 0.75),
        # A-p1 reviewed, A-p2 not: 1 / 2.
        "pharmacist_review_rate": (1, 2, 0.5),
        # A-p2 has two RX findings but is one prescription: 1 / 2.
        "prescription_compliance": (1, 2, 0.5),
        # Live charges A-ch1b and A-ch2; the finding on superseded A-ch1 and the dismissed
        # one on A-ch2 do not count: 2 / 2.
        "price_compliance": (2, 2, 1.0),
        # 4 consultations + 2 prescriptions, A-c4 has CRED-INACTIVE: 5 / 6.
        "credential_compliance": (5, 6, 0.8333),
        # 8 live records, A-ch2 late: 7 / 8.
        "transmission_timeliness": (7, 8, 0.875),
        # f-days and f-visit were ordered; f-days resolved: 1 / 2.
        "rectification_rate": (1, 2, 0.5),
    }
    for indicator_id, (numerator, denominator, value) in expected.items():
        got = a.indicator(indicator_id)
        assert (got.numerator, got.denominator, got.value) == (numerator, denominator, value), (
            indicator_id
        )
    assert a.indicator("review_minutes_median").value == 12.0  # 09:00 -> 09:12
    assert a.indicator("rectification_days_median").value == 3.0  # 1 Nov -> 4 Nov
    assert a.indicator("satisfaction").value == 4.5  # (5 + 4) / 2
    assert a.volume == {"consultation": 4, "prescription": 2, "charge": 2}


def test_score_is_the_weighted_mean_of_indicator_scores(october: Assessment) -> None:
    a = next(i for i in october.institutions if i.institution_code == A)
    # 75*15 + 50*15 + 96*5 (12 min on the 10..60 band) + 50*15 + 100*15 + 83.33*15
    # + 87.5*10 + 50*5 + 87.5*5 ((4.5-1)/4) = 7417.45, over weights 100.
    assert a.indicator("review_minutes_median").score == 96.0
    assert a.indicator("satisfaction").score == 87.5
    assert a.score == 74.17
    # B has data for three indicators only (15 + 15 + 10), all perfect: weights renormalise.
    b = next(i for i in october.institutions if i.institution_code == B)
    assert b.score == 100.0
    assert b.indicator("pharmacist_review_rate").value is None


def test_rank_peers_and_trend(october: Assessment) -> None:
    assert [(i.institution_code, i.rank) for i in october.institutions] == [(B, 1), (A, 2)]
    a = october.institutions[1]
    assert a.province_median["follow_up_legitimacy"] == 0.875  # median of 0.75 and 1.0
    assert a.peer_median["follow_up_legitimacy"] == 0.75  # A is the only second-name hospital
    assert [p.key for p in october.trend_periods] == [
        "2026-05",
        "2026-06",
        "2026-07",
        "2026-08",
        "2026-09",
        "2026-10",
    ]
    assert a.trend == (None, None, None, None, 100.0, 74.17)
    assert a.name == "甲互联网医院"


def test_small_institutions_are_scored_but_not_ranked() -> None:
    shipped = methodology_version("assessment-v1")  # min_records = 30
    result = assess(october_world().facts(), shipped, OCTOBER)
    assert all(not i.ranked and i.rank is None for i in result.institutions)
    assert all(i.score is not None for i in result.institutions)


def test_the_same_facts_give_the_same_document() -> None:
    methodology = methodology_ranking_everyone()
    first = assess(october_world().facts(), methodology, OCTOBER).document()  # type: ignore[arg-type]
    second = assess(october_world().facts(), methodology, OCTOBER).document()  # type: ignore[arg-type]
    assert first == second


def test_equal_scores_share_a_rank() -> None:
    w = World()
    for code in ("C1", "C2", "C3"):
        w.consultation(f"{code}-1", code, "2026-10-01T09:00:00+08:00")
    w.finding("f", "VISIT-FIRST", "C3-1", "C3", "2026-10-02T09:00:00+08:00")
    result = assess(w.facts(), methodology_ranking_everyone(), OCTOBER)  # type: ignore[arg-type]
    assert [(i.institution_code, i.rank) for i in result.institutions] == [
        ("C1", 1),
        ("C2", 1),
        ("C3", 3),
    ]


@pytest.mark.parametrize(
    ("indicator_id", "value", "score"),
    [
        ("review_minutes_median", 5.0, 100.0),
        ("review_minutes_median", 35.0, 50.0),
        ("review_minutes_median", 90.0, 0.0),
        ("satisfaction", 1.0, 0.0),
        ("satisfaction", 5.0, 100.0),
        ("prescription_compliance", 0.9, 90.0),
        ("volume", 10.0, None),
    ],
)
def test_scoring_follows_the_methodology(
    indicator_id: str, value: float, score: float | None
) -> None:
    spec = methodology_version("assessment-v1").indicator(indicator_id)
    assert score_indicator(spec, value) == score
