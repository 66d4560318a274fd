"""Pharmacy indicators under assessment-v3 on a hand-made world whose every answer is
worked out by hand (``pharmacy_world``): the review rate counts only approved reviews by
a rostered pharmacist, a double fill is charged to the later pharmacy and names both, a
cold-chain breach and an unverified delivery lower their rates, and the platform selling
in its own name is not rated. Then what the facts are judged by: the catalogue in force
at the dispensing, the filing before it, the latest version of an amended record, and
findings that were dismissed."""

from __future__ import annotations

from typing import Any

import pytest

from inspectors.grouping import case_id_of
from reports.exports import plain_numbers
from reports.methodology import methodology_version, parse_methodology
from reports.periods import parse_period
from reports.pharmacy_indicators import assess_pharmacies

from .pharmacy_world import CATALOGUE, P1, P2, PL, PharmacyWorld, pharmacy_world

NOVEMBER = parse_period("2026-11")
V3 = methodology_version("assessment-v3")


def _assessed(world: PharmacyWorld) -> dict[str, dict[str, Any]]:
    document = plain_numbers(assess_pharmacies(world.facts(), V3, NOVEMBER).document())
    return {p["institution_code"]: p for p in document["pharmacies"]}


def _indicator(pharmacy: dict[str, Any], indicator_id: str) -> tuple[Any, Any, Any]:
    found = next(i for i in pharmacy["indicators"] if i["id"] == indicator_id)
    return found["numerator"], found["denominator"], found["value"]


def test_the_retail_pharmacy_with_a_breach_and_an_unverified_delivery() -> None:
    p1 = _assessed(pharmacy_world())[P1]
    assert (p1["name"], p1["kind"], p1["rating"]) == ("康民大药房", "retail", "rated")
    assert p1["volume"] == {"dispensing": 5, "delivery": 4}
    # d1, d2, d4, d5 name a prescription (d3 is vitamin C over the counter); d4's reviewer
    # is not on the roster: 3 of 4.
    assert _indicator(p1, "pharmacy_review_rate") == ("3", 4, "0.75")
    # Only d4 carries a DISP finding of its own (the breach and the unverified delivery
    # lie on deliveries).
    assert _indicator(p1, "dispensing_compliance") == ("4", 5, "0.8")
    # v2 carried insulin without cold chain: the only cold-chain delivery, and a breach.
    assert _indicator(p1, "cold_chain_compliance") == ("0", 1, "0")
    # Delivered prescription drugs: v1, v2, v5 (v3 carried an OTC sale); v5 unverified.
    assert _indicator(p1, "delivery_verification") == ("2", 3, "0.6667")
    assert _indicator(p1, "double_fill_cases") == ("0", 5, "0")
    assert _indicator(p1, "responsiveness") == ("1", 1, "1")
    # (25 x 75 + 25 x 80 + 15 x 0 + 15 x 66.67 + 20 x 100) / 100; month cases cost nothing.
    assert (p1["quality_score"], p1["case_penalty"], p1["score"]) == ("68.75", "0", "68.75")
    assert p1["trend"][-2:] == ["100", "68.75"], "October: one clean OTC sale"


def test_a_double_fill_lies_on_the_later_pharmacy_and_names_both() -> None:
    p2 = _assessed(pharmacy_world())[P2]
    assert (p2["name"], p2["kind"], p2["parent_code"]) == ("仁心连锁二店", "chain_store", "P-CHAIN")
    assert _indicator(p2, "double_fill_cases") == ("1", 2, "1")
    assert _indicator(p2, "dispensing_compliance") == ("1", 2, "0.5")
    assert _indicator(p2, "cold_chain_compliance") == ("1", 1, "1")
    (case,) = p2["cases"]
    # Charged whatever its grouping: high, open from 10 to 30 November: 3 x (1 + 21/30).
    assert (case["rule"], case["days_open"], case["points"]) == ("DISP-DOUBLE-FILL", 21, "5.1")
    assert (p2["quality_score"], p2["score"]) == ("84.38", "79.28")
    (fill,) = p2["double_fills"]
    assert fill["record_id"] == "e1" and fill["dispensings"] == 2
    assert fill["pharmacies"] == [P2, P1]
    assert fill["pharmacy_names"] == ["仁心连锁二店", "康民大药房"]
    assert fill["prescription"]["institution_code"] == "H-4401"


def test_the_platform_selling_in_its_own_name_is_not_rated_and_comes_last() -> None:
    world = pharmacy_world()
    document = plain_numbers(assess_pharmacies(world.facts(), V3, NOVEMBER).document())
    order = [p["institution_code"] for p in document["pharmacies"]]
    assert order == [P2, P1, PL], "rated by score, the vetoed last"
    pl = document["pharmacies"][-1]
    assert (pl["rating"], pl["score"], pl["rank"], pl["ranked"]) == ("vetoed", None, None, False)
    assert {v["rule"] for v in pl["veto"]} == {"DISP-THIRD-PARTY-SALE", "DISP-CONTROLLED-ONLINE"}
    assert _indicator(pl, "controlled_drug_cases") == ("2", 3, "1"), "f2 and its delivery x2"
    province = document["province"]
    assert (province["pharmacies"], province["rated"], province["vetoed"]) == (3, 2, 1)
    assert (province["double_fill_cases"], province["controlled_drug_cases"]) == (1, 1)
    assert province["spread"]["range"] == "10.53"
    assert province["ranked"] == 0, "fewer than 30 dispensings each"


def test_ranked_among_pharmacies_once_they_dispense_enough() -> None:
    text = V3.text.replace("min_dispensings = 30", "min_dispensings = 2")
    lower = parse_methodology(text.encode())
    document = assess_pharmacies(pharmacy_world().facts(), lower, NOVEMBER).document()
    ranks = {p["institution_code"]: p["rank"] for p in document["pharmacies"]}
    assert ranks == {P2: 1, P1: 2, PL: None}


