"""Each rule: the clean world passes it, and one changed field makes it fire (and only it)."""

from __future__ import annotations

from dataclasses import replace
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

import pytest

from inspectors.findings import Subject
from inspectors.rulebook import RULES, RULES_BY_ID, inspect_subject
from inspectors.values import LedgerRecord, PrescriptionItem, Review

from . import world as w
from .test_dispensing_rules import FAILING as DISPENSING_FAILING

ITEM = w.PRESCRIPTION.items[0]


def _charge(**changes: Any) -> Subject:
    return w.subject(replace(w.CHARGE, **changes))


def _rx(**changes: Any) -> Subject:
    return w.subject(replace(w.PRESCRIPTION, **changes))


def _visit(**changes: Any) -> Subject:
    return w.subject(replace(w.CONSULTATION, **changes))


#: rule id -> a subject that breaks exactly that rule.
FAILING: dict[str, Subject] = {
    "CRED-UNREGISTERED": _visit(practitioner_license_no="MD404"),
    "CRED-INACTIVE": _visit(practitioner_license_no="MD4"),
    "CRED-SITE": _visit(practitioner_license_no="MD2", institution_code="H9"),
    "CRED-EXPERIENCE": _visit(practitioner_license_no="MD3"),
    "CRED-ROLE": _visit(practitioner_license_no="NU1"),
    "CRED-SCOPE": _visit(department_code="DERMATOLOGY"),
    "VISIT-FIRST": _visit(visit_type="first_visit"),
    "VISIT-DIAGNOSIS-MISMATCH": _visit(diagnoses=("J45.9",)),
    "VISIT-REALNAME": _visit(realname_verified_at=w.START + timedelta(minutes=1)),
    "VISIT-CONSENT": _visit(consent_at=None),
    "VISIT-CHILD-GUARDIAN": _visit(patient_birth_date=date(2022, 1, 1), guardian_present=False),
    "RX-NO-REVIEW": _rx(review=None),
    "RX-ORDER": _rx(dispensed_at=w.START + timedelta(minutes=18)),
    "RX-SELF-REVIEW": _rx(review=Review("MD1", w.START + timedelta(minutes=20), "approved")),
    "RX-PRESCRIBER-MISMATCH": _rx(prescriber_license_no="MD2"),
    "RX-BANNED-DRUG": _rx(items=(replace(ITEM, drug_code="N0001", days_supply=3),)),
    "RX-UNKNOWN-DRUG": _rx(items=(replace(ITEM, drug_code="X9999"),)),
    "RX-DAYS": _rx(items=(replace(ITEM, days_supply=31),)),
    "RX-ORPHAN": w.subject(w.PRESCRIPTION, consultation=None),
    "RX-TOO-FAST": _rx(signed_at=w.START + timedelta(seconds=20)),
    "PRICE-CEILING": _charge(unit_price=Decimal("30.00"), amount=Decimal("30.00")),
    "PRICE-UNKNOWN-ITEM": _charge(item_code="999999"),
    "PRICE-AMOUNT": _charge(amount=Decimal("50.00")),
    "PRICE-DUPLICATE": w.subject(
        w.CHARGE, earlier_charges=(LedgerRecord(7, w.RECEIVED, w.CHARGE),)
    ),
    "INS-NOT-COVERED": _charge(item_code="DELIVERY", unit_price=Decimal("8"), amount=Decimal("8")),
    "DATA-LATE": w.subject(w.CONSULTATION, received_at=w.START + timedelta(hours=25)),
    "ORG-UNKNOWN": w.subject(w.CHARGE, institution=None),
    "ORG-LICENSE": w.subject(
        w.CHARGE, institution=replace(w.HOSPITAL, license_valid_until=date(2026, 10, 31))
    ),
}

#: What each failing case is allowed to break besides its own rule (a consequence, not noise).
ALSO: dict[str, set[str]] = {
    "RX-SELF-REVIEW": {"CRED-ROLE"},  # the prescriber is a physician, not a pharmacist
}

