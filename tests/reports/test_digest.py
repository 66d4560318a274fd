"""The intelligent-supervision digest on hand-made days."""

from __future__ import annotations

from datetime import date

from reports.digest import digest, robust_z
from reports.periods import Period

from .ledger_world import World

DAY = Period.day(date(2026, 11, 20))


def busy_world() -> World:
    w = World()
    w.institution("H1", "一院", "second_name")
    w.practitioner("D-odd", "王医生")
    # 28 baseline days of 10 consultations at H1 (8..10 a day), then 60 on the 20th.
    for day in range(23, 31):
        for n in range(9 + day % 2):
            w.consultation(f"oct{day}-{n}", "H1", f"2026-10-{day:02d}T09:{n:02d}:00+08:00")
    for day in range(1, 20):
        for n in range(8 + day % 3):
            w.consultation(f"nov{day}-{n}", "H1", f"2026-11-{day:02d}T09:{n:02d}:00+08:00")
    for n in range(60):
        w.consultation(f"spike-{n}", "H1", f"2026-11-20T10:{n:02d}:00+08:00")
    # Ten ordinary prescribers with 5 prescriptions of ~10 yuan this week; one at 500 yuan.
    for doctor in range(10):
        for n in range(5):
            w.prescription(
                f"rx{doctor}-{n}",
                "H1",
                f"2026-11-18T09:{n:02d}:00+08:00",
                reviewed_at=None,
                doctor=f"D{doctor}",
                amounts=(f"{10 + doctor}.00",),
            )
    for n in range(5):
        w.prescription(
            f"odd-{n}",
            "H1",
            "2026-11-19T09:00:00+08:00",
            reviewed_at=None,
            doctor="D-odd",
            amounts=("500.00",),
        )
    # Findings: two new on the 20th (one high), one the day before, one overdue order.
    w.finding("new-1", "RX-DAYS", "odd-0", "H1", "2026-11-20T11:00:00+08:00", severity="high")
    w.finding("new-2", "DATA-LATE", "spike-1", "H1", "2026-11-20T12:00:00+08:00", severity="low")
    w.finding("old-1", "VISIT-FIRST", "nov3-1", "H1", "2026-11-19T12:00:00+08:00")
    w.action(
        "old-1",
        "order_rectification",
        "rectification_ordered",
        "2026-11-19T13:00:00+08:00",
        deadline="2026-11-18",
    )
    return w


def test_new_findings_by_severity_rule_and_institution() -> None:
    d = digest(busy_world().facts(), DAY)
    assert d.new_findings["total"] == 2
    assert d.new_findings["by_severity"] == {"high": 1, "medium": 0, "low": 1, "warning": 0}
    assert d.new_findings["by_rule"] == {"DATA-LATE": 1, "RX-DAYS": 1}
    assert d.changes["new_findings"] == 1  # 2 today against 1 the day before


def test_top_risks_weigh_severity_and_name_the_practitioner() -> None:
    d = digest(busy_world().facts(), DAY)
    # H1: high 5 + low 1 + high 5 (VISIT-FIRST) = 11 points over the last 30 days.
    assert d.top_institutions[0]["code"] == "H1"
    assert d.top_institutions[0]["risk_points"] == 11
    assert d.top_institutions[0]["name"] == "一院"
    doctors = {row["code"]: row for row in d.top_practitioners}
    assert doctors["D-odd"]["risk_points"] == 5 and doctors["D-odd"]["name"] == "王医生"


def test_overdue_rectification_is_listed_with_days() -> None:
    d = digest(busy_world().facts(), DAY)
    assert [(r["finding_id"], r["days_overdue"]) for r in d.overdue] == [("old-1", 2)]


def test_volume_spike_and_unusual_prescriber_are_flagged() -> None:
    d = digest(busy_world().facts(), DAY)
    assert [(s["institution_code"], s["day"], s["records"]) for s in d.volume_spikes] == [
        ("H1", "2026-11-20", 60)
    ]
    assert [row["license_no"] for row in d.prescribing_anomalies] == ["D-odd"]
    assert d.prescribing_anomalies[0]["reasons"] == ["amount"]


def test_no_spike_on_an_ordinary_day() -> None:
    d = digest(busy_world().facts(), Period.day(date(2026, 11, 19)))
    assert d.volume_spikes == ()


def test_robust_z_needs_spread() -> None:
    assert robust_z(5.0, [1.0, 1.0, 1.0]) is None
    assert robust_z(5.0, [1.0, 2.0]) is None
    # median 2, MAD 1: 0.6745 * (5 - 2) / 1
    assert robust_z(5.0, [1.0, 2.0, 3.0]) == 0.6745 * 3
