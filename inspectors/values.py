"""Care records as typed values, parsed once from the JSON a platform submitted.

The JSON has already passed the record schema (``supervisor.intake.record_schema``), so
parsing here only converts: times to aware datetimes, dates to dates,
decimal strings to ``Decimal``. Only the fields some rule reads are kept.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any

__all__ = [
    "Charge",
    "Consultation",
    "Delivery",
    "Dispensing",
    "DispensingItem",
    "InstitutionFiling",
    "LedgerRecord",
    "NamedPractitioner",
    "PharmacyFiling",
    "Prescription",
    "PrescriptionItem",
    "PrescriptionLink",
    "PriorDiagnosis",
    "Review",
    "RosterEntry",
    "TypedRecord",
    "named_practitioners",
    "parse_record",
]

_time = datetime.fromisoformat


def _optional_time(text: str | None) -> datetime | None:
    return None if text is None else _time(text)


@dataclass(frozen=True, slots=True)
class PriorDiagnosis:
    """The document with a definite diagnosis from a physical hospital the patient showed."""

    document_type: str
    icd10: str
    institution_code: str
    date: date


@dataclass(frozen=True, slots=True)
class Consultation:
    record_id: str
    institution_code: str
    occurred_at: datetime
    practitioner_license_no: str
    department_code: str
    started_at: datetime
    visit_type: str
    prior_diagnosis: PriorDiagnosis | None
    diagnoses: tuple[str, ...]
    realname_verified_at: datetime | None
    consent_at: datetime | None
    guardian_present: bool | None
    outcome: str
    patient_birth_date: date


@dataclass(frozen=True, slots=True)
class PrescriptionItem:
    drug_code: str
    drug_name: str
    quantity: Decimal
    days_supply: int
    unit_price: Decimal
    unit: str = ""  # what ``quantity`` counts (盒, 片): quantities compare only in one unit


@dataclass(frozen=True, slots=True)
class Review:
    pharmacist_license_no: str
    reviewed_at: datetime
    result: str


@dataclass(frozen=True, slots=True)
class Prescription:
    record_id: str
    institution_code: str
    occurred_at: datetime
    consultation_record_id: str
    prescriber_license_no: str
    signed_at: datetime
    items: tuple[PrescriptionItem, ...]
    review: Review | None
    dispensed_at: datetime | None


@dataclass(frozen=True, slots=True)
class Charge:
    record_id: str
    institution_code: str
    occurred_at: datetime
    consultation_record_id: str
    item_code: str
    quantity: Decimal
    unit_price: Decimal
    amount: Decimal
    payer: str
    insurance_amount: Decimal
    charged_at: datetime


@dataclass(frozen=True, slots=True)
class InstitutionFiling:
    """An institution's filing (备案): what kind it is, its licence, its host hospital."""

    record_id: str
    institution_code: str
    occurred_at: datetime
    kind: str
    license_no: str
    license_valid_until: date
    host_institution_code: str | None


@dataclass(frozen=True, slots=True)
class RosterEntry:
    """A practitioner an institution files as working on its platform."""

    record_id: str
    institution_code: str
    occurred_at: datetime
    license_no: str
    role: str
    departments: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class PharmacyFiling:
    """A pharmacy's filing (schema version 2): its licences, online-sales filing and roster."""

    record_id: str
    institution_code: str
    occurred_at: datetime
    name: str
    kind: str  # retail | chain_store | hospital_pharmacy | platform
    license_no: str
    license_valid_until: date
    gsp_valid_until: date
    online_sales_filed: bool
    region_code: str
    parent_code: str | None
    pharmacists: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class PrescriptionLink:
    """The hospital's prescription a dispensing fills: any institution's, by its record id."""

    institution_code: str
    record_id: str


@dataclass(frozen=True, slots=True)
class DispensingItem:
    drug_code: str
    drug_name: str
    quantity: Decimal
    unit: str
    unit_price: Decimal
    batch_no: str
    expiry_date: date


