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
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from .periods import day_number
from .pharmacy_facts import PharmacyFacts, PharmacyFactsBuilder

__all__ = [
    "CHARGE",
    "CONSULTATION",
    "PRESCRIPTION",
    "CaseFact",
    "FactsBuilder",
    "FindingFact",
    "LedgerFacts",
    "NoticeFact",
    "ResponseFact",
    "case_grouping",
    "rule_family",
]

CONSULTATION, PRESCRIPTION, CHARGE = 1, 2, 3
_KIND_OF_TYPE = {"consultation": CONSULTATION, "prescription": PRESCRIPTION, "charge": CHARGE}
NO_VALUE = -1.0
#: Worst first; a case is as severe as its worst finding.
_SEVERITY_RANK = {"high": 0, "medium": 1, "low": 2, "warning": 3}


def rule_family(rule_id: str) -> str:
    """``RX-DAYS`` -> ``RX``: rules are grouped by the prefix of their id."""
    return rule_id.split("-", 1)[0]


def case_grouping(case_key: str) -> str:
    """``institution``, ``practitioner`` or ``month``: read from the key's last part
    (``RULE|INSTITUTION|`` + "" | ``p:...`` | ``m:YYYY-MM``, see ``inspectors.grouping``)."""
    part = case_key.split("|", 2)[2] if case_key.count("|") >= 2 else ""
    if part.startswith("p:"):
        return "practitioner"
    if part.startswith("m:"):
        return "month"
    return "institution"


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
    case_id: str | None = None
    #: The other records its public statement names (a double fill's every dispensing).
    related_indices: tuple[int, ...] = ()
    record_id: str = ""

    @property
    def family(self) -> str:
        return rule_family(self.rule)

    @property
    def counts(self) -> bool:
        """A dismissed finding was judged unfounded; it counts against nobody."""
        return self.state != "dismissed"


@dataclass
class ResponseFact:
    """A platform's answer to a notice, and the regulator's review of it by the checkpoint."""

    response_id: str
    notice_id: str
    kind: str
    received_at: datetime
    #: The notice's deadline when the answer arrived (None once its details are shredded).
    deadline: date | None
    review: str = "pending"
    reviewed_at: datetime | None = None


@dataclass
class NoticeFact:
    """A rectification notice; ``deadline`` is the latest set (a rejection sets a new one)."""

    notice_id: str
    case_id: str
    institution_code: str
    issued_at: datetime
    deadline: date | None
    responses: list[ResponseFact] = field(default_factory=list)


@dataclass
class CaseFact:
    """A case as the findings and steps on the ledger make it, as of the checkpoint.

    ``steps`` are ``(at, action, state_after)`` in ledger order; ``record_indices`` are
    its findings' records (when the problem occurred, not when it was found)."""

    case_id: str
    case_key: str
    rule: str
    institution_code: str
    severity: str
    repeat: bool
    first_found: datetime
    record_indices: list[int] = field(default_factory=list)
    state: str = "open"
    ended_at: datetime | None = None
    notice_id: str | None = None
    steps: list[tuple[datetime, str, str]] = field(default_factory=list)

    @property
    def grouping(self) -> str:
        return case_grouping(self.case_key)


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
    cases: dict[str, CaseFact] = field(default_factory=dict)
    notices: dict[str, NoticeFact] = field(default_factory=dict)
    #: Pharmacies, dispensings and deliveries (schema version 2): only what reads them
    #: (assessment-v3 on, digest-v3 on) sees them, so earlier editions stay as they were.
    pharmacy: PharmacyFacts = field(default_factory=PharmacyFacts)

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
        self._pharmacy = PharmacyFactsBuilder()
        self.facts.pharmacy = self._pharmacy.facts

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
        if self._pharmacy.add(index, record):
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

    def add_drug_catalogue(self, index: int, rows: Iterable[Mapping[str, Any]]) -> None:
        """A drug catalogue version's rows (a ``reference.drugs`` entry's payload)."""
        self._pharmacy.add_catalogue(index, rows)

    def add_unreadable(self) -> None:
        """A record whose payload was crypto-shredded: it is counted, not read."""
        self.facts.unreadable += 1

    def add_finding(
        self,
        statement: Mapping[str, Any],
        received_at: datetime,
        *,
        case_id: str | None = None,
        case_key: str | None = None,
        repeat: bool = False,
    ) -> None:
        """A finding entry's public statement, and the case it joined (placed by the
        reader with ``inspectors.grouping.CaseBook``, as the portal places it)."""
        finding = FindingFact(
            finding_id=statement["finding_id"],
            rule=statement["rule"],
            severity=statement["severity"],
            institution_code=statement["institution_code"],
            record_index=int(statement["record_index"]),
            found_at=received_at,
            case_id=case_id,
            related_indices=tuple(int(i) for i in statement.get("related_indices", ())),
            record_id=str(statement.get("record_id", "")),
        )
        self.facts.findings[finding.finding_id] = finding
        if case_id is None or case_key is None:
            return
        case = self.facts.cases.get(case_id)
        if case is None:
            case = self.facts.cases[case_id] = CaseFact(
                case_id=case_id,
                case_key=case_key,
                rule=finding.rule,
                institution_code=finding.institution_code,
                severity=finding.severity,
                repeat=repeat,
                first_found=received_at,
            )
        elif _SEVERITY_RANK.get(finding.severity, 9) < _SEVERITY_RANK.get(case.severity, 9):
            case.severity = finding.severity
        case.record_indices.append(finding.record_index)

    def add_case_event(
        self,
        statement: Mapping[str, Any],
        details: Mapping[str, Any] | None,
        received_at: datetime,
    ) -> None:
        """A ``case.event``: its public statement, and its opened details (None once
        shredded: the state still moves, the deadline is then unknown)."""
        case = self.facts.cases.get(statement["case_id"])
        if case is None:
            return
        action, state = statement["action"], statement["state_after"]
        case.state = state
        case.steps.append((received_at, action, state))
        if state in ("closed", "dismissed"):
            case.ended_at = received_at
        deadline_text = None if details is None else details.get("deadline")
        deadline = None if deadline_text is None else date.fromisoformat(deadline_text)
        notice_id = statement.get("notice_id")
        if action == "order_rectification" and notice_id is not None:
            case.notice_id = notice_id
            self.facts.notices[notice_id] = NoticeFact(
                notice_id, case.case_id, case.institution_code, received_at, deadline
            )
        elif action == "reject" and case.notice_id is not None:
            self.facts.notices[case.notice_id].deadline = deadline
        response_id = statement.get("response_id")
        if action in ("accept", "reject") and case.notice_id is not None:
            for response in self.facts.notices[case.notice_id].responses:
                if response.response_id == response_id:
                    response.review = "accepted" if action == "accept" else "rejected"
                    response.reviewed_at = received_at

    def add_notice_response(self, statement: Mapping[str, Any], received_at: datetime) -> None:
        """A ``notice.response`` entry's public statement (the platform's answer)."""
        notice = self.facts.notices.get(statement["notice_id"])
        if notice is None:
            return
        notice.responses.append(
            ResponseFact(
                statement["response_id"],
                notice.notice_id,
                statement["kind"],
                received_at,
                notice.deadline,
            )
        )
        case = self.facts.cases.get(notice.case_id)
        if case is not None:
            case.state = "responded"
            case.steps.append((received_at, "respond", "responded"))

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
        self._pharmacy.finish()
        return self.facts
