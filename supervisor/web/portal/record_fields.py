"""A record as a regulator reads it: every schema field labelled in the reader's language,
enumerations in words, codes with the names the reference data in force gives them,
amounts in yuan, times in China Standard Time.

Pure: the reference snapshot and the labels come in, rows of text go out. The raw
canonical JSON stays on the page behind a toggle.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from inspectors.reference import ReferenceSnapshot
from supervisor.ground.china_time import PROVINCE_ZONE

__all__ = [
    "FieldRow",
    "department_names",
    "drug_category_names",
    "field_labels",
    "moment_of",
    "person_name",
    "price_item_name",
    "record_rows",
    "yuan",
]

_AMOUNTS = frozenset({"amount", "unit_price", "fee", "insurance_amount"})
#: Codes named by the institutions' registrations and the department catalogue.
_NAMED_CODES = frozenset(
    {
        "institution_code", "host_institution_code", "registered_institution_code",
        "department_code", "departments", "parent_code",
    }
)  # fmt: skip
_PRACTITIONERS = frozenset(
    {
        "practitioner_license_no",
        "prescriber_license_no",
        "pharmacist_license_no",
        "license_no",
        "pharmacists",
    }
)


@dataclass(frozen=True)
class FieldRow:
    label: str
    value: str
    depth: int = 0  # nested fields (a patient's, a prescription item's) are indented


def field_labels(_: Callable[[str], str]) -> dict[str, str]:
    """Every field of the record schema, labelled (``_`` is the reader's gettext)."""
    return {
        "type": _("Record type"), "record_id": _("Record ID"),
        "institution_code": _("Institution"), "occurred_at": _("Occurred"),
        "amends": _("Corrects record"), "patient": _("Patient"), "name": _("Name"),
        "id_type": _("ID document"), "id_number": _("ID number"), "sex": _("Sex"),
        "birth_date": _("Date of birth"), "practitioner_license_no": _("Consulting doctor"),
        "department_code": _("Department"), "visit_type": _("Visit type"),
        "channel": _("Channel"), "prior_diagnosis": _("Diagnosis at a physical hospital"),
        "document_type": _("Document"), "icd10": _("ICD-10"), "date": _("Date"),
        "diagnoses": _("Diagnoses"), "realname_verified_at": _("Doctor's real name verified"),
        "consent_at": _("Informed consent"), "guardian_present": _("Guardian present"),
        "started_at": _("Started"), "ended_at": _("Ended"), "outcome": _("Outcome"),
        "satisfaction": _("Satisfaction"), "consultation_record_id": _("Consultation"),
        "prescriber_license_no": _("Prescriber"), "signed_at": _("Signed"),
        "items": _("Items"), "drug_code": _("Drug"), "drug_name": _("Drug name"),
        "quantity": _("Quantity"), "unit": _("Unit"), "days_supply": _("Days of supply"),
        "review": _("Pharmacist review"), "pharmacist_license_no": _("Pharmacist"),
        "reviewed_at": _("Reviewed"), "result": _("Result"), "dispensed_at": _("Dispensed"),
        "delivery": _("Delivery"), "method": _("Method"), "fee": _("Fee"),
        "item_code": _("Price item"), "item_name": _("Item name"),
        "unit_price": _("Unit price"), "amount": _("Amount"), "charged_at": _("Charged"),
        "payer": _("Payer"), "insurance_amount": _("Paid by insurance"),
        "kind": _("Kind"), "license_no": _("Licence number"),
        "license_valid_until": _("Licence valid until"),
        "host_institution_code": _("Host hospital"),
        "last_inspection_date": _("Last inspection"), "role": _("Role"),
        "registered_institution_code": _("Registered at"),
        "multi_site_filed": _("Multi-site filing"), "practice_start": _("In practice since"),
        "departments": _("Departments"),
        "gsp_valid_until": _("GSP certificate valid until"),
        "online_sales_filed": _("Online sales filed"),
        "physical_address": _("Physical address"), "region_code": _("Region"),
        "parent_code": _("Chain headquarters"), "pharmacists": _("Pharmacists on duty"),
        "prescription": _("Prescription filled"),
        "pharmacist_review": _("Pharmacist review"), "batch_no": _("Batch number"),
        "expiry_date": _("Expiry date"), "substitution_note": _("Substitution note"),
        "dispensing_record_id": _("Dispensing"), "carrier": _("Carrier"),
        "cold_chain": _("Cold chain"), "shipped_at": _("Shipped"),
        "delivered_at": _("Delivered"), "recipient_verified_at": _("Recipient verified"),
        "temperature_excursion": _("Temperature excursion"),
    }  # fmt: skip


def moment_of(text: object) -> datetime | None:
    """An ISO 8601 time with its offset (None if it is not one)."""
    if not isinstance(text, str):
        return None
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return None
    return moment if moment.tzinfo is not None else None


def _time(text: str) -> str | None:
    moment = moment_of(text)
    if moment is None:
        return None
    return moment.astimezone(PROVINCE_ZONE).strftime("%Y-%m-%d %H:%M:%S")


def department_names(_: Callable[[str], str]) -> dict[str, str]:
    """诊疗科目: the department codes platforms send, by name (no reference dataset carries
    them yet; a code not here is shown as it is)."""
    return {
        "INTERNAL": _("internal medicine"), "CARDIOLOGY": _("cardiology"),
        "ENDOCRINOLOGY": _("endocrinology"), "RESPIRATORY": _("respiratory medicine"),
        "GASTROENTEROLOGY": _("gastroenterology"), "DERMATOLOGY": _("dermatology"),
        "ORTHOPAEDICS": _("orthopaedics"), "NEPHROLOGY": _("nephrology"),
        "PEDIATRICS": _("paediatrics"), "PHARMACY": _("pharmacy"),
        "GENERAL": _("general practice"), "GYNECOLOGY": _("gynaecology"),
        "PSYCHIATRY": _("psychiatry"), "NEUROLOGY": _("neurology"),
    }  # fmt: skip


def drug_category_names(_: Callable[[str], str]) -> dict[str, str]:
    """``inspectors.reference.DRUG_CATEGORIES`` as people read them."""
    return {
        "otc": _("over-the-counter drug"),
        "rx": _("prescription drug"),
        "narcotic": _("narcotic drug"),
        "psychotropic": _("psychotropic drug"),
        "toxic": _("toxic drug for medical use"),
        "radioactive": _("radioactive drug"),
        "precursor": _("drug-type precursor chemical"),
        "stimulant": _("drug containing a stimulant"),
        "other_controlled": _("other specially controlled drug"),
    }


def yuan(value: object) -> str | None:
    """An amount as the province writes it: ¥ and two decimals (None if not a number)."""
    try:
        return f"¥{Decimal(str(value)).quantize(Decimal('0.01')):,}"
    except (InvalidOperation, ValueError):
        return None


def person_name(reference: ReferenceSnapshot, licence: object) -> str:
    """A practitioner by name and licence, as the registry in force names them."""
    if not isinstance(licence, str):
        return "—"
    who = reference.registry.by_license.get(licence)
    return f"{who.name} ({licence})" if who is not None else licence


def price_item_name(
    reference: ReferenceSnapshot, code: object, day: date, sent_name: object = None
) -> str:
    """A price item by the catalogue's name on ``day`` (else the name the platform sent)."""
    if not isinstance(code, str):
        return "—"
    item = reference.prices.item_on(code, day)
    if item is None and (versions := reference.prices.by_code.get(code)):
        item = versions[-1]
    name = item.item_name if item is not None else sent_name
    return f"{name} ({code})" if name else code


def record_rows(
    record: Mapping[str, Any],
    reference: ReferenceSnapshot,
    labels: Mapping[str, str],
    value_names: Mapping[str, str],
    words: Mapping[str, str],
    *,
    names: Mapping[str, str] | None = None,
) -> list[FieldRow]:
    """The record's fields as labelled rows. ``words`` has ``yes``, ``no`` and ``cst``;
    ``names`` names institution and department codes. ``reference`` is the data in force
    when the ledger received the record, so a doctor renamed since reads as they were."""
    names = names or {}
    rows: list[FieldRow] = []
    moment = moment_of(record.get("occurred_at"))
    day = moment.date() if moment is not None else None

    def shown(key: str, value: object) -> str:
        if isinstance(value, bool):
            return words["yes"] if value else words["no"]
        if key in _AMOUNTS and (money := yuan(value)) is not None:
            return money
        if isinstance(value, str):
            if key.endswith("_at") and (moment := _time(value)) is not None:
                return f"{moment} {words['cst']}"
            if key in _PRACTITIONERS:
                return person_name(reference, value)
            if key == "drug_code" and (drug := reference.drugs.by_code.get(value)):
                return f"{drug.drug_name} ({value})"
            if key == "item_code" and day is not None:
                return price_item_name(reference, value, day)
            if key in _NAMED_CODES and (name := names.get(value)):
                return f"{name} ({value})"
            return value_names.get(value, value)
        return str(value)

    def add(mapping: Mapping[str, Any], depth: int) -> None:
        for key, value in mapping.items():
            label = labels.get(key, key)
            if isinstance(value, Mapping):
                rows.append(FieldRow(label, "", depth))
                add(value, depth + 1)
            elif isinstance(value, list) and value and isinstance(value[0], Mapping):
                for number, item in enumerate(value, start=1):
                    rows.append(FieldRow(f"{label} {number}", "", depth))
                    add(item, depth + 1)
            elif isinstance(value, list):
                rows.append(FieldRow(label, ", ".join(shown(key, v) for v in value), depth))
            elif value is None:
                rows.append(FieldRow(label, "—", depth))
            else:
                rows.append(FieldRow(label, shown(key, value), depth))

    add(record, 0)
    return rows