@dataclass(frozen=True, slots=True)
class Dispensing:
    """A pharmacy handing out drugs (调配/发药), against a prescription or over the counter."""

    record_id: str
    institution_code: str  # the dispensing pharmacy
    occurred_at: datetime
    amends: str | None
    prescription: PrescriptionLink | None
    channel: str  # in_store | online
    pharmacist_review: Review | None
    items: tuple[DispensingItem, ...]
    dispensed_at: datetime
    payer: str
    insurance_amount: Decimal
    substitution_note: str | None
    patient_birth_date: date


@dataclass(frozen=True, slots=True)
class Delivery:
    """Drugs of one dispensing on their way to the patient (配送), by the same pharmacy."""

    record_id: str
    institution_code: str
    occurred_at: datetime
    dispensing_record_id: str
    carrier: str
    cold_chain: bool
    shipped_at: datetime
    delivered_at: datetime | None
    recipient_verified_at: datetime | None
    temperature_excursion: bool | None


TypedRecord = (
    Consultation
    | Prescription
    | Charge
    | InstitutionFiling
    | RosterEntry
    | PharmacyFiling
    | Dispensing
    | Delivery
)


@dataclass(frozen=True, slots=True)
class NamedPractitioner:
    """A practitioner a record names, in which capacity, and when they acted."""

    license_no: str
    capacity: str  # consulting | prescribing | reviewing | filed
    moment: datetime
    department_code: str | None = None
    #: For a roster filing: the role and departments the institution filed.
    filed_role: str | None = None
    filed_departments: tuple[str, ...] = ()


def named_practitioners(record: TypedRecord) -> list[NamedPractitioner]:
    if isinstance(record, Consultation):
        return [
            NamedPractitioner(
                record.practitioner_license_no,
                "consulting",
                record.started_at,
                record.department_code,
            )
        ]
    if isinstance(record, Prescription):
        named = [NamedPractitioner(record.prescriber_license_no, "prescribing", record.signed_at)]
        if record.review is not None:
            named.append(
                NamedPractitioner(
                    record.review.pharmacist_license_no, "reviewing", record.review.reviewed_at
                )
            )
        return named
    if isinstance(record, Dispensing) and record.pharmacist_review is not None:
        review = record.pharmacist_review
        return [NamedPractitioner(review.pharmacist_license_no, "reviewing", review.reviewed_at)]
    if isinstance(record, RosterEntry):
        return [
            NamedPractitioner(
                record.license_no,
                "filed",
                record.occurred_at,
                filed_role=record.role,
                filed_departments=record.departments,
            )
        ]
    return []


@dataclass(frozen=True, slots=True)
class LedgerRecord:
    """A record as the ledger holds it: its entry index and when the log received it."""

    index: int
    received_at: datetime
    record: TypedRecord


def _consultation(r: Mapping[str, Any]) -> Consultation:
    prior = r["prior_diagnosis"]
    return Consultation(
        r["record_id"],
        r["institution_code"],
        _time(r["occurred_at"]),
        r["practitioner_license_no"],
        r["department_code"],
        _time(r["started_at"]),
        r["visit_type"],
        None
        if prior is None
        else PriorDiagnosis(
            prior["document_type"],
            prior["icd10"],
            prior["institution_code"],
            date.fromisoformat(prior["date"]),
        ),
        tuple(r["diagnoses"]),
        _optional_time(r["realname_verified_at"]),
        _optional_time(r["consent_at"]),
        r["guardian_present"],
        r["outcome"],
        date.fromisoformat(r["patient"]["birth_date"]),
    )


def _prescription(r: Mapping[str, Any]) -> Prescription:
    review = r["review"]
    return Prescription(
        r["record_id"],
        r["institution_code"],
        _time(r["occurred_at"]),
        r["consultation_record_id"],
        r["prescriber_license_no"],
        _time(r["signed_at"]),
        tuple(
            PrescriptionItem(
                i["drug_code"],
                i["drug_name"],
                Decimal(i["quantity"]),
                i["days_supply"],
                Decimal(i["unit_price"]),
                i["unit"],
            )
            for i in r["items"]
        ),
        _review(review),
        _optional_time(r["dispensed_at"]),
    )


