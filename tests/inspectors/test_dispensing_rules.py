"""DISP-*: each rule fires on its failing world and nothing else does when the whole
rulebook runs; the clean pharmacy world (filing, dispensing, delivery) passes every rule.

The world extends ``world``'s: the same hospital prescription (now with a cold-chain
insulin), a retail pharmacy Y1 with pharmacist PH2 on its roster, a second pharmacy Y2,
and a platform Y9 that sells in its own name.
"""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest

from inspectors.findings import Grouping, Subject
from inspectors.policy import Policy, PolicyError, default_policy_bytes, parse_policy
from inspectors.reference import (
    DrugCatalogue,
    PractitionerRegistry,
    PriceCatalogue,
    ReferenceSnapshot,
    dataset_version,
)
from inspectors.reference_files import (
    ReferenceFileError,
    SourceRow,
    parse_reference_csv,
    parse_reference_rows,
)
from inspectors.rulebook import RULES, RULES_BY_ID, inspect_subject
from inspectors.values import (
    Delivery,
    Dispensing,
    DispensingItem,
    LedgerRecord,
    PharmacyFiling,
    PrescriptionItem,
    PrescriptionLink,
    Review,
)

from . import world as w

DISP_RULES = {rule.id for rule in RULES if rule.id.startswith("DISP-")}

# -- Reference data: the world's, plus pharmacists and two more drugs ---------------------


def _registry_row(
    license_no: str, role: str, primary: str, status: str = "active"
) -> dict[str, str]:
    return {
        "license_no": license_no, "name": "王芳", "role": role, "status": status,
        "valid_from": "2015-01-01", "valid_to": "", "practice_start": "2012-07-01",
        "primary_institution_code": primary, "multi_site_institution_codes": "",
        "departments": "PHARMACY",
    }  # fmt: skip


def _drug_row(code: str, name: str, category: str, cold_chain: str = "") -> dict[str, str]:
    return {
        "drug_code": code, "drug_name": name, "category": category,
        "online_prescribable": "true", "max_days_supply": "", "cold_chain": cold_chain,
    }  # fmt: skip


def _parsed(dataset: str, rows: list[dict[str, str]]) -> list[dict[str, Any]]:
    return parse_reference_rows(dataset, [SourceRow(f"row {i}", r) for i, r in enumerate(rows)])


REGISTRY_ROWS = sorted(
    [
        *w.REGISTRY_ROWS,
        *_parsed(
            "registry",
            [
                _registry_row("PH2", "pharmacist", "Y1"),
                _registry_row("PH3", "pharmacist", "Y2"),
                _registry_row("PH4", "pharmacist", "Y1", status="suspended"),
            ],
        ),
    ],
    key=lambda row: row["license_no"],
)
DRUG_ROWS = sorted(
    [
        *w.DRUG_ROWS,
        *_parsed(
            "drugs",
            [
                _drug_row("D0003", "胰岛素注射液", "rx", cold_chain="true"),
                _drug_row("D0004", "二甲双胍片", "rx"),
            ],
        ),
    ],
    key=lambda row: row["drug_code"],
)


def reference() -> ReferenceSnapshot:
    """The world's reference data with the pharmacy world's pharmacists and drugs added."""
    return ReferenceSnapshot(
        PractitionerRegistry.from_rows(dataset_version("registry", REGISTRY_ROWS), REGISTRY_ROWS),
        PriceCatalogue.from_rows(dataset_version("prices", w.PRICE_ROWS), w.PRICE_ROWS),
        DrugCatalogue.from_rows(dataset_version("drugs", DRUG_ROWS), DRUG_ROWS),
    )


def policy(**dispensing: object) -> Policy:
    """The default policy, or one with the given ``[dispensing]`` keys."""
    content = default_policy_bytes()
    for key, value in dispensing.items():
        start = content.index(f"\n{key} = ".encode()) + 1
        end = content.index(b"\n", start)
        content = content[:start] + f"{key} = {json.dumps(value)}".encode() + content[end:]
    return parse_policy(content)


# -- The clean pharmacy world ----------------------------------------------------------------

METFORMIN = w.PRESCRIPTION.items[0]  # D0001, quantity 2
INSULIN = PrescriptionItem("D0003", "胰岛素注射液", Decimal(1), 30, Decimal("68.00"))
PRESCRIPTION = replace(w.PRESCRIPTION, items=(METFORMIN, INSULIN))
RX_INDEX = 6
RX = LedgerRecord(RX_INDEX, w.RECEIVED, PRESCRIPTION)

