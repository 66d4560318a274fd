"""What reports are computed from: a compact digest of the ledger up to one tree size.

The reader (in ``supervisor``) walks the ledger's entries in order and hands
each opened record, finding and finding action to a ``FactsBuilder``; the
builder keeps only what indicators need, column by column (about 40 bytes per
record), so a million records fit easily. Nothing here reads a database: the
same facts come out of the same entries, which is what lets anyone recompute
a report.
"""

from __future__ import annotations

from array import array
from bisect import bisect_left
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from .periods import day_number

__all__ = [
    "CHARGE",
    "CONSULTATION",
    "PRESCRIPTION",
    "FactsBuilder",
    "FindingFact",
    "LedgerFacts",
    "rule_family",
]

CONSULTATION, PRESCRIPTION, CHARGE = 1, 2, 3
_KIND_OF_TYPE = {"consultation": CONSULTATION, "prescription": PRESCRIPTION, "charge": CHARGE}
NO_VALUE = -1.0


def rule_family(rule_id: str) -> str:
    """``RX-DAYS`` -> ``RX``: rules are grouped by the prefix of their id."""
    return rule_id.split("-", 1)[0]


def _time(text: str) -> datetime:
    return datetime.fromisoformat(text)


def _decimal(text: str) -> float:
    # Amounts are decimal strings with at most four places; a float keeps them exactly
    # enough for sums shown to the fen, and the same input always gives the same sum.
    return float(text)


@dataclass
class FindingFact:
    """A finding and its triage as of the checkpoint."""

    finding_id: str
    rule: str
    severity: str
    institution_code: str
    record_index: int
    found_at: datetime
    state: str = "open"
    ordered_at: datetime | None = None
    deadline: date | None = None
    resolved_at: datetime | None = None

    @property
    def family(self) -> str:
        return rule_family(self.rule)

    @property
    def counts(self) -> bool:
        """A dismissed finding was judged unfounded; it counts against nobody."""
        return self.state != "dismissed"


@dataclass
class LedgerFacts:
    """Records (one slot each, in ledger order), findings and filings up to ``size``.

    Invariant: ``index`` is strictly increasing, so a record's slot is found by
    bisection; every column has one value per slot.
    """

    size: int = 0
    institutions: list[str] = field(default_factory=list)
    practitioners: list[str] = field(default_factory=list)
    index: array[int] = field(default_factory=lambda: array("q"))
    kind: array[int] = field(default_factory=lambda: array("b"))
    institution: array[int] = field(default_factory=lambda: array("i"))
    day: array[int] = field(default_factory=lambda: array("i"))
    practitioner: array[int] = field(default_factory=lambda: array("i"))
    satisfaction: array[int] = field(default_factory=lambda: array("b"))
    review_minutes: array[float] = field(default_factory=lambda: array("d"))
    items: array[int] = field(default_factory=lambda: array("i"))
    amount: array[float] = field(default_factory=lambda: array("d"))
    superseded: set[int] = field(default_factory=set)
    findings: dict[str, FindingFact] = field(default_factory=dict)
    institution_filings: dict[str, dict[str, Any]] = field(default_factory=dict)
    practitioner_names: dict[str, str] = field(default_factory=dict)
    unreadable: int = 0

    def slot_of(self, entry_index: int) -> int | None:
        slot = bisect_left(self.index, entry_index)
        if slot < len(self.index) and self.index[slot] == entry_index:
            return slot
        return None

    def live_slots(self) -> range:
        return range(len(self.index))

    def institution_name(self, code: str) -> str:
        filing = self.institution_filings.get(code)
        return str(filing["name"]) if filing else code

    def institution_kind(self, code: str) -> str:
        filing = self.institution_filings.get(code)
        return str(filing["kind"]) if filing else "unknown"


