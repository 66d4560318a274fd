"""The care records platforms must transmit: their versioned JSON Schema and its validator.

One JSON Schema per record type, compiled once with fastjsonschema. Version 1
has ``consultation``, ``prescription``, ``charge``, ``practitioner`` and
``institution``; version 2 adds what pharmacies send (``pharmacy``,
``dispensing``, ``delivery``) and changes none of version 1's types, so every
version-1 record is a valid version-2 record and nothing already accepted
changes meaning. The published documents (``GET /api/v1/schema``) are built
from the same definitions, so what is served is what is enforced. Amounts
are decimal strings in yuan, times RFC 3339 with an offset, dates ISO dates;
the patterns check the shape and ``_semantic_problems`` the calendar.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

import fastjsonschema

__all__ = [
    "DATE_TIME_PATTERN",
    "RECORD_TYPES",
    "SCHEMA_ID",
    "SCHEMA_IDS",
    "SCHEMA_VERSIONS",
    "TYPES_OF_VERSION",
    "RecordProblem",
    "published_schema",
    "record_definitions",
    "record_problems",
    "record_union",
    "schema_versions_document",
]

SCHEMA_IDS = {
    1: "https://careledger.local/schemas/records/v1",
    2: "https://careledger.local/schemas/records/v2",
}
SCHEMA_VERSIONS = tuple(SCHEMA_IDS)
LATEST_VERSION = SCHEMA_VERSIONS[-1]
SCHEMA_ID = SCHEMA_IDS[1]  # version 1's id, as published since the start

_CODE = {"type": "string", "pattern": r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$"}
_RECORD_ID = {"type": "string", "pattern": r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$"}
_TEXT = {"type": "string", "minLength": 1, "maxLength": 200}
_DECIMAL_YUAN = {
    "type": "string",
    "pattern": r"^(0|[1-9][0-9]{0,11})(\.[0-9]{1,4})?$",
    "description": 'a non-negative decimal string in yuan, e.g. "25.00" (not a JSON number).',
}
_QUANTITY = {
    "type": "string",
    "pattern": r"^(0|[1-9][0-9]{0,8})(\.[0-9]{1,4})?$",
    "description": "a non-negative decimal string",
}
DATE_TIME_PATTERN = (
    r"^[0-9]{4}-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])"
    r"T([01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9](\.[0-9]{1,6})?"
    r"(Z|[+-]([01][0-9]|2[0-3]):[0-5][0-9])$"
)
_DATE_TIME = {
    "type": "string",
    "pattern": DATE_TIME_PATTERN,
    "description": "an RFC 3339 date-time with an offset, e.g. 2026-11-23T09:30:00+08:00",
}
_DATE = {"type": "string", "pattern": r"^[0-9]{4}-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])$"}
_ICD10 = {"type": "string", "pattern": r"^[A-Z][0-9]{2}(\.[0-9A-Z]{1,4})?$"}
_ID_NUMBER = {"type": "string", "minLength": 1, "maxLength": 64}
_CODES = {"type": "array", "items": _CODE, "maxItems": 200}


def _nullable(schema: Mapping[str, Any]) -> dict[str, Any]:
    return {"anyOf": [dict(schema), {"type": "null"}]}


def _record(record_type: str, fields: dict[str, Any], required: Sequence[str]) -> dict[str, Any]:
    """A record type: the common fields plus its own, nothing else."""
    common = {
        "type": {"const": record_type},
        "record_id": _RECORD_ID,
        "institution_code": _CODE,
        "occurred_at": _DATE_TIME,
        "amends": _RECORD_ID,
    }
    return {
        "type": "object",
        "properties": {**common, **fields},
        "required": ["type", "record_id", "institution_code", "occurred_at", *required],
        "additionalProperties": False,
    }


_PATIENT = {
    "type": "object",
    "properties": {
        "id_type": {
            "enum": ["resident_id", "passport", "hk_macao_permit", "taiwan_permit", "other"]
        },
        "id_number": _ID_NUMBER,
        "name": _TEXT,
        "birth_date": _DATE,
        "sex": {"enum": ["male", "female", "unknown"]},
    },
    "required": ["id_type", "id_number", "name", "birth_date", "sex"],
    "additionalProperties": False,
}

_PRIOR_DIAGNOSIS = {
    "type": "object",
    "properties": {
        "document_type": {
            "enum": [
                "outpatient_record",
                "inpatient_record",
                "discharge_summary",
                "diagnosis_certificate",
            ]
        },
        "icd10": _ICD10,
        "institution_code": _CODE,
        "date": _DATE,
    },
    "required": ["document_type", "icd10", "institution_code", "date"],
    "additionalProperties": False,
}

_PRESCRIPTION_ITEM = {
    "type": "object",
    "properties": {
        "drug_code": _CODE,
        "drug_name": _TEXT,
        "quantity": _QUANTITY,
        "unit": {"type": "string", "minLength": 1, "maxLength": 20},
        "days_supply": {"type": "integer", "minimum": 1, "maximum": 366},
        "unit_price": _DECIMAL_YUAN,
    },
    "required": ["drug_code", "drug_name", "quantity", "unit", "days_supply", "unit_price"],
    "additionalProperties": False,
}

_REVIEW = {
    "type": "object",
    "properties": {
        "pharmacist_license_no": _CODE,
        "reviewed_at": _DATE_TIME,
        "result": {"enum": ["approved", "rejected"]},
    },
    "required": ["pharmacist_license_no", "reviewed_at", "result"],
    "additionalProperties": False,
}

_DELIVERY = {
    "type": "object",
    "properties": {
        "method": {"enum": ["pharmacy_pickup", "home_delivery", "hospital_pharmacy"]},
        "fee": _DECIMAL_YUAN,
    },
    "required": ["method", "fee"],
    "additionalProperties": False,
}

_DEFINITIONS: dict[str, dict[str, Any]] = {
    "institution": _record(
        "institution",
        {
            "name": _TEXT,
            "kind": {"enum": ["second_name", "standalone", "platform"]},
            "license_no": _CODE,
            "license_valid_until": _DATE,
            "host_institution_code": _nullable(_CODE),
            "departments": _CODES,
            "last_inspection_date": _nullable(_DATE),
        },
        [
            "name",
            "kind",
            "license_no",
            "license_valid_until",
            "host_institution_code",
            "departments",
            "last_inspection_date",
        ],
    ),
    "practitioner": _record(
        "practitioner",
        {
            "license_no": _CODE,
            "name": _TEXT,
            "role": {"enum": ["physician", "pharmacist", "nurse"]},
            "id_number": _ID_NUMBER,
            "practice_start": _DATE,
            "registered_institution_code": _CODE,
            "multi_site_filed": {"type": "boolean"},
            "departments": _CODES,
        },
        [
            "license_no",
            "name",
            "role",
            "id_number",
            "practice_start",
            "registered_institution_code",
            "multi_site_filed",
            "departments",
        ],
    ),
    "consultation": _record(
        "consultation",
        {
            "patient": _PATIENT,
            "practitioner_license_no": _CODE,
            "department_code": _CODE,
            "started_at": _DATE_TIME,
            "ended_at": _DATE_TIME,
            "channel": {"enum": ["text", "voice", "video"]},
            "visit_type": {"enum": ["follow_up", "first_visit"]},
            "prior_diagnosis": _nullable(_PRIOR_DIAGNOSIS),
            "diagnoses": {"type": "array", "items": _ICD10, "minItems": 1, "maxItems": 50},
            "realname_verified_at": _nullable(_DATE_TIME),
            "consent_at": _nullable(_DATE_TIME),
            "guardian_present": {"type": ["boolean", "null"]},
            "outcome": {"enum": ["completed", "terminated_referred"]},
            "satisfaction": {"type": "integer", "minimum": 1, "maximum": 5},
        },
        [
            "patient",
            "practitioner_license_no",
            "department_code",
            "started_at",
            "ended_at",
            "channel",
            "visit_type",
            "prior_diagnosis",
            "diagnoses",
            "realname_verified_at",
            "consent_at",
            "guardian_present",
            "outcome",
        ],
    ),
    "prescription": _record(
        "prescription",
        {
            "consultation_record_id": _RECORD_ID,
            "prescriber_license_no": _CODE,
            "signed_at": _DATE_TIME,
            "items": {"type": "array", "items": _PRESCRIPTION_ITEM, "minItems": 1, "maxItems": 100},
            "review": _nullable(_REVIEW),
            "dispensed_at": _nullable(_DATE_TIME),
            "delivery": _nullable(_DELIVERY),
        },
        [
            "consultation_record_id",
            "prescriber_license_no",
            "signed_at",
            "items",
            "review",
            "dispensed_at",
            "delivery",
        ],
    ),
    "charge": _record(
        "charge",
        {
            "consultation_record_id": _RECORD_ID,
            "item_code": _CODE,
            "item_name": _TEXT,
            "quantity": _QUANTITY,
            "unit_price": _DECIMAL_YUAN,
            "amount": _DECIMAL_YUAN,
            "payer": {"enum": ["self", "insurance", "mixed"]},
            "insurance_amount": _DECIMAL_YUAN,
            "charged_at": _DATE_TIME,
        },
        [
            "consultation_record_id",
            "item_code",
            "item_name",
            "quantity",
            "unit_price",
            "amount",
            "payer",
            "insurance_amount",
            "charged_at",
        ],
    ),
}

_V1_TYPES = tuple(_DEFINITIONS)

_LINK = {
    "type": "object",
    "properties": {"institution_code": _CODE, "record_id": _RECORD_ID},
    "required": ["institution_code", "record_id"],
    "additionalProperties": False,
}

_NOTE = {"type": "string", "minLength": 1, "maxLength": 500}

_DISPENSED_ITEM = {
    "type": "object",
    "properties": {
        "drug_code": _CODE,
        "drug_name": _TEXT,
        "quantity": _QUANTITY,
        "unit": {"type": "string", "minLength": 1, "maxLength": 20},
        "unit_price": _DECIMAL_YUAN,
        "batch_no": {"type": "string", "minLength": 1, "maxLength": 64},
        "expiry_date": _DATE,
    },
    "required": [
        "drug_code",
        "drug_name",
        "quantity",
        "unit",
        "unit_price",
        "batch_no",
        "expiry_date",
    ],
    "additionalProperties": False,
}

_DEFINITIONS.update(
    {
        "pharmacy": _record(
            "pharmacy",
            {
                "name": _TEXT,
                "kind": {"enum": ["retail", "chain_store", "hospital_pharmacy", "platform"]},
                "license_no": _CODE,
                "license_valid_until": _DATE,
                "gsp_valid_until": _DATE,
                "online_sales_filed": {"type": "boolean"},
                "physical_address": _TEXT,
                "region_code": {"type": "string", "pattern": "^[0-9]{6}$"},
                "parent_code": _nullable(_CODE),
                "pharmacists": _CODES,
            },
            [
                "name",
                "kind",
                "license_no",
                "license_valid_until",
                "gsp_valid_until",
                "online_sales_filed",
                "physical_address",
                "region_code",
                "parent_code",
                "pharmacists",
            ],
        ),
        "dispensing": _record(
            "dispensing",
            {
                "prescription": _nullable(_LINK),
                "patient": _PATIENT,
                "channel": {"enum": ["in_store", "online"]},
                "pharmacist_review": _nullable(_REVIEW),
                "items": {
                    "type": "array",
                    "items": _DISPENSED_ITEM,
                    "minItems": 1,
                    "maxItems": 100,
                },
                "dispensed_at": _DATE_TIME,
                "payer": {"enum": ["self", "insurance", "mixed"]},
                "insurance_amount": _DECIMAL_YUAN,
                "substitution_note": _nullable(
                    {"type": "string", "minLength": 1, "maxLength": 500}
                ),
            },
            [
                "prescription",
                "patient",
                "channel",
                "pharmacist_review",
                "items",
                "dispensed_at",
                "payer",
                "insurance_amount",
                "substitution_note",
            ],
        ),
        "delivery": _record(
            "delivery",
            {
                "dispensing_record_id": _RECORD_ID,
                "carrier": _TEXT,
                "cold_chain": {"type": "boolean"},
                "shipped_at": _DATE_TIME,
                "delivered_at": _nullable(_DATE_TIME),
                "recipient_verified_at": _nullable(_DATE_TIME),
                "temperature_excursion": {"type": ["boolean", "null"]},
            },
            [
                "dispensing_record_id",
                "carrier",
                "cold_chain",
                "shipped_at",
                "delivered_at",
                "recipient_verified_at",
                "temperature_excursion",
            ],
        ),
    }
)

RECORD_TYPES: tuple[str, ...] = tuple(_DEFINITIONS)
#: The record types of each schema version: later versions only add types.
TYPES_OF_VERSION: dict[int, tuple[str, ...]] = {1: _V1_TYPES, 2: RECORD_TYPES}


def record_definitions(version: int = LATEST_VERSION) -> dict[str, dict[str, Any]]:
    """Each record type's schema in a schema version, by type name (a copy)."""
    return {name: copy.deepcopy(_DEFINITIONS[name]) for name in TYPES_OF_VERSION[version]}


