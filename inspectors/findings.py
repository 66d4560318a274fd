"""What a rule is and what it finds: the protocol every inspector follows.

A rule has a public id, a severity, a legal basis and a pure ``check`` over a
``Subject`` (one record with the related records the ledger held by its
deadline), the reference snapshot and the policy. A check returns
``Violation`` values; the engine turns them into ``Finding`` values that name
everything needed to reproduce them.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from functools import cached_property
from hashlib import sha256
from typing import Any

from ledger.canonical import canonical_json

from .policy import Policy
from .reference import ReferenceSnapshot
from .values import (
    Charge,
    Consultation,
    Dispensing,
    InstitutionFiling,
    LedgerRecord,
    NamedPractitioner,
    PharmacyFiling,
    Prescription,
    named_practitioners,
)

__all__ = ["Finding", "Grouping", "Rule", "Severity", "Subject", "Violation"]


class Grouping(StrEnum):
    """How a rule's findings form cases (see ``inspectors.grouping``)."""

    INSTITUTION = "institution"  # one case per institution and rule
    PRACTITIONER = "practitioner"  # one per practitioner, institution and rule
    MONTH = "month"  # one per institution, rule and month the record occurred in


class Severity(StrEnum):
    """How serious a finding is; ``warning`` marks a suspicion for a human to judge."""

    HIGH = "high"
    MEDIUM = "medium"
    LOW = "low"
    WARNING = "warning"


@dataclass(frozen=True)
class Subject:
    """One record to inspect and what the ledger held about it by its deadline.

    ``consultation`` is the consultation a prescription or charge refers to
    and ``earlier_charges`` the charges of that consultation with lower
    ledger indices; ``institution`` is the record institution's filing (for
    a filing, the filing itself). A subject is only built once it is final:
    every related record has arrived, or the grace deadline has passed and
    what is missing stays missing, so a check never sees a half-known world.
    """

    record: LedgerRecord
    institution: InstitutionFiling | None = None
    consultation: LedgerRecord | None = None
    earlier_charges: tuple[LedgerRecord, ...] = ()
    #: A dispensing's pharmacy filing (the latest before it, else the first by its
    #: deadline); None when the pharmacy never filed.
    pharmacy: PharmacyFiling | None = None
    #: The prescription a dispensing fills, if it arrived by the dispensing's deadline.
    prescription: LedgerRecord | None = None
    #: The other dispensings of that prescription earlier in the ledger, any pharmacy and
    #: platform (corrections already folded: an amended dispensing is not a second fill).
    earlier_fills: tuple[LedgerRecord, ...] = ()
    #: The dispensing a delivery carries (same pharmacy), if it arrived by the deadline.
    dispensing: LedgerRecord | None = None

    @property
    def consultation_value(self) -> Consultation | None:
        value = None if self.consultation is None else self.consultation.record
        return value if isinstance(value, Consultation) else None

    @cached_property
    def practitioners(self) -> tuple[NamedPractitioner, ...]:
        """Every practitioner the record names (computed once for the credential rules)."""
        return tuple(named_practitioners(self.record.record))

    @property
    def prescription_value(self) -> Prescription | None:
        value = None if self.prescription is None else self.prescription.record
        return value if isinstance(value, Prescription) else None

    @property
    def dispensing_value(self) -> Dispensing | None:
        value = None if self.dispensing is None else self.dispensing.record
        return value if isinstance(value, Dispensing) else None

    def earlier_fill_values(self) -> list[tuple[int, Dispensing]]:
        return [(f.index, f.record) for f in self.earlier_fills if isinstance(f.record, Dispensing)]

    def earlier_charge_values(self) -> list[tuple[int, Charge]]:
        return [(c.index, c.record) for c in self.earlier_charges if isinstance(c.record, Charge)]


@dataclass(frozen=True)
class Violation:
    """What a check found: field values as evidence, and other records involved."""

    evidence: Mapping[str, Any]
    related_indices: tuple[int, ...] = ()


Check = Callable[[Subject, ReferenceSnapshot, Policy], Sequence[Violation]]


@dataclass(frozen=True)
class Rule:
    """A rule: its id is public and permanent; ``applies_to`` names record types."""

    id: str
    severity: Severity
    title: str
    legal_basis: str
    applies_to: frozenset[str]
    check: Check = field(compare=False)
    grouping: Grouping = Grouping.MONTH


@dataclass(frozen=True)
class Finding:
    """A violation with everything needed to reproduce it.

    ``finding_id`` depends only on the rule, the records and the evidence,
    so inspecting the same records with the same reference data again finds
    the same ids (and appends nothing new).
    """

    rule_id: str
    severity: Severity
    legal_basis: str
    record_index: int
    related_indices: tuple[int, ...]
    institution_code: str
    record_id: str
    evidence: Mapping[str, Any]
    reference_versions: Mapping[str, str]
    policy_sha256: str
    #: The case it belongs to (``inspectors.grouping``); not part of its identity.
    case_key: str = ""

    @cached_property
    def finding_id(self) -> str:
        identity = {
            "evidence": dict(self.evidence),
            "record_index": self.record_index,
            "related_indices": list(self.related_indices),
            "rule": self.rule_id,
        }
        return sha256(canonical_json(identity)).hexdigest()[:32]

    def document(self) -> dict[str, Any]:
        """The finding as JSON (what its ledger entry seals and what exports show)."""
        return {
            "finding_id": self.finding_id,
            "rule": self.rule_id,
            "severity": self.severity.value,
            "legal_basis": self.legal_basis,
            "record_index": self.record_index,
            "related_indices": list(self.related_indices),
            "institution_code": self.institution_code,
            "record_id": self.record_id,
            "evidence": dict(self.evidence),
            "reference_versions": dict(self.reference_versions),
            "policy_sha256": self.policy_sha256,
        }