def test_a_dismissed_breach_counts_nowhere() -> None:
    world = pharmacy_world()
    cold_case = case_id_of(f"DISP-COLD-CHAIN|{P1}|m:2026-11", 1)
    world.case_event(cold_case, "dismiss", "dismissed", "2026-11-29T10:00:00+08:00")
    p1 = _assessed(world)[P1]
    assert _indicator(p1, "cold_chain_compliance") == ("1", 1, "1")
    assert "DISP-COLD-CHAIN" not in {c["rule"] for c in p1["cases"]}


def _small(catalogue: list[dict[str, Any]] | None = None) -> PharmacyWorld:
    w = PharmacyWorld()
    if catalogue is not None:
        w.catalogue(catalogue)
    w.pharmacy(P1, "康民大药房", "retail", ("PH1",))
    return w


def test_drugs_are_judged_by_the_catalogue_in_force_at_the_dispensing() -> None:
    w = _small(CATALOGUE)
    at = "2026-11-05T10:00:00+08:00"
    w.dispensing("otc-before", P1, at, "VITC", rx=None, reviewer=None)
    w.dispensing("unknown", P1, at, "NEWDRUG", rx=None, reviewer="PH1")
    # A later catalogue makes vitamin C prescription-only: earlier sales stay OTC.
    later = [dict(row, category="vitamin") if row["drug_code"] == "VITC" else row
             for row in CATALOGUE]  # fmt: skip
    w.catalogue(later)
    w.dispensing("rx-after", P1, at, "VITC", rx=None, reviewer="PH1")
    p1 = _assessed(w)[P1]
    # The uncatalogued drug and the later vitamin C need a review; both had one.
    assert _indicator(p1, "pharmacy_review_rate") == ("2", 2, "1")


def test_without_a_catalogue_every_drug_needs_a_prescription() -> None:
    w = _small()
    w.dispensing("d", P1, "2026-11-05T10:00:00+08:00", "VITC", rx=None, reviewer=None)
    assert _indicator(_assessed(w)[P1], "pharmacy_review_rate") == ("0", 1, "0")


def test_the_roster_is_the_filing_the_dispensing_is_judged_by() -> None:
    w = PharmacyWorld()
    w.catalogue(CATALOGUE)
    at = "2026-11-05T10:00:00+08:00"
    # Dispensed before any filing: judged by the first filing, which rosters PH1.
    w.dispensing("early", P1, at, "AMX", rx=None, reviewer="PH1")
    w.pharmacy(P1, "康民大药房", "retail", ("PH1",))
    w.dispensing("by-ph2", P1, at, "AMX", rx=None, reviewer="PH2")
    # PH2 joins the roster later: it does not make the earlier review a rostered one.
    w.pharmacy(P1, "康民大药房（新址）", "retail", ("PH1", "PH2"))
    w.dispensing("by-ph2-later", P1, at, "AMX", rx=None, reviewer="PH2")
    w.dispensing("rejected", P1, at, "AMX", rx=None, reviewer="PH1", result="rejected")
    p1 = _assessed(w)[P1]
    assert _indicator(p1, "pharmacy_review_rate") == ("2", 4, "0.5")
    assert p1["name"] == "康民大药房（新址）", "named by its latest filing"


def test_an_amended_dispensing_counts_once_and_carries_its_delivery() -> None:
    w = _small(CATALOGUE)
    at = "2026-11-05T10:00:00+08:00"
    w.dispensing("d", P1, at, "VITC", rx=None, reviewer=None)
    w.delivery("v", P1, "d", at, verified=False)
    # The correction says it was insulin: the delivery now carries a cold, Rx drug.
    w.dispensing("d-fix", P1, at, "INS", rx=None, reviewer="PH1", amends="d")
    p1 = _assessed(w)[P1]
    assert p1["volume"] == {"dispensing": 1, "delivery": 1}
    assert _indicator(p1, "cold_chain_compliance") == ("1", 1, "1")
    assert _indicator(p1, "delivery_verification") == ("0", 1, "0")


def test_a_delivery_before_its_dispensing_in_the_ledger_is_still_joined() -> None:
    w = _small(CATALOGUE)
    at = "2026-11-05T10:00:00+08:00"
    w.delivery("v", P1, "d", at, cold_chain=True, verified=True)
    w.dispensing("d", P1, at, "INS", rx=None, reviewer="PH1")
    p1 = _assessed(w)[P1]
    assert _indicator(p1, "delivery_verification") == ("1", 1, "1")


def test_a_pharmacy_is_assessed_from_its_findings_alone_when_it_never_filed() -> None:
    w = PharmacyWorld()
    w.catalogue(CATALOGUE)
    w.dispensing("d", "P-UNFILED", "2026-11-05T10:00:00+08:00", "AMX", rx=None, reviewer="X")
    w.case_finding("g", "DISP-PHARMACY-LICENSE", "d", "P-UNFILED", grouping="institution")
    unfiled = _assessed(w)["P-UNFILED"]
    assert (unfiled["name"], unfiled["kind"], unfiled["rating"]) == (
        "P-UNFILED",
        "unknown",
        "vetoed",
    )
    assert _indicator(unfiled, "pharmacy_review_rate") == ("0", 1, "0"), "no roster"


@pytest.mark.parametrize("version", ["assessment-v1", "assessment-v2"])
def test_earlier_versions_do_not_assess_pharmacies(version: str) -> None:
    with pytest.raises(ValueError, match="does not assess pharmacies"):
        assess_pharmacies(pharmacy_world().facts(), methodology_version(version), NOVEMBER)