def record_union(ref_base: str, version: int = LATEST_VERSION) -> dict[str, Any]:
    """A schema accepting any record type of a version, referring to the definitions under
    ``ref_base``."""
    names = TYPES_OF_VERSION[version]
    return {
        "type": "object",
        "required": ["type"],
        "properties": {"type": {"enum": list(names)}},
        "oneOf": [{"$ref": f"{ref_base}{name}"} for name in names],
    }


def published_schema(version: int = 1) -> dict[str, Any]:
    """The JSON Schema (2020-12) of one record of a schema version, as served at
    ``GET /api/v1/schema?version=N``. Version 1's document is the one published since
    the start, unchanged."""
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": SCHEMA_IDS[version],
        "title": f"careledger care record, version {version}",
        **record_union("#/$defs/", version),
        "$defs": record_definitions(version),
    }


def schema_versions_document() -> dict[str, Any]:
    """What ``GET /api/v1/schema`` serves: the latest version's schema, which accepts a
    record of any version (later versions only add types), annotated with every version
    and the record types each has; ``?version=N`` serves one version alone."""
    return {
        **published_schema(LATEST_VERSION),
        "x-schema-versions": {
            str(version): {
                "$id": SCHEMA_IDS[version],
                "record_types": list(TYPES_OF_VERSION[version]),
                "url": f"/api/v1/schema?version={version}",
            }
            for version in SCHEMA_VERSIONS
        },
    }