PHARMACY = PharmacyFiling(
    record_id="F-Y1",
    institution_code="Y1",
    occurred_at=w.START - timedelta(days=30),
    name="康宁大药房",
    kind="retail",
    license_no="LIC-Y1",
    license_valid_until=date(2030, 1, 1),
    gsp_valid_until=date(2030, 1, 1),
    online_sales_filed=True,
    region_code="330100",
    parent_code=None,
    pharmacists=("PH2", "PH4"),
)
OTHER_PHARMACY = replace(
    PHARMACY, record_id="F-Y2", institution_code="Y2", name="仁和药店", license_no="LIC-Y2",
    pharmacists=("PH3",),
)  # fmt: skip
PLATFORM = replace(
    PHARMACY, record_id="F-Y9", institution_code="Y9", name="快药平台", kind="platform",
    license_no="LIC-Y9",
)  # fmt: skip

DISPENSED = w.START + timedelta(hours=2)


def _item(code: str, name: str, quantity: int | str) -> DispensingItem:
    return DispensingItem(
        code, name, Decimal(quantity), "盒", Decimal("30.00"), "B2026", date(2027, 12, 31)
    )


DISPENSING = Dispensing(
    record_id="Y1-D1",
    institution_code="Y1",
    occurred_at=DISPENSED,
    amends=None,
    prescription=PrescriptionLink("H1", "V1-RX"),
    channel="online",
    pharmacist_review=Review("PH2", DISPENSED - timedelta(minutes=10), "approved"),
    items=(_item("D0001", "二甲双胍缓释片", 2), _item("D0003", "胰岛素注射液", 1)),
    dispensed_at=DISPENSED,
    payer="mixed",
    insurance_amount=Decimal("20.00"),
    substitution_note=None,
    patient_birth_date=date(1960, 5, 1),
)
DISPENSING_INDEX = 10
DELIVERY = Delivery(
    record_id="Y1-S1",
    institution_code="Y1",
    occurred_at=DISPENSED + timedelta(hours=1),
    dispensing_record_id="Y1-D1",
    carrier="顺丰冷运",
    cold_chain=True,
    shipped_at=DISPENSED + timedelta(hours=1),
    delivered_at=DISPENSED + timedelta(hours=5),
    recipient_verified_at=DISPENSED + timedelta(hours=5),
    temperature_excursion=False,
)


def _dispensed(record: Dispensing) -> LedgerRecord:
    return LedgerRecord(DISPENSING_INDEX, record.occurred_at + timedelta(hours=1), record)


def dispensing_subject(record: Dispensing = DISPENSING, **related: Any) -> Subject:
    """A dispensing at index 10, received an hour after it happened, in the clean world
    (with the prescription it links to, if it links to one)."""
    linked = None if record.prescription is None else RX
    given: dict[str, Any] = {"pharmacy": PHARMACY, "prescription": linked, **related}
    return Subject(_dispensed(record), **given)


def delivery_subject(
    record: Delivery = DELIVERY, carried: Dispensing | None = DISPENSING, **related: Any
) -> Subject:
    """A delivery at index 12 of ``carried`` (None: the dispensing never arrived)."""
    received = LedgerRecord(12, record.occurred_at + timedelta(hours=1), record)
    dispensing = None if carried is None else _dispensed(carried)
    return Subject(received, pharmacy=PHARMACY, dispensing=dispensing, **related)


def _dispensing(**changes: Any) -> Subject:
    return dispensing_subject(replace(DISPENSING, **changes))


def _delivery(**changes: Any) -> Subject:
    return delivery_subject(replace(DELIVERY, **changes))


def _at(moment: datetime, **changes: Any) -> Dispensing:
    """The clean dispensing moved to ``moment`` (reviewed ten minutes before)."""
    review = Review("PH2", moment - timedelta(minutes=10), "approved")
    return replace(
        DISPENSING, occurred_at=moment, dispensed_at=moment, pharmacist_review=review, **changes
    )


def _fill(index: int, record: Dispensing) -> LedgerRecord:
    return LedgerRecord(index, record.occurred_at + timedelta(hours=1), record)


#: The same prescription filled in full at pharmacy Y2, earlier in the ledger (index 8).
OTHER_FILL = replace(
    _at(DISPENSED - timedelta(hours=1)),
    record_id="Y2-D7",
    institution_code="Y2",
    pharmacist_review=Review("PH3", DISPENSED - timedelta(hours=1, minutes=10), "approved"),
)

#: A prescription for a narcotic (the hospital's own RX-BANNED-DRUG, not the pharmacy's).
NARCOTIC_RX = LedgerRecord(
    RX_INDEX,
    w.RECEIVED,
    replace(
        PRESCRIPTION, items=(PrescriptionItem("N0001", "盐酸吗啡片", Decimal(1), 3, Decimal(5)),)
    ),
)
NARCOTIC_SALE = replace(DISPENSING, items=(_item("N0001", "盐酸吗啡片", 1),))