CLEAN = {
    "consultation": w.subject(w.CONSULTATION),
    "prescription": w.subject(w.PRESCRIPTION),
    "charge": w.subject(w.CHARGE),
    "institution": w.subject(w.HOSPITAL),
    "practitioner": w.subject(w.ROSTER),
}


def test_every_rule_has_a_failing_case() -> None:
    """DISP-* have theirs in the pharmacy world (``test_dispensing_rules``)."""
    disp = {rule_id for rule_id in RULES_BY_ID if rule_id.startswith("DISP-")}
    assert set(FAILING) == set(RULES_BY_ID) - disp
    assert set(DISPENSING_FAILING) == disp


@pytest.mark.parametrize("record_type", sorted(CLEAN))
def test_the_clean_world_passes_every_rule(record_type: str) -> None:
    assert inspect_subject(CLEAN[record_type], w.reference(), w.policy()) == []


@pytest.mark.parametrize("rule_id", sorted(FAILING))
def test_rule_fires_on_its_failing_case_and_not_on_the_clean_one(rule_id: str) -> None:
    rule = RULES_BY_ID[rule_id]
    failing = FAILING[rule_id]
    record_type = next(t for t in CLEAN if t in rule.applies_to and _same_type(CLEAN[t], failing))
    assert rule.check(CLEAN[record_type], w.reference(), w.policy()) == []
    findings = inspect_subject(failing, w.reference(), w.policy())
    fired = {f.rule_id for f in findings}
    assert rule_id in fired
    assert fired - {rule_id} <= ALSO.get(rule_id, set())
    finding = next(f for f in findings if f.rule_id == rule_id)
    assert finding.legal_basis.startswith("《")
    assert finding.severity == rule.severity
    assert finding.record_index == 10
    assert finding.policy_sha256 == w.policy().sha256
    assert finding.reference_versions == w.reference().versions()


def _same_type(a: Subject, b: Subject) -> bool:
    return type(a.record.record) is type(b.record.record)


def test_every_rule_cites_a_regulation_and_has_a_title() -> None:
    for rule in RULES:
        assert "《" in rule.legal_basis and "》" in rule.legal_basis, rule.id
        assert rule.title and rule.applies_to


def test_related_records_are_named_by_ledger_index() -> None:
    duplicate = FAILING["PRICE-DUPLICATE"]
    (finding,) = [f for f in inspect_subject(duplicate, w.reference(), w.policy())]
    assert finding.related_indices == (7,)
    mismatch = FAILING["RX-PRESCRIBER-MISMATCH"]
    (finding,) = inspect_subject(mismatch, w.reference(), w.policy())
    assert finding.related_indices == (5,)
    assert finding.evidence == {"prescriber_license_no": "MD2", "consulting_license_no": "MD1"}


def test_a_finding_id_depends_on_rule_records_and_evidence_only() -> None:
    first = inspect_subject(FAILING["PRICE-AMOUNT"], w.reference(), w.policy())[0]
    again = inspect_subject(FAILING["PRICE-AMOUNT"], w.reference(), w.policy())[0]
    assert first.finding_id == again.finding_id
    other = inspect_subject(_charge(amount=Decimal("51.00")), w.reference(), w.policy())[0]
    assert other.finding_id != first.finding_id


def test_a_rejected_review_is_fine_until_something_is_dispensed() -> None:
    rejected = Review("PH1", w.START + timedelta(minutes=20), "rejected")
    held = _rx(review=rejected, dispensed_at=None)
    assert RULES_BY_ID["RX-NO-REVIEW"].check(held, w.reference(), w.policy()) == []
    dispensed = _rx(review=rejected)
    assert RULES_BY_ID["RX-NO-REVIEW"].check(dispensed, w.reference(), w.policy())


def test_a_referred_first_visit_and_a_policy_exemption_are_not_first_visits() -> None:
    rule = RULES_BY_ID["VISIT-FIRST"]
    referred = _visit(visit_type="first_visit", outcome="terminated_referred")
    assert rule.check(referred, w.reference(), w.policy()) == []
    no_document = _visit(prior_diagnosis=None)
    assert rule.check(no_document, w.reference(), w.policy())
    exempt = replace(w.policy(), first_visit_exemptions=frozenset({("H1", "*")}))
    assert rule.check(no_document, w.reference(), exempt) == []