def _compile(schema: Mapping[str, Any]) -> Callable[[Any], Any]:
    return fastjsonschema.compile({"$schema": "http://json-schema.org/draft-07/schema#", **schema})


_VALIDATORS = {name: _compile(schema) for name, schema in _DEFINITIONS.items()}


@dataclass(frozen=True)
class RecordProblem:
    """Why one record was refused: a JSON pointer into the batch and a sentence."""

    pointer: str
    detail: str


def _pointer(parts: Sequence[object]) -> str:
    return "".join("/" + str(p).replace("~", "~0").replace("/", "~1") for p in parts)


#: A step into a record: an object key, or ``None`` for every item of an array.
_Step = str | None


def _calendar_fields(
    schema: Mapping[str, Any], path: tuple[_Step, ...] = ()
) -> list[tuple[tuple[_Step, ...], Callable[[str], object]]]:
    """Where a schema puts dates and date-times, found once from the definitions."""
    pattern = schema.get("pattern")
    if pattern == DATE_TIME_PATTERN:
        return [(path, datetime.fromisoformat)]
    if pattern == _DATE["pattern"]:
        return [(path, date.fromisoformat)]
    found = []
    for name, child in schema.get("properties", {}).items():
        found += _calendar_fields(child, (*path, name))
    if "items" in schema:
        found += _calendar_fields(schema["items"], (*path, None))
    for choice in schema.get("anyOf", []):
        found += _calendar_fields(choice, path)
    return found