CLEAN = {
    "pharmacy": Subject(LedgerRecord(3, PHARMACY.occurred_at, PHARMACY), pharmacy=PHARMACY),
    "dispensing": dispensing_subject(),
    "delivery": delivery_subject(),
}

#: rule id -> a world that breaks exactly that rule.
FAILING: dict[str, Subject] = {
    "DISP-NO-RX": _dispensing(prescription=None, channel="in_store", items=DISPENSING.items[:1]),
    "DISP-RX-UNKNOWN": dispensing_subject(prescription=None),
    "DISP-RX-EXPIRED": dispensing_subject(_at(PRESCRIPTION.signed_at + timedelta(hours=73))),
    "DISP-DOUBLE-FILL": dispensing_subject(earlier_fills=(_fill(8, OTHER_FILL),)),
    "DISP-QUANTITY": _dispensing(items=(_item("D0001", "二甲双胍缓释片", 3), DISPENSING.items[1])),
    "DISP-SUBSTITUTE": _dispensing(items=(_item("D0004", "二甲双胍片", 2), DISPENSING.items[1])),
    "DISP-NO-PHARMACIST": _dispensing(
        pharmacist_review=Review("PH4", DISPENSED - timedelta(minutes=10), "approved")
    ),
    "DISP-PHARMACY-LICENSE": dispensing_subject(
        pharmacy=replace(PHARMACY, license_valid_until=date(2026, 11, 1))
    ),
    "DISP-THIRD-PARTY-SALE": dispensing_subject(
        replace(DISPENSING, institution_code="Y9"), pharmacy=PLATFORM
    ),
    "DISP-CONTROLLED-ONLINE": dispensing_subject(NARCOTIC_SALE, prescription=NARCOTIC_RX),
    "DISP-COLD-CHAIN": _delivery(cold_chain=False, carrier="中通快递"),
    "DISP-DELIVERY-REALNAME": _delivery(recipient_verified_at=None),
    "DISP-REVIEW-ORDER": _dispensing(
        pharmacist_review=Review("PH2", DISPENSED + timedelta(minutes=5), "approved")
    ),
}

#: Other ways to break the same rule (a second branch of its check): still only that rule.
VARIANTS: dict[str, tuple[str, Subject]] = {
    "no-rx-unknown-drug": (
        "DISP-NO-RX",
        _dispensing(prescription=None, items=(_item("X9999", "未知药品", 1),)),
    ),
    "no-review": ("DISP-NO-PHARMACIST", _dispensing(pharmacist_review=None)),
    "review-rejected": (
        "DISP-NO-PHARMACIST",
        _dispensing(pharmacist_review=Review("PH2", DISPENSED - timedelta(minutes=10), "rejected")),
    ),
    "reviewer-off-roster": (
        "DISP-NO-PHARMACIST",
        _dispensing(pharmacist_review=Review("PH3", DISPENSED - timedelta(minutes=10), "approved")),
    ),
    "reviewer-a-nurse": (
        "DISP-NO-PHARMACIST",
        dispensing_subject(
            replace(
                DISPENSING,
                pharmacist_review=Review("NU1", DISPENSED - timedelta(minutes=10), "approved"),
            ),
            pharmacy=replace(PHARMACY, pharmacists=("PH2", "NU1")),
        ),
    ),
    "reviewer-unregistered": (
        "DISP-NO-PHARMACIST",
        dispensing_subject(
            replace(
                DISPENSING,
                pharmacist_review=Review("PH404", DISPENSED - timedelta(minutes=10), "approved"),
            ),
            pharmacy=replace(PHARMACY, pharmacists=("PH2", "PH404")),
        ),
    ),
    "no-filing": ("DISP-PHARMACY-LICENSE", dispensing_subject(pharmacy=None)),
    "gsp-expired": (
        "DISP-PHARMACY-LICENSE",
        dispensing_subject(pharmacy=replace(PHARMACY, gsp_valid_until=date(2026, 10, 1))),
    ),
    "online-not-filed": (
        "DISP-PHARMACY-LICENSE",
        dispensing_subject(pharmacy=replace(PHARMACY, online_sales_filed=False)),
    ),
    "controlled-delivered": (
        "DISP-CONTROLLED-ONLINE",
        delivery_subject(
            replace(DELIVERY, cold_chain=False), replace(NARCOTIC_SALE, channel="in_store")
        ),
    ),
    "temperature-excursion": ("DISP-COLD-CHAIN", _delivery(temperature_excursion=True)),
    "dispensed-before-signed": (
        "DISP-REVIEW-ORDER",
        dispensing_subject(
            prescription=replace(
                RX, record=replace(PRESCRIPTION, signed_at=DISPENSED + timedelta(minutes=30))
            )
        ),
    ),
    "hospital-review-rejected": (
        "DISP-REVIEW-ORDER",
        dispensing_subject(
            prescription=replace(
                RX,
                record=replace(
                    PRESCRIPTION, review=Review("PH1", w.START + timedelta(minutes=20), "rejected")
                ),
            )
        ),
    ),
}