def test_multi_site_filing_and_host_hospital_both_allow_the_site() -> None:
    rule = RULES_BY_ID["CRED-SITE"]
    multi_site = _visit(practitioner_license_no="MD2")  # MD2 filed H1 as a multi-site
    assert rule.check(multi_site, w.reference(), w.policy()) == []
    host_doctor = _visit()  # MD1's primary is P1, H1's host
    assert rule.check(host_doctor, w.reference(), w.policy()) == []
    standalone = w.subject(
        w.CONSULTATION, institution=replace(w.HOSPITAL, host_institution_code=None)
    )
    assert rule.check(standalone, w.reference(), w.policy())


def test_the_price_in_force_on_the_charge_date_decides() -> None:
    from inspectors.reference import PriceCatalogue, dataset_version
    from inspectors.reference_files import SourceRow, parse_reference_rows

    def row(price: str, start: str, end: str) -> SourceRow:
        values = {
            "item_code": "110200001",
            "item_name": "互联网复诊诊查费",
            "unit": "次",
            "ceiling_price": price,
            "valid_from": start,
            "valid_to": end,
            "insurance_covered": "true",
        }
        return SourceRow(start, values)

    rows = parse_reference_rows(
        "prices", [row("20.00", "2026-01-01", "2026-10-31"), row("30.00", "2026-11-01", "")]
    )
    reference = replace(
        w.reference(), prices=PriceCatalogue.from_rows(dataset_version("prices", rows), rows)
    )
    rule = RULES_BY_ID["PRICE-CEILING"]
    charge = _charge(unit_price=Decimal("28.00"), amount=Decimal("28.00"))
    assert rule.check(charge, reference, w.policy()) == []  # November: ceiling 30
    october = _charge(
        unit_price=Decimal("28.00"),
        amount=Decimal("28.00"),
        charged_at=w.START.replace(month=10),
    )
    assert rule.check(october, reference, w.policy())


def test_child_age_is_counted_on_the_visit_day() -> None:
    rule = RULES_BY_ID["VISIT-CHILD-GUARDIAN"]
    six_tomorrow = _visit(patient_birth_date=date(2020, 11, 3), guardian_present=None)
    assert rule.check(six_tomorrow, w.reference(), w.policy())
    six_today = _visit(patient_birth_date=date(2020, 11, 2), guardian_present=None)
    assert rule.check(six_today, w.reference(), w.policy()) == []
    with_guardian = _visit(patient_birth_date=date(2023, 1, 1), guardian_present=True)
    assert rule.check(with_guardian, w.reference(), w.policy()) == []


def test_days_supply_falls_back_to_the_policy_default() -> None:
    rule = RULES_BY_ID["RX-DAYS"]
    ibuprofen = PrescriptionItem("D0002", "布洛芬片", Decimal(1), 7, Decimal("9.90"))
    assert rule.check(_rx(items=(ibuprofen,)), w.reference(), w.policy()) == []
    assert rule.check(_rx(items=(replace(ibuprofen, days_supply=8),)), w.reference(), w.policy())


def test_self_review_compares_the_reviewer_with_the_prescriber_not_the_consulting_doctor() -> None:
    """The consulting doctor (MD1) and the prescriber (MD2) differ: only the prescriber
    reviewing their own prescription is a self-review."""
    rule = RULES_BY_ID["RX-SELF-REVIEW"]
    at = w.START + timedelta(minutes=20)
    by_prescriber = _rx(prescriber_license_no="MD2", review=Review("MD2", at, "approved"))
    by_consulting = _rx(prescriber_license_no="MD2", review=Review("MD1", at, "approved"))
    assert [v.evidence for v in rule.check(by_prescriber, w.reference(), w.policy())] == [
        {"license_no": "MD2"}
    ]
    assert rule.check(by_consulting, w.reference(), w.policy()) == []
