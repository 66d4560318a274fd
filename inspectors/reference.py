"""Reference data the rules check records against, as typed, versioned snapshots.

Three datasets, each imported whole by the regulator: the practitioner
registry (医师（药师）执业注册信息, with multi-site filings), the price
catalogue and the drug catalogue. A dataset's version is the SHA-256 of its
canonical rows, so the same rows always have the same version wherever they
came from (CSV or the directory), and a finding names exactly what it used.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from hashlib import sha256
from typing import Any

from ledger.canonical import canonical_json

__all__ = [
    "DATASETS",
    "DRUG_CATEGORIES",
    "PRACTITIONER_ROLES",
    "PRACTITIONER_STATUSES",
    "Drug",
    "DrugCatalogue",
    "PractitionerRegistry",
    "PriceCatalogue",
    "PriceItem",
    "ReferenceSnapshot",
    "RegisteredPractitioner",
    "dataset_from_rows",
    "dataset_version",
]

DATASETS = ("registry", "prices", "drugs")
PRACTITIONER_ROLES = ("physician", "pharmacist", "nurse", "technician")
PRACTITIONER_STATUSES = ("active", "suspended", "revoked", "expired")
#: 特殊管理药品 and the rest; ``online_prescribable`` in the catalogue decides, not the category.
DRUG_CATEGORIES = (
    "otc",
    "rx",
    "narcotic",
    "psychotropic",
    "toxic",
    "radioactive",
    "precursor",
    "stimulant",
    "other_controlled",
)


def _within(day: date, first: date, last: date | None) -> bool:
    """Whether ``day`` lies in a validity window (``last`` None: open-ended)."""
    return first <= day and (last is None or day <= last)


@dataclass(frozen=True, slots=True)
class RegisteredPractitioner:
    license_no: str
    name: str
    role: str
    status: str
    valid_from: date
    valid_to: date | None
    practice_start: date
    primary_institution_code: str
    multi_site_institution_codes: frozenset[str]
    departments: frozenset[str]

    def valid_on(self, day: date) -> bool:
        return _within(day, self.valid_from, self.valid_to)


@dataclass(frozen=True, slots=True)
class PriceItem:
    item_code: str
    item_name: str
    unit: str
    ceiling_price: Decimal
    valid_from: date
    valid_to: date | None
    insurance_covered: bool

    def valid_on(self, day: date) -> bool:
        return _within(day, self.valid_from, self.valid_to)


@dataclass(frozen=True, slots=True)
class Drug:
    drug_code: str
    drug_name: str
    category: str
    online_prescribable: bool
    max_days_supply: int | None
    #: Kept and shipped at 2–8 °C (冷链). Rows carry it only when true: catalogue versions
    #: from before the column read as false and keep their versions.
    cold_chain: bool = False


def dataset_version(dataset: str, rows: Sequence[Mapping[str, Any]]) -> str:
    """The version of a dataset: SHA-256 hex of the canonical JSON of its name and rows."""
    return sha256(canonical_json({"dataset": dataset, "rows": list(rows)})).hexdigest()


def _day(text: str) -> date:
    return date.fromisoformat(text)


def _optional_day(text: str | None) -> date | None:
    return None if not text else date.fromisoformat(text)


@dataclass(frozen=True)
class PractitionerRegistry:
    version: str
    by_license: Mapping[str, RegisteredPractitioner]

    @classmethod
    def from_rows(cls, version: str, rows: Iterable[Mapping[str, Any]]) -> PractitionerRegistry:
        entries = {}
        for row in rows:
            entries[row["license_no"]] = RegisteredPractitioner(
                row["license_no"],
                row["name"],
                row["role"],
                row["status"],
                _day(row["valid_from"]),
                _optional_day(row["valid_to"]),
                _day(row["practice_start"]),
                row["primary_institution_code"],
                frozenset(row["multi_site_institution_codes"]),
                frozenset(row["departments"]),
            )
        return cls(version, entries)


@dataclass(frozen=True)
class PriceCatalogue:
    version: str
    by_code: Mapping[str, tuple[PriceItem, ...]]

    @classmethod
    def from_rows(cls, version: str, rows: Iterable[Mapping[str, Any]]) -> PriceCatalogue:
        grouped: dict[str, list[PriceItem]] = {}
        for row in rows:
            grouped.setdefault(row["item_code"], []).append(
                PriceItem(
                    row["item_code"],
                    row["item_name"],
                    row["unit"],
                    Decimal(row["ceiling_price"]),
                    _day(row["valid_from"]),
                    _optional_day(row["valid_to"]),
                    row["insurance_covered"],
                )
            )
        return cls(version, {code: tuple(items) for code, items in grouped.items()})

    def item_on(self, item_code: str, day: date) -> PriceItem | None:
        """The catalogue entry for ``item_code`` in force on ``day`` (windows never overlap)."""
        for item in self.by_code.get(item_code, ()):
            if item.valid_on(day):
                return item
        return None


@dataclass(frozen=True)
class DrugCatalogue:
    version: str
    by_code: Mapping[str, Drug]

    @classmethod
    def from_rows(cls, version: str, rows: Iterable[Mapping[str, Any]]) -> DrugCatalogue:
        return cls(
            version,
            {
                row["drug_code"]: Drug(
                    row["drug_code"],
                    row["drug_name"],
                    row["category"],
                    row["online_prescribable"],
                    row["max_days_supply"],
                    row.get("cold_chain", False),
                )
                for row in rows
            },
        )


_EMPTY = "0" * 64  # the version of "never imported"


@dataclass(frozen=True)
class ReferenceSnapshot:
    """The reference data in force for one inspection run (empty datasets if never imported)."""

    registry: PractitionerRegistry = field(default_factory=lambda: PractitionerRegistry(_EMPTY, {}))
    prices: PriceCatalogue = field(default_factory=lambda: PriceCatalogue(_EMPTY, {}))
    drugs: DrugCatalogue = field(default_factory=lambda: DrugCatalogue(_EMPTY, {}))

    def versions(self) -> dict[str, str]:
        return {
            "drugs": self.drugs.version,
            "prices": self.prices.version,
            "registry": self.registry.version,
        }


def dataset_from_rows(
    dataset: str, rows: Sequence[Mapping[str, Any]], version: str | None = None
) -> PractitionerRegistry | PriceCatalogue | DrugCatalogue:
    """The typed dataset of canonical rows (as stored in a reference entry)."""
    version = version or dataset_version(dataset, rows)
    if dataset == "registry":
        return PractitionerRegistry.from_rows(version, rows)
    if dataset == "prices":
        return PriceCatalogue.from_rows(version, rows)
    if dataset == "drugs":
        return DrugCatalogue.from_rows(version, rows)
    raise ValueError(f"unknown reference dataset {dataset!r}")