def _fired(subject: Subject, policy_used: Policy | None = None) -> set[str]:
    found = inspect_subject(subject, reference(), policy_used or policy())
    return {finding.rule_id for finding in found}


def _only(subject: Subject, rule_id: str) -> Any:
    """The one finding of ``rule_id``, after checking no other rule fired."""
    found = inspect_subject(subject, reference(), policy())
    assert {f.rule_id for f in found} == {rule_id}
    (finding,) = found
    return finding


# -- The whole rulebook on the clean world and on each failing one --------------------------


def test_every_disp_rule_has_a_failing_world() -> None:
    assert set(FAILING) == DISP_RULES
    assert len(DISP_RULES) == 13


@pytest.mark.parametrize("record_type", sorted(CLEAN))
def test_the_clean_pharmacy_world_passes_every_rule(record_type: str) -> None:
    assert inspect_subject(CLEAN[record_type], reference(), policy()) == []


@pytest.mark.parametrize("rule_id", sorted(FAILING))
def test_each_disp_rule_fires_on_its_world_and_nothing_else_does(rule_id: str) -> None:
    rule = RULES_BY_ID[rule_id]
    finding = _only(FAILING[rule_id], rule_id)
    assert finding.severity == rule.severity
    assert finding.legal_basis == rule.legal_basis and finding.legal_basis.startswith("《")
    assert finding.record_index == FAILING[rule_id].record.index
    assert finding.policy_sha256 == policy().sha256
    assert finding.reference_versions == reference().versions()


@pytest.mark.parametrize("name", sorted(VARIANTS))
def test_each_other_branch_fires_its_rule_alone(name: str) -> None:
    rule_id, subject = VARIANTS[name]
    _only(subject, rule_id)


def test_the_gravest_rules_are_high() -> None:
    high = {
        "DISP-DOUBLE-FILL", "DISP-NO-RX", "DISP-CONTROLLED-ONLINE", "DISP-THIRD-PARTY-SALE",
        "DISP-PHARMACY-LICENSE", "DISP-RX-UNKNOWN",
    }  # fmt: skip
    assert all(RULES_BY_ID[rule].severity == "high" for rule in high)


def test_pharmacy_conditions_are_one_case_per_pharmacy_and_the_rest_monthly() -> None:
    for rule_id in DISP_RULES:
        expected = (
            Grouping.INSTITUTION
            if rule_id in {"DISP-PHARMACY-LICENSE", "DISP-THIRD-PARTY-SALE"}
            else Grouping.MONTH
        )
        assert RULES_BY_ID[rule_id].grouping is expected, rule_id
    licence = _only(FAILING["DISP-PHARMACY-LICENSE"], "DISP-PHARMACY-LICENSE")
    assert licence.case_key == "DISP-PHARMACY-LICENSE|Y1|"
    platform = _only(FAILING["DISP-THIRD-PARTY-SALE"], "DISP-THIRD-PARTY-SALE")
    assert platform.case_key == "DISP-THIRD-PARTY-SALE|Y9|"
    double = _only(FAILING["DISP-DOUBLE-FILL"], "DISP-DOUBLE-FILL")
    assert double.case_key == "DISP-DOUBLE-FILL|Y1|m:2026-11"


def test_only_disp_rules_and_data_late_apply_to_pharmacies_records() -> None:
    """ORG-* and CRED-* are the internet hospitals': a dispensing names its reviewing
    pharmacist, but only DISP-NO-PHARMACIST judges them."""
    applying = {
        rule.id for rule in RULES if rule.applies_to & {"pharmacy", "dispensing", "delivery"}
    }
    assert applying == DISP_RULES | {"DATA-LATE"}
    assert not any("pharmacy" in rule.applies_to for rule in RULES)


def test_late_service_data_is_data_late_but_a_late_filing_is_not() -> None:
    late = replace(_dispensed(DISPENSING), received_at=DISPENSING.occurred_at + timedelta(hours=25))
    assert _fired(Subject(late, pharmacy=PHARMACY, prescription=RX)) == {"DATA-LATE"}
    delivery = LedgerRecord(12, DELIVERY.occurred_at + timedelta(hours=25), DELIVERY)
    assert _fired(Subject(delivery, dispensing=_dispensed(DISPENSING))) == {"DATA-LATE"}
    filing = LedgerRecord(3, PHARMACY.occurred_at + timedelta(days=30), PHARMACY)
    assert _fired(Subject(filing, pharmacy=PHARMACY)) == set()


# -- Double fills ----------------------------------------------------------------------------