class FactsBuilder:
    """Feeds entries, in ledger order, into ``LedgerFacts``."""

    def __init__(self) -> None:
        self.facts = LedgerFacts()
        self._institution_ids: dict[str, int] = {}
        self._practitioner_ids: dict[str, int] = {}
        self._slot_of_record: dict[str, int] = {}

    def _institution_id(self, code: str) -> int:
        found = self._institution_ids.get(code)
        if found is None:
            found = self._institution_ids[code] = len(self.facts.institutions)
            self.facts.institutions.append(code)
        return found

    def _practitioner_id(self, licence: str | None) -> int:
        if licence is None:
            return -1
        found = self._practitioner_ids.get(licence)
        if found is None:
            found = self._practitioner_ids[licence] = len(self.facts.practitioners)
            self.facts.practitioners.append(licence)
        return found

    def add_record(self, index: int, record: Mapping[str, Any]) -> None:
        """A record entry's opened document. Requires indices in increasing order."""
        facts = self.facts
        record_type = record["type"]
        institution_code = record["institution_code"]
        if record_type == "institution":
            facts.institution_filings[institution_code] = {
                "name": record["name"],
                "kind": record["kind"],
                "host": record.get("host_institution_code"),
            }
            return
        if record_type == "practitioner":
            facts.practitioner_names[record["license_no"]] = record["name"]
            return
        kind = _KIND_OF_TYPE.get(record_type)
        if kind is None:
            return
        if facts.index and index <= facts.index[-1]:
            raise ValueError("records must be added in ledger order")
        slot = len(facts.index)
        institution = self._institution_id(institution_code)
        key = f"{institution_code}\x00{record['record_id']}"
        amends = record.get("amends")
        if amends is not None:
            earlier = self._slot_of_record.get(f"{institution_code}\x00{amends}")
            if earlier is not None:
                facts.superseded.add(earlier)
        self._slot_of_record[key] = slot
        satisfaction, review, items, amount = 0, NO_VALUE, 0, 0.0
        practitioner: str | None = None
        if kind == CONSULTATION:
            practitioner = record["practitioner_license_no"]
            satisfaction = record.get("satisfaction") or 0
        elif kind == PRESCRIPTION:
            practitioner = record["prescriber_license_no"]
            items_of = record["items"]
            items = len(items_of)
            amount = sum(
                _decimal(i["quantity"]) * _decimal(i["unit_price"]) for i in record["items"]
            )
            if record["review"] is not None:
                seconds = (
                    _time(record["review"]["reviewed_at"]) - _time(record["signed_at"])
                ).total_seconds()
                review = max(0.0, seconds / 60)
        else:
            amount = _decimal(record["quantity"]) * _decimal(record["unit_price"])
        facts.index.append(index)
        facts.kind.append(kind)
        facts.institution.append(institution)
        facts.day.append(day_number(_time(record["occurred_at"])))
        facts.practitioner.append(self._practitioner_id(practitioner))
        facts.satisfaction.append(satisfaction)
        facts.review_minutes.append(review)
        facts.items.append(items)
        facts.amount.append(amount)

    def add_unreadable(self) -> None:
        """A record whose payload was crypto-shredded: it is counted, not read."""
        self.facts.unreadable += 1

    def add_finding(self, statement: Mapping[str, Any], received_at: datetime) -> None:
        """A finding entry's public statement."""
        self.facts.findings[statement["finding_id"]] = FindingFact(
            finding_id=statement["finding_id"],
            rule=statement["rule"],
            severity=statement["severity"],
            institution_code=statement["institution_code"],
            record_index=int(statement["record_index"]),
            found_at=received_at,
        )

    def add_finding_action(self, details: Mapping[str, Any], received_at: datetime) -> None:
        """A finding action's opened details (the deadline is sealed with them)."""
        finding = self.facts.findings.get(details["finding_id"])
        if finding is None:
            return
        finding.state = details["state_after"]
        if details["action"] == "order_rectification":
            finding.ordered_at = received_at
            deadline = details.get("deadline")
            finding.deadline = None if deadline is None else date.fromisoformat(deadline)
        elif details["action"] == "resolve":
            finding.resolved_at = received_at

    def finish(self, size: int) -> LedgerFacts:
        self.facts.size = size
        return self.facts