_CALENDAR_FIELDS = {name: _calendar_fields(schema) for name, schema in _DEFINITIONS.items()}


def _values_at(
    value: Any, path: Sequence[_Step], trail: tuple[object, ...]
) -> Iterator[tuple[tuple[object, ...], Any]]:
    if not path:
        yield trail, value
        return
    step, rest = path[0], path[1:]
    if step is None and isinstance(value, list):
        for position, item in enumerate(value):
            yield from _values_at(item, rest, (*trail, position))
    elif isinstance(value, dict) and step in value:
        yield from _values_at(value[step], rest, (*trail, step))


def _semantic_problems(record: Mapping[str, Any], base: tuple[object, ...]) -> list[RecordProblem]:
    """Dates and times that match the pattern but not the calendar (2026-02-30).

    Requires ``record`` to have passed its type's schema.
    """
    problems = []
    for path, parse in _CALENDAR_FIELDS[record["type"]]:
        for trail, text in _values_at(record, path, base):
            if not isinstance(text, str):
                continue  # null where the schema allows it
            try:
                parse(text)
            except ValueError:
                problems.append(RecordProblem(_pointer(trail), f"{text!r} is not a valid date"))
    return problems


def record_problems(record: Any, position: int) -> list[RecordProblem]:
    """Problems of record ``position`` of a batch (empty when it is valid).

    Pointers are relative to the envelope: ``/records/<position>/...``.
    """
    base: tuple[object, ...] = ("records", position)
    if not isinstance(record, dict):
        return [RecordProblem(_pointer(base), "a record must be a JSON object")]
    record_type = record.get("type")
    validator = _VALIDATORS.get(record_type) if isinstance(record_type, str) else None
    if validator is None:
        return [
            RecordProblem(
                _pointer((*base, "type")),
                f"unknown record type {record_type!r}; expected one of {', '.join(RECORD_TYPES)}",
            )
        ]
    try:
        validator(record)
    except fastjsonschema.JsonSchemaValueException as e:
        # e.path is ["data", key, index, ...]: drop the root name.
        where = _pointer((*base, *e.path[1:]))
        return [RecordProblem(where, _readable(e))]
    return _semantic_problems(record, base)


def _readable(error: fastjsonschema.JsonSchemaValueException) -> str:
    """fastjsonschema's message, with its internal root name replaced by the field's name."""
    name = str(error.path[-1]) if len(error.path) > 1 else "record"
    message = str(error.message).replace(str(error.name), name, 1)
    if error.rule in ("pattern", "type") and isinstance(error.definition, dict):
        described = error.definition.get("description")
        if described:
            return f"{name} must be {described}"
    if error.rule == "additionalProperties":
        return f"{message} (fields not in the schema are refused)"
    return message