def _charge(r: Mapping[str, Any]) -> Charge:
    return Charge(
        r["record_id"],
        r["institution_code"],
        _time(r["occurred_at"]),
        r["consultation_record_id"],
        r["item_code"],
        Decimal(r["quantity"]),
        Decimal(r["unit_price"]),
        Decimal(r["amount"]),
        r["payer"],
        Decimal(r["insurance_amount"]),
        _time(r["charged_at"]),
    )


def _institution(r: Mapping[str, Any]) -> InstitutionFiling:
    return InstitutionFiling(
        r["record_id"],
        r["institution_code"],
        _time(r["occurred_at"]),
        r["kind"],
        r["license_no"],
        date.fromisoformat(r["license_valid_until"]),
        r["host_institution_code"],
    )


def _roster(r: Mapping[str, Any]) -> RosterEntry:
    return RosterEntry(
        r["record_id"],
        r["institution_code"],
        _time(r["occurred_at"]),
        r["license_no"],
        r["role"],
        tuple(r["departments"]),
    )


def _review(r: Mapping[str, Any] | None) -> Review | None:
    if r is None:
        return None
    return Review(r["pharmacist_license_no"], _time(r["reviewed_at"]), r["result"])


def _pharmacy(r: Mapping[str, Any]) -> PharmacyFiling:
    return PharmacyFiling(
        r["record_id"],
        r["institution_code"],
        _time(r["occurred_at"]),
        r["name"],
        r["kind"],
        r["license_no"],
        date.fromisoformat(r["license_valid_until"]),
        date.fromisoformat(r["gsp_valid_until"]),
        r["online_sales_filed"],
        r["region_code"],
        r["parent_code"],
        tuple(r["pharmacists"]),
    )


def _dispensing(r: Mapping[str, Any]) -> Dispensing:
    link = r["prescription"]
    return Dispensing(
        r["record_id"],
        r["institution_code"],
        _time(r["occurred_at"]),
        r.get("amends"),
        None if link is None else PrescriptionLink(link["institution_code"], link["record_id"]),
        r["channel"],
        _review(r["pharmacist_review"]),
        tuple(
            DispensingItem(
                i["drug_code"],
                i["drug_name"],
                Decimal(i["quantity"]),
                i["unit"],
                Decimal(i["unit_price"]),
                i["batch_no"],
                date.fromisoformat(i["expiry_date"]),
            )
            for i in r["items"]
        ),
        _time(r["dispensed_at"]),
        r["payer"],
        Decimal(r["insurance_amount"]),
        r["substitution_note"],
        date.fromisoformat(r["patient"]["birth_date"]),
    )


def _delivery(r: Mapping[str, Any]) -> Delivery:
    return Delivery(
        r["record_id"],
        r["institution_code"],
        _time(r["occurred_at"]),
        r["dispensing_record_id"],
        r["carrier"],
        r["cold_chain"],
        _time(r["shipped_at"]),
        _optional_time(r["delivered_at"]),
        _optional_time(r["recipient_verified_at"]),
        r["temperature_excursion"],
    )


_PARSERS: dict[str, Callable[[Mapping[str, Any]], TypedRecord]] = {
    "consultation": _consultation,
    "prescription": _prescription,
    "charge": _charge,
    "institution": _institution,
    "practitioner": _roster,
    "pharmacy": _pharmacy,
    "dispensing": _dispensing,
    "delivery": _delivery,
}


def parse_record(record: Mapping[str, Any]) -> TypedRecord:
    """The typed value of a schema-valid record (``KeyError`` for an unknown type)."""
    return _PARSERS[record["type"]](record)
