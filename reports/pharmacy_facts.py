"""What pharmacy reports are computed from: filings, dispensings and deliveries up to one
tree size, with the drug catalogue in force when each dispensing entered the ledger.

Fed by ``reports.facts.FactsBuilder`` in ledger order, from the same opened record
documents as every other fact (schema version 2: ``pharmacy``, ``dispensing``,
``delivery``; the fields of ``inspectors.values.PharmacyFiling``, ``Dispensing`` and
``Delivery``). Dispensings and deliveries are kept column by column, a few bytes each,
so a province's year fits in memory; nothing here reads a database.
"""

from __future__ import annotations

from array import array
from bisect import bisect_left, bisect_right
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from .periods import day_number

__all__ = [
    "APPROVED",
    "COLD_CHAIN_SHIPPED",
    "COLD_DRUG",
    "DELIVERED",
    "EXCURSION",
    "LINKED",
    "ONLINE",
    "RX_DRUG",
    "VERIFIED",
    "DrugCatalogueFact",
    "PharmacyFacts",
    "PharmacyFactsBuilder",
    "PharmacyFilingFact",
]

# Dispensing flags.
LINKED = 1  # it names a hospital's prescription
RX_DRUG = 2  # an item the catalogue in force does not list as over the counter
COLD_DRUG = 4  # an item the catalogue in force marks cold-chain
ONLINE = 8  # channel "online"
APPROVED = 16  # a pharmacist review with result "approved"
# Delivery flags.
COLD_CHAIN_SHIPPED = 1
DELIVERED = 2
VERIFIED = 4  # recipient_verified_at is set
EXCURSION = 8  # temperature_excursion is true

_OTC = "otc"


@dataclass(frozen=True, slots=True)
class PharmacyFilingFact:
    """One ``pharmacy`` record: who the pharmacy is and who is on its roster."""

    index: int
    name: str
    kind: str  # retail | chain_store | hospital_pharmacy | platform
    parent_code: str | None
    region_code: str
    license_valid_until: date
    gsp_valid_until: date
    online_sales_filed: bool
    pharmacists: frozenset[str]


@dataclass(frozen=True, slots=True)
class DrugCatalogueFact:
    """A drug catalogue version as a report needs it: which drugs are over the counter
    (category ``otc``; every other category, and a drug it does not list, needs a
    prescription) and which travel cold (the optional ``cold_chain`` column)."""

    index: int
    over_the_counter: frozenset[str]
    cold_chain: frozenset[str]

    @classmethod
    def from_rows(cls, index: int, rows: Iterable[Mapping[str, Any]]) -> DrugCatalogueFact:
        listed = list(rows)
        return cls(
            index,
            frozenset(str(r["drug_code"]) for r in listed if r.get("category") == _OTC),
            frozenset(str(r["drug_code"]) for r in listed if r.get("cold_chain") is True),
        )


_NO_CATALOGUE = DrugCatalogueFact(-1, frozenset(), frozenset())


