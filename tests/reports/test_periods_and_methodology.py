"""Reporting periods and the methodology file's checks."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from reports.methodology import (
    Methodology,
    MethodologyError,
    load_methodology,
    methodology_version,
    parse_methodology,
    shipped_versions,
)
from reports.periods import Period, day_number, parse_period


def test_periods_parse_and_step_back() -> None:
    assert parse_period("2026-11").key == "2026-11"
    assert parse_period("2026-Q1").previous().key == "2025-Q4"
    assert parse_period("2026-01").previous().key == "2025-12"
    assert parse_period("2026-03-01").previous().key == "2026-02-28"
    quarter = parse_period("2026-Q4")
    assert (quarter.start.isoformat(), quarter.last.isoformat()) == ("2026-10-01", "2026-12-31")
    for bad in ("2026-13", "2026-Q5", "26-11", "2026-02-30", ""):
        with pytest.raises(ValueError, match="2026"):
            parse_period(bad)


def test_days_are_province_days() -> None:
    late_utc = datetime(2026, 10, 31, 16, 0, tzinfo=UTC)  # 1 November 00:00 in UTC+8
    assert Period.month(2026, 11).contains(day_number(late_utc))
    assert Period.month(2026, 11).start_time == late_utc


def test_shipped_methodology_is_complete_and_hashed() -> None:
    assert shipped_versions() == ("assessment-v1", "assessment-v2", "assessment-v3")
    assert load_methodology().version == "assessment-v3", "new assessments use the newest"
    for version in shipped_versions():
        _complete_and_hashed(methodology_version(version))
    v2 = methodology_version("assessment-v2")
    assert set(v2.veto_rules) == {
        "ORG-UNKNOWN",
        "ORG-LICENSE",
        "RX-BANNED-DRUG",
        "CRED-UNREGISTERED",
    }
    assert v2.case_penalty is not None and v2.case_penalty.severity_points["high"] == 3
    with pytest.raises(
        MethodologyError, match="shipped: assessment-v1, assessment-v2, assessment-v3"
    ):
        methodology_version("assessment-v9")


def _complete_and_hashed(methodology: Methodology) -> None:
    assert sum(i.weight for i in methodology.indicators) == 100
    assert len(methodology.sha256) == 64
    for spec in methodology.indicators:
        assert spec.definition and spec.numerator and spec.denominator and spec.name_zh


def test_a_broken_methodology_is_refused_with_the_reason() -> None:
    text = methodology_version("assessment-v1").text
    with pytest.raises(MethodologyError, match="missing field 'weight'"):
        parse_methodology(text.replace("weight = 15\n", "", 1).encode())
    with pytest.raises(MethodologyError, match="unknown indicator"):
        parse_methodology(text.replace('id = "satisfaction"', 'id = "happiness"').encode())
    with pytest.raises(MethodologyError, match="not a TOML file"):
        parse_methodology(b"version = ")