def test_a_double_fill_at_two_pharmacies_names_both_fills_and_the_prescription() -> None:
    finding = _only(FAILING["DISP-DOUBLE-FILL"], "DISP-DOUBLE-FILL")
    assert finding.institution_code == "Y1" and finding.record_id == "Y1-D1"
    assert finding.related_indices == (RX_INDEX, 8)
    evidence = finding.evidence
    assert (evidence["prescription_institution_code"], evidence["prescription_record_id"]) == (
        "H1",
        "V1-RX",
    )
    assert evidence["prescription_index"] == RX_INDEX
    assert evidence["items"] == [
        {"drug_code": "D0001", "prescribed_quantity": "2", "dispensed_quantity": "4"},
        {"drug_code": "D0003", "prescribed_quantity": "1", "dispensed_quantity": "2"},
    ]
    assert evidence["dispensings"] == [
        {
            "record_id": "Y2-D7",
            "pharmacy_code": "Y2",
            "ledger_index": 8,
            "dispensed_at": "2026-11-02T10:00:00+08:00",
            "items": [
                {"drug_code": "D0001", "quantity": "2"},
                {"drug_code": "D0003", "quantity": "1"},
            ],
        },
        {
            "record_id": "Y1-D1",
            "pharmacy_code": "Y1",
            "ledger_index": DISPENSING_INDEX,
            "dispensed_at": "2026-11-02T11:00:00+08:00",
            "items": [
                {"drug_code": "D0001", "quantity": "2"},
                {"drug_code": "D0003", "quantity": "1"},
            ],
        },
    ]


def test_the_first_fill_in_the_ledger_is_not_the_double_fill() -> None:
    """Whichever arrives first, the finding lies on the later one: the earlier has none."""
    first = dispensing_subject(OTHER_FILL, pharmacy=OTHER_PHARMACY, earlier_fills=())
    assert _fired(first) == set()


def test_a_split_fill_in_two_halves_is_no_finding() -> None:
    first_half = replace(
        OTHER_FILL,
        items=(_item("D0001", "二甲双胍缓释片", 1), _item("D0003", "胰岛素注射液", "0.5")),
    )
    second_half = _at(DISPENSED, items=first_half.items)
    assert _fired(dispensing_subject(second_half, earlier_fills=(_fill(8, first_half),))) == set()


def test_a_third_fill_names_every_fill_before_it() -> None:
    third = replace(
        _at(DISPENSED + timedelta(hours=1)), record_id="Y1-D2", items=DISPENSING.items[:1]
    )
    earlier = (_fill(8, OTHER_FILL), _fill(9, DISPENSING))
    finding = _only(dispensing_subject(third, earlier_fills=earlier), "DISP-DOUBLE-FILL")
    assert [d["ledger_index"] for d in finding.evidence["dispensings"]] == [8, 9, DISPENSING_INDEX]
    assert finding.related_indices == (RX_INDEX, 8, 9)
    assert finding.evidence["items"] == [
        {"drug_code": "D0001", "prescribed_quantity": "2", "dispensed_quantity": "6"}
    ]


def test_an_earlier_fill_of_other_drugs_is_not_a_double_fill() -> None:
    """Insulin first, metformin later: together they are the prescription, once."""
    insulin = replace(OTHER_FILL, items=DISPENSING.items[1:])
    metformin = _at(DISPENSED, items=DISPENSING.items[:1])
    assert _fired(dispensing_subject(metformin, earlier_fills=(_fill(8, insulin),))) == set()
    # Too much in one fill alone is DISP-QUANTITY's, whatever was filled before.
    three = _at(DISPENSED, items=(_item("D0001", "二甲双胍缓释片", 3),))
    assert _fired(dispensing_subject(three, earlier_fills=(_fill(8, insulin),))) == {
        "DISP-QUANTITY"
    }


def test_an_amended_dispensing_is_not_a_second_fill() -> None:
    """The inspector folds corrections before building the subject: a correction of Y1-D1
    has no earlier fill (Y1-D1 is the same fill), so it is checked alone."""
    correction = replace(DISPENSING, record_id="Y1-D1-C", amends="Y1-D1")
    assert _fired(dispensing_subject(correction, earlier_fills=())) == set()


def test_double_fill_needs_the_prescription_to_know_the_quantity() -> None:
    assert _fired(dispensing_subject(prescription=None, earlier_fills=(_fill(8, OTHER_FILL),))) == {
        "DISP-RX-UNKNOWN"
    }


# -- Each rule's edges -----------------------------------------------------------------------