@dataclass
class PharmacyFacts:
    """Pharmacies' records up to the checkpoint.

    Invariants: ``dispensing_index`` and ``delivery_index`` are strictly increasing (ledger
    order), every column has one value per slot, ``delivery_dispensing`` holds the slot of
    the live version of each delivery's dispensing (-1: not in the ledger), and each
    pharmacy's filings are in ledger order.
    """

    codes: list[str] = field(default_factory=list)
    pharmacists: list[str] = field(default_factory=list)
    filings: dict[str, list[PharmacyFilingFact]] = field(default_factory=dict)
    catalogues: list[DrugCatalogueFact] = field(default_factory=list)
    dispensing_index: array[int] = field(default_factory=lambda: array("q"))
    dispensing_pharmacy: array[int] = field(default_factory=lambda: array("i"))
    dispensing_day: array[int] = field(default_factory=lambda: array("i"))
    dispensing_flags: array[int] = field(default_factory=lambda: array("b"))
    dispensing_reviewer: array[int] = field(default_factory=lambda: array("i"))
    dispensing_superseded: set[int] = field(default_factory=set)
    delivery_index: array[int] = field(default_factory=lambda: array("q"))
    delivery_pharmacy: array[int] = field(default_factory=lambda: array("i"))
    delivery_day: array[int] = field(default_factory=lambda: array("i"))
    delivery_flags: array[int] = field(default_factory=lambda: array("b"))
    delivery_dispensing: array[int] = field(default_factory=lambda: array("i"))
    delivery_superseded: set[int] = field(default_factory=set)

    def dispensing_slot(self, entry_index: int) -> int | None:
        slot = bisect_left(self.dispensing_index, entry_index)
        if slot < len(self.dispensing_index) and self.dispensing_index[slot] == entry_index:
            return slot
        return None

    def delivery_slot(self, entry_index: int) -> int | None:
        slot = bisect_left(self.delivery_index, entry_index)
        if slot < len(self.delivery_index) and self.delivery_index[slot] == entry_index:
            return slot
        return None

    def pharmacy_codes(self) -> set[str]:
        """Every code that filed as a pharmacy or dispensed or delivered."""
        return set(self.filings) | set(self.codes)

    def latest_filing(self, code: str) -> PharmacyFilingFact | None:
        filed = self.filings.get(code)
        return filed[-1] if filed else None

    def filing_for(self, code: str, entry_index: int) -> PharmacyFilingFact | None:
        """The filing a record is judged by, as the inspector judges it: the latest before
        it in the ledger, else the pharmacy's first."""
        filed = self.filings.get(code)
        if not filed:
            return None
        before = bisect_right([f.index for f in filed], entry_index)
        return filed[before - 1] if before else filed[0]

    def name(self, code: str) -> str:
        filing = self.latest_filing(code)
        return filing.name if filing is not None else code

    def kind(self, code: str) -> str:
        filing = self.latest_filing(code)
        return filing.kind if filing is not None else "unknown"

    def reviewer_rostered(self, slot: int) -> bool:
        """Whether the dispensing's reviewer is on the roster of the filing it is judged by."""
        reviewer = self.dispensing_reviewer[slot]
        if reviewer < 0:
            return False
        code = self.codes[self.dispensing_pharmacy[slot]]
        filing = self.filing_for(code, self.dispensing_index[slot])
        return filing is not None and self.pharmacists[reviewer] in filing.pharmacists

    def pharmacies_of(self, indices: Sequence[int]) -> list[str]:
        """The pharmacies whose dispensings are among ``indices`` (sorted, each once)."""
        codes = set()
        for index in indices:
            slot = self.dispensing_slot(index)
            if slot is not None:
                codes.add(self.codes[self.dispensing_pharmacy[slot]])
        return sorted(codes)

    def dispensings_among(self, indices: Sequence[int]) -> int:
        return sum(self.dispensing_slot(i) is not None for i in indices)


def _time(text: str) -> datetime:
    return datetime.fromisoformat(text)


