"""A small, clean world for rule tests: one internet hospital, its host, three practitioners.

Every record here passes every rule; a test changes one field and expects one rule to fire.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone
from decimal import Decimal

from inspectors.findings import Subject
from inspectors.policy import Policy, default_policy_bytes, parse_policy
from inspectors.reference import (
    DrugCatalogue,
    PractitionerRegistry,
    PriceCatalogue,
    ReferenceSnapshot,
    dataset_version,
)
from inspectors.reference_files import SourceRow, parse_reference_rows
from inspectors.values import (
    Charge,
    Consultation,
    InstitutionFiling,
    LedgerRecord,
    Prescription,
    PrescriptionItem,
    PriorDiagnosis,
    Review,
    RosterEntry,
)

CST = timezone(timedelta(hours=8))
START = datetime(2026, 11, 2, 9, 0, tzinfo=CST)
RECEIVED = START + timedelta(hours=1)

HOSPITAL = InstitutionFiling(
    "F-H1", "H1", START - timedelta(days=30), "second_name", "LIC-H1", date(2030, 1, 1), "P1"
)
CONSULTATION = Consultation(
    record_id="V1",
    institution_code="H1",
    occurred_at=START,
    practitioner_license_no="MD1",
    department_code="INTERNAL",
    started_at=START,
    visit_type="follow_up",
    prior_diagnosis=PriorDiagnosis("outpatient_record", "E11.9", "P1", date(2026, 10, 1)),
    diagnoses=("E11.65",),
    realname_verified_at=START - timedelta(seconds=30),
    consent_at=START - timedelta(seconds=20),
    guardian_present=None,
    outcome="completed",
    patient_birth_date=date(1960, 5, 1),
)
PRESCRIPTION = Prescription(
    record_id="V1-RX",
    institution_code="H1",
    occurred_at=START + timedelta(minutes=15),
    consultation_record_id="V1",
    prescriber_license_no="MD1",
    signed_at=START + timedelta(minutes=15),
    items=(PrescriptionItem("D0001", "二甲双胍缓释片", Decimal(2), 30, Decimal("32.50")),),
    review=Review("PH1", START + timedelta(minutes=20), "approved"),
    dispensed_at=START + timedelta(hours=1),
)
CHARGE = Charge(
    record_id="V1-FEE",
    institution_code="H1",
    occurred_at=START + timedelta(minutes=10),
    consultation_record_id="V1",
    item_code="110200001",
    quantity=Decimal(1),
    unit_price=Decimal("25.00"),
    amount=Decimal("25.00"),
    payer="mixed",
    insurance_amount=Decimal("15.00"),
    charged_at=START + timedelta(minutes=10),
)
ROSTER = RosterEntry("R-MD2", "H1", START - timedelta(days=1), "MD2", "physician", ("INTERNAL",))


def _rows(dataset: str, rows: list[dict[str, str]]) -> list[dict[str, object]]:
    return parse_reference_rows(dataset, [SourceRow(f"row {i}", r) for i, r in enumerate(rows)])


def _practitioner(
    license_no: str, role: str, primary: str, sites: str = "", start: str = "2010-07-01"
) -> dict[str, str]:
    return {
        "license_no": license_no,
        "name": "张伟",
        "role": role,
        "status": "active",
        "valid_from": "2015-01-01",
        "valid_to": "",
        "practice_start": start,
        "primary_institution_code": primary,
        "multi_site_institution_codes": sites,
        "departments": "INTERNAL;ENDOCRINOLOGY",
    }


REGISTRY_ROWS = _rows(
    "registry",
    [
        _practitioner("MD1", "physician", "P1"),
        _practitioner("MD2", "physician", "P9", "H1;H7"),
        _practitioner("PH1", "pharmacist", "H1"),
        _practitioner("MD3", "physician", "P1", start="2025-01-01"),
        {**_practitioner("MD4", "physician", "P1"), "status": "suspended"},
        _practitioner("NU1", "nurse", "P1"),
    ],
)
PRICE_ROWS = _rows(
    "prices",
    [
        {
            "item_code": "110200001",
            "item_name": "互联网复诊诊查费",
            "unit": "次",
            "ceiling_price": "25.00",
            "valid_from": "2026-01-01",
            "valid_to": "",
            "insurance_covered": "true",
        },
        {
            "item_code": "DELIVERY",
            "item_name": "药品配送费",
            "unit": "次",
            "ceiling_price": "20.00",
            "valid_from": "2026-01-01",
            "valid_to": "",
            "insurance_covered": "false",
        },
    ],
)
DRUG_ROWS = _rows(
    "drugs",
    [
        {
            "drug_code": "D0001",
            "drug_name": "二甲双胍缓释片",
            "category": "rx",
            "online_prescribable": "true",
            "max_days_supply": "30",
        },
        {
            "drug_code": "N0001",
            "drug_name": "盐酸吗啡片",
            "category": "narcotic",
            "online_prescribable": "false",
            "max_days_supply": "",
        },
        {
            "drug_code": "D0002",
            "drug_name": "布洛芬片",
            "category": "otc",
            "online_prescribable": "true",
            "max_days_supply": "",
        },
    ],
)


def reference() -> ReferenceSnapshot:
    return ReferenceSnapshot(
        PractitionerRegistry.from_rows(dataset_version("registry", REGISTRY_ROWS), REGISTRY_ROWS),
        PriceCatalogue.from_rows(dataset_version("prices", PRICE_ROWS), PRICE_ROWS),
        DrugCatalogue.from_rows(dataset_version("drugs", DRUG_ROWS), DRUG_ROWS),
    )


def policy() -> Policy:
    return parse_policy(default_policy_bytes())


def subject(record: object, **related: object) -> Subject:
    """A subject for ``record`` at index 10, received an hour after START, in the clean world."""
    consultation = LedgerRecord(5, RECEIVED, CONSULTATION)
    defaults: dict[str, object] = {"institution": HOSPITAL}
    if not isinstance(record, Consultation | InstitutionFiling | RosterEntry):
        defaults["consultation"] = consultation
    defaults.update(related)
    received = defaults.pop("received_at", RECEIVED)
    return Subject(LedgerRecord(10, received, record), **defaults)  # type: ignore[arg-type]