def test_an_otc_sale_needs_no_prescription_and_no_pharmacist() -> None:
    otc = _item("D0002", "布洛芬片", 1)
    sale = _dispensing(prescription=None, pharmacist_review=None, channel="in_store", items=(otc,))
    assert _fired(sale) == set()
    delivered = delivery_subject(
        replace(DELIVERY, cold_chain=False, recipient_verified_at=None),
        replace(DISPENSING, prescription=None, pharmacist_review=None, items=(otc,)),
    )
    assert _fired(delivered) == set()


def test_validity_follows_the_policy() -> None:
    thirty_hours = dispensing_subject(_at(PRESCRIPTION.signed_at + timedelta(hours=30)))
    assert _fired(thirty_hours) == set()
    assert _fired(thirty_hours, policy(prescription_valid_hours=24)) == {"DISP-RX-EXPIRED"}
    (finding,) = inspect_subject(thirty_hours, reference(), policy(prescription_valid_hours=24))
    assert finding.evidence == {
        "signed_at": "2026-11-02T09:15:00+08:00",
        "dispensed_at": "2026-11-03T15:15:00+08:00",
        "hours_after_signing": 30,
        "valid_hours": 24,
    }
    assert finding.related_indices == (RX_INDEX,)
    exactly = dispensing_subject(_at(PRESCRIPTION.signed_at + timedelta(hours=72)))
    assert _fired(exactly) == set()


def test_controlled_categories_follow_the_policy() -> None:
    online = FAILING["DISP-CONTROLLED-ONLINE"]
    assert _fired(online, policy(controlled_categories=["psychotropic"])) == set()
    in_store = dispensing_subject(
        replace(NARCOTIC_SALE, channel="in_store"), prescription=NARCOTIC_RX
    )
    assert _fired(in_store) == set()
    finding = _only(online, "DISP-CONTROLLED-ONLINE")
    assert finding.evidence == {
        "channel": "online",
        "drug_codes": ["N0001"],
        "categories": ["narcotic"],
    }
    delivered = _only(VARIANTS["controlled-delivered"][1], "DISP-CONTROLLED-ONLINE")
    assert delivered.related_indices == (DISPENSING_INDEX,)
    assert delivered.evidence["dispensing_record_id"] == "Y1-D1"


def test_a_noted_substitution_is_allowed() -> None:
    noted = _dispensing(
        items=(_item("D0004", "二甲双胍片", 2), DISPENSING.items[1]),
        substitution_note="缓释片缺货，经处方医师同意换用普通片",
    )
    assert _fired(noted) == set()
    blank = _dispensing(
        items=(_item("D0004", "二甲双胍片", 2), DISPENSING.items[1]), substitution_note="  "
    )
    assert _fired(blank) == {"DISP-SUBSTITUTE"}


def test_no_pharmacist_evidence_says_every_problem_of_the_review() -> None:
    nurse_off_roster = _dispensing(
        pharmacist_review=Review("NU1", DISPENSED - timedelta(minutes=10), "rejected")
    )
    finding = _only(nurse_off_roster, "DISP-NO-PHARMACIST")
    assert finding.evidence == {
        "problems": ["not_approved", "not_on_roster", "not_pharmacist"],
        "license_no": "NU1",
        "reviewed_at": "2026-11-02T10:50:00+08:00",
        "review_result": "rejected",
        "registered_role": "nurse",
        "registered_status": "active",
    }
    missing = _only(VARIANTS["no-review"][1], "DISP-NO-PHARMACIST")
    assert missing.evidence == {"problems": ["no_review"]}


def test_pharmacy_licence_evidence_and_the_licence_day() -> None:
    finding = _only(
        dispensing_subject(
            pharmacy=replace(
                PHARMACY, license_valid_until=date(2026, 11, 1), online_sales_filed=False
            )
        ),
        "DISP-PHARMACY-LICENSE",
    )
    assert finding.evidence["problems"] == ["license_expired", "online_sales_not_filed"]
    assert finding.evidence["date"] == "2026-11-02"
    on_the_last_day = replace(PHARMACY, license_valid_until=date(2026, 11, 2))
    assert _fired(dispensing_subject(pharmacy=on_the_last_day)) == set()
    unfiled = _only(VARIANTS["no-filing"][1], "DISP-PHARMACY-LICENSE")
    assert unfiled.evidence == {
        "problems": ["no_filing"],
        "pharmacy_code": "Y1",
        "date": "2026-11-02",
    }


def test_cold_chain_and_realname_need_the_dispensing_to_judge_the_drugs() -> None:
    unknown = delivery_subject(
        replace(DELIVERY, cold_chain=False, recipient_verified_at=None), carried=None
    )
    assert _fired(unknown) == set()
    excursion = delivery_subject(replace(DELIVERY, temperature_excursion=True), carried=None)
    assert _fired(excursion) == {"DISP-COLD-CHAIN"}
    not_yet_delivered = _delivery(delivered_at=None, recipient_verified_at=None)
    assert _fired(not_yet_delivered) == set()
    finding = _only(FAILING["DISP-COLD-CHAIN"], "DISP-COLD-CHAIN")
    assert finding.evidence["problems"] == ["not_cold_chain"]
    assert finding.evidence["drug_codes"] == ["D0003"]
    assert finding.related_indices == (DISPENSING_INDEX,)