class PharmacyFactsBuilder:
    """Feeds pharmacy records and drug catalogues, in ledger order, into ``PharmacyFacts``."""

    def __init__(self) -> None:
        self.facts = PharmacyFacts()
        self._pharmacy_ids: dict[str, int] = {}
        self._pharmacist_ids: dict[str, int] = {}
        self._dispensing_slot: dict[str, int] = {}  # pharmacy \0 record id -> slot
        self._replaced_by: dict[int, int] = {}  # dispensing slot -> the slot amending it
        self._delivery_slot: dict[str, int] = {}
        self._delivery_target: list[str] = []  # per delivery slot: its dispensing's key

    def _pharmacy_id(self, code: str) -> int:
        found = self._pharmacy_ids.get(code)
        if found is None:
            found = self._pharmacy_ids[code] = len(self.facts.codes)
            self.facts.codes.append(code)
        return found

    def _pharmacist_id(self, licence: str) -> int:
        found = self._pharmacist_ids.get(licence)
        if found is None:
            found = self._pharmacist_ids[licence] = len(self.facts.pharmacists)
            self.facts.pharmacists.append(licence)
        return found

    @property
    def _catalogue(self) -> DrugCatalogueFact:
        return self.facts.catalogues[-1] if self.facts.catalogues else _NO_CATALOGUE

    def add_catalogue(self, index: int, rows: Iterable[Mapping[str, Any]]) -> None:
        """A ``reference.drugs`` version: in force for the dispensings after it."""
        self.facts.catalogues.append(DrugCatalogueFact.from_rows(index, rows))

    def add(self, index: int, record: Mapping[str, Any]) -> bool:
        """A record of schema version 2; False when ``record`` is of another type."""
        record_type = record["type"]
        if record_type == "pharmacy":
            self._add_filing(index, record)
        elif record_type == "dispensing":
            self._add_dispensing(index, record)
        elif record_type == "delivery":
            self._add_delivery(index, record)
        else:
            return False
        return True

    def _add_filing(self, index: int, r: Mapping[str, Any]) -> None:
        self.facts.filings.setdefault(r["institution_code"], []).append(
            PharmacyFilingFact(
                index=index,
                name=r["name"],
                kind=r["kind"],
                parent_code=r.get("parent_code"),
                region_code=r["region_code"],
                license_valid_until=date.fromisoformat(r["license_valid_until"]),
                gsp_valid_until=date.fromisoformat(r["gsp_valid_until"]),
                online_sales_filed=bool(r["online_sales_filed"]),
                pharmacists=frozenset(r["pharmacists"]),
            )
        )

    def _add_dispensing(self, index: int, r: Mapping[str, Any]) -> None:
        facts = self.facts
        if facts.dispensing_index and index <= facts.dispensing_index[-1]:
            raise ValueError("records must be added in ledger order")
        code = r["institution_code"]
        slot = len(facts.dispensing_index)
        amends = r.get("amends")
        if amends is not None:
            earlier = self._dispensing_slot.get(f"{code}\x00{amends}")
            if earlier is not None:
                facts.dispensing_superseded.add(earlier)
                self._replaced_by[earlier] = slot
        self._dispensing_slot[f"{code}\x00{r['record_id']}"] = slot
        catalogue = self._catalogue
        drugs = [item["drug_code"] for item in r["items"]]
        review = r["pharmacist_review"]
        flags = (
            (LINKED if r["prescription"] is not None else 0)
            | (RX_DRUG if any(d not in catalogue.over_the_counter for d in drugs) else 0)
            | (COLD_DRUG if any(d in catalogue.cold_chain for d in drugs) else 0)
            | (ONLINE if r["channel"] == "online" else 0)
            | (APPROVED if review is not None and review["result"] == "approved" else 0)
        )
        facts.dispensing_index.append(index)
        facts.dispensing_pharmacy.append(self._pharmacy_id(code))
        facts.dispensing_day.append(day_number(_time(r["occurred_at"])))
        facts.dispensing_flags.append(flags)
        facts.dispensing_reviewer.append(
            -1 if review is None else self._pharmacist_id(review["pharmacist_license_no"])
        )

    def _add_delivery(self, index: int, r: Mapping[str, Any]) -> None:
        facts = self.facts
        if facts.delivery_index and index <= facts.delivery_index[-1]:
            raise ValueError("records must be added in ledger order")
        code = r["institution_code"]
        slot = len(facts.delivery_index)
        amends = r.get("amends")
        if amends is not None:
            earlier = self._delivery_slot.get(f"{code}\x00{amends}")
            if earlier is not None:
                facts.delivery_superseded.add(earlier)
        self._delivery_slot[f"{code}\x00{r['record_id']}"] = slot
        flags = (
            (COLD_CHAIN_SHIPPED if r["cold_chain"] else 0)
            | (DELIVERED if r["delivered_at"] is not None else 0)
            | (VERIFIED if r["recipient_verified_at"] is not None else 0)
            | (EXCURSION if r["temperature_excursion"] is True else 0)
        )
        facts.delivery_index.append(index)
        facts.delivery_pharmacy.append(self._pharmacy_id(code))
        facts.delivery_day.append(day_number(_time(r["occurred_at"])))
        facts.delivery_flags.append(flags)
        facts.delivery_dispensing.append(-1)
        # Resolved at the end: a delivery may enter the ledger before its dispensing.
        self._delivery_target.append(f"{code}\x00{r['dispensing_record_id']}")

    def _live(self, slot: int) -> int:
        while slot in self._replaced_by:
            slot = self._replaced_by[slot]
        return slot

    def finish(self) -> PharmacyFacts:
        """The facts, each delivery tied to the live version of its dispensing."""
        for slot, key in enumerate(self._delivery_target):
            target = self._dispensing_slot.get(key)
            if target is not None:
                self.facts.delivery_dispensing[slot] = self._live(target)
        return self.facts