def test_dispensing_before_the_prescription_was_signed_is_out_of_order() -> None:
    finding = _only(VARIANTS["dispensed-before-signed"][1], "DISP-REVIEW-ORDER")
    assert finding.evidence["problems"] == ["dispensed_before_signed"]
    assert finding.evidence["signed_at"] == "2026-11-02T11:30:00+08:00"
    assert finding.related_indices == (RX_INDEX,)


def test_review_order_names_the_hospitals_rejection() -> None:
    finding = _only(VARIANTS["hospital-review-rejected"][1], "DISP-REVIEW-ORDER")
    assert finding.evidence["problems"] == ["prescription_rejected"]
    assert finding.evidence["prescription_review_result"] == "rejected"
    assert finding.related_indices == (RX_INDEX,)


def test_evidence_holds_field_values_never_the_patient() -> None:
    subjects = [*FAILING.values(), *(subject for _, subject in VARIANTS.values())]
    for subject in subjects:
        for finding in inspect_subject(subject, reference(), policy()):
            text = json.dumps(dict(finding.evidence), ensure_ascii=False)
            assert "1960-05-01" not in text and "patient" not in text, finding.rule_id


# -- Policy and drug catalogue ---------------------------------------------------------------


def test_the_dispensing_policy_defaults_and_its_errors() -> None:
    default = policy()
    assert default.prescription_valid == timedelta(hours=72)
    assert default.controlled_categories == {
        "narcotic", "psychotropic", "toxic", "radioactive", "precursor",
    }  # fmt: skip
    # A policy imported before [dispensing] existed still parses, with the same thresholds.
    content = default_policy_bytes()
    older = content[: content.index(b"[dispensing]")] + content[content.index(b"# Pilots") :]
    assert b"dispensing" not in older
    parsed = parse_policy(older)
    assert parsed.prescription_valid == default.prescription_valid
    assert parsed.controlled_categories == default.controlled_categories
    bad = {
        "prescription_valid_hours = 0": r"\[dispensing\] prescription_valid_hours must be an",
        'prescription_valid_hours = "72"': "prescription_valid_hours must be an integer",
        'controlled_categories = ["otc"]': r"\[dispensing\] controlled_categories must be a list",
        'controlled_categories = ["opium"]': "among narcotic, psychotropic",
        'controlled_categories = ["toxic", "toxic"]': "distinct categories",
        'controlled_categories = "narcotic"': "must be a list",
    }
    for line, message in bad.items():
        key = line.split(" = ")[0]
        start = content.index(f"\n{key} = ".encode()) + 1
        broken = content[:start] + line.encode() + content[content.index(b"\n", start) :]
        with pytest.raises(PolicyError, match=message):
            parse_policy(broken)
    with pytest.raises(PolicyError, match=r"\[dispensing\] has unknown keys: typo"):
        parse_policy(content.replace(b"[dispensing]", b"[dispensing]\ntypo = 1"))


OLD_DRUGS_CSV = (
    "drug_code,drug_name,category,online_prescribable,max_days_supply\n"
    "N1,吗啡,narcotic,false,\nD1,二甲双胍,rx,true,30\n"
)
#: The version this file had before the catalogue knew cold chains (computed then).
OLD_DRUGS_VERSION = "b5eb9022d74cb49e530ba6c06103739fbfc99db7f1cdb88e2fddfd407a93c7f8"


def test_an_old_catalogue_keeps_its_version_and_reads_as_no_cold_chain() -> None:
    rows = parse_reference_csv("drugs", OLD_DRUGS_CSV.encode())
    assert dataset_version("drugs", rows) == OLD_DRUGS_VERSION
    assert all("cold_chain" not in row for row in rows)
    catalogue = DrugCatalogue.from_rows(OLD_DRUGS_VERSION, rows)
    assert not any(drug.cold_chain for drug in catalogue.by_code.values())
    # The column with nothing marked says the same, so it is the same version.
    empty = OLD_DRUGS_CSV.replace("max_days_supply\n", "max_days_supply,cold_chain\n")
    empty = empty.replace("false,\n", "false,,\n").replace("true,30\n", "true,30,false\n")
    assert dataset_version("drugs", parse_reference_csv("drugs", empty.encode())) == (
        OLD_DRUGS_VERSION
    )


def test_a_catalogue_with_cold_chain_drugs_is_a_new_version() -> None:
    header = "drug_code,drug_name,category,online_prescribable,max_days_supply,cold_chain\n"
    content = (
        header + "N1,吗啡,narcotic,false,,\nD1,二甲双胍,rx,true,30,否\nI1,胰岛素,rx,true,30,是\n"
    )
    rows = parse_reference_csv("drugs", content.encode())
    assert [row.get("cold_chain") for row in rows] == [None, True, None]  # D1, I1, N1
    assert dataset_version("drugs", rows) != OLD_DRUGS_VERSION
    catalogue = DrugCatalogue.from_rows(dataset_version("drugs", rows), rows)
    assert catalogue.by_code["I1"].cold_chain and not catalogue.by_code["D1"].cold_chain
    with pytest.raises(ReferenceFileError, match="'perhaps' is not true or false"):
        parse_reference_csv("drugs", (header + "I1,胰岛素,rx,true,30,perhaps\n").encode())
    with pytest.raises(ReferenceFileError, match="unknown cold"):
        parse_reference_csv(
            "drugs", OLD_DRUGS_CSV.replace("max_days_supply\n", "max_days_supply,cold\n").encode()
        )


# -- What a pharmacy really sends ------------------------------------------------------------


def _in_unit(item: DispensingItem, unit: str, quantity: int) -> DispensingItem:
    return replace(item, unit=unit, quantity=Decimal(quantity))


def test_quantities_in_another_unit_are_not_compared() -> None:
    """Twenty tablets sold loose (拆零) against two boxes prescribed is no excess, and two
    fills in different units are not added up: without a pack size they do not compare."""
    boxes = replace(METFORMIN, unit="盒")
    prescription = LedgerRecord(RX_INDEX, w.RECEIVED, replace(PRESCRIPTION, items=(boxes,)))
    tablets = _in_unit(DISPENSING.items[0], "片", 20)
    loose = _at(DISPENSED, items=(tablets,))
    assert _fired(dispensing_subject(loose, prescription=prescription)) == set()
    boxed = replace(OTHER_FILL, items=(_in_unit(DISPENSING.items[0], "盒", 1),))
    assert (
        _fired(
            dispensing_subject(loose, prescription=prescription, earlier_fills=(_fill(8, boxed),))
        )
        == set()
    )
    # In the prescription's own unit, spelled with other spaces or case, it compares.
    three = _at(DISPENSED, items=(_in_unit(DISPENSING.items[0], " 盒 ", 3),))
    assert _fired(dispensing_subject(three, prescription=prescription)) == {"DISP-QUANTITY"}


def test_a_noted_substitute_after_a_full_fill_is_still_a_second_fill() -> None:
    """A prescription filled in full is written off: a later fill of it, even of a noted
    generic substitute, is a double fill."""
    generic = _at(
        DISPENSED,
        items=(_item("D0004", "二甲双胍片（仿制）", 2),),
        substitution_note="原研缺货，经患者同意替换",
    )
    finding = _only(
        dispensing_subject(generic, earlier_fills=(_fill(8, OTHER_FILL),)), "DISP-DOUBLE-FILL"
    )
    named = [d["record_id"] for d in finding.evidence["dispensings"]]
    assert named == ["Y2-D7", "Y1-D1"]


def test_an_over_the_counter_add_on_is_no_substitution() -> None:
    """Ibuprofen bought with the prescription's drugs is a second purchase, not a swap."""
    basket = _at(DISPENSED, items=(*DISPENSING.items, _item("D0002", "布洛芬片", 1)))
    assert _fired(dispensing_subject(basket)) == set()


def test_an_excursion_matters_for_drugs_kept_cold() -> None:
    otc = replace(DISPENSING, items=(_item("D0002", "布洛芬片", 1),))
    room_temperature = replace(DELIVERY, cold_chain=False, temperature_excursion=True)
    assert _fired(delivery_subject(room_temperature, otc)) == set()
    assert _fired(delivery_subject(replace(DELIVERY, temperature_excursion=True))) == {
        "DISP-COLD-CHAIN"
    }


def test_the_licence_day_is_the_provinces_calendar_day() -> None:
    """23:30 UTC on 1 November is 07:30 on 2 November in the province: a licence valid to
    1 November has expired, whatever offset the platform wrote the time in."""
    from datetime import UTC

    late = datetime(2026, 11, 1, 23, 30, tzinfo=UTC)
    sale = _at(late)
    pharmacy = replace(PHARMACY, license_valid_until=date(2026, 11, 1))
    signed = replace(RX, record=replace(PRESCRIPTION, signed_at=late - timedelta(hours=1)))
    finding = _only(
        dispensing_subject(sale, pharmacy=pharmacy, prescription=signed), "DISP-PHARMACY-LICENSE"
    )
    assert finding.evidence["date"] == "2026-11-02"
