"""Every rule, as data, and the one function that applies them to a subject.

Rules are collected, never short-circuited: a record with three problems
gets three findings. ``inspect_subject`` is pure: the same subject,
reference snapshot and policy always give the same findings, in the same
order.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

from .findings import Finding, Rule, Subject
from .grouping import SubjectPseudonym, case_key, unkeyed_subject
from .policy import Policy
from .reference import ReferenceSnapshot
from .rules.credentials import CREDENTIAL_RULES
from .rules.data import DATA_RULES
from .rules.dispensing import DISPENSING_RULES
from .rules.prescriptions import PRESCRIPTION_RULES_SET
from .rules.prices import PRICE_RULES
from .rules.visits import VISIT_RULES
from .values import (
    Charge,
    Consultation,
    Delivery,
    Dispensing,
    InstitutionFiling,
    PharmacyFiling,
    Prescription,
    RosterEntry,
)

__all__ = ["RULES", "RULES_BY_ID", "inspect_subject", "record_type_name"]

RULES: tuple[Rule, ...] = (
    *CREDENTIAL_RULES,
    *VISIT_RULES,
    *PRESCRIPTION_RULES_SET,
    *PRICE_RULES,
    *DATA_RULES,
    *DISPENSING_RULES,
)
RULES_BY_ID: Mapping[str, Rule] = {rule.id: rule for rule in RULES}
assert len(RULES_BY_ID) == len(RULES), "rule ids are unique"

_TYPE_NAMES = {
    Consultation: "consultation",
    Prescription: "prescription",
    Charge: "charge",
    InstitutionFiling: "institution",
    RosterEntry: "practitioner",
    PharmacyFiling: "pharmacy",
    Dispensing: "dispensing",
    Delivery: "delivery",
}
_RULES_FOR = {
    name: tuple(rule for rule in RULES if name in rule.applies_to) for name in _TYPE_NAMES.values()
}


def record_type_name(record: object) -> str:
    return _TYPE_NAMES[type(record)]


def _occurred_at(subject: Subject) -> datetime:
    """When the record's event happened (a filing or roster entry: when it was received)."""
    moment = getattr(subject.record.record, "occurred_at", None)
    return moment if isinstance(moment, datetime) else subject.record.received_at


def inspect_subject(
    subject: Subject,
    reference: ReferenceSnapshot,
    policy: Policy,
    *,
    case_subject: SubjectPseudonym = unkeyed_subject,
) -> list[Finding]:
    """The findings of every rule that applies to the subject's record type."""
    record = subject.record.record
    found: list[Finding] = []
    versions = None
    occurred = _occurred_at(subject)
    for rule in _RULES_FOR[_TYPE_NAMES[type(record)]]:
        for violation in rule.check(subject, reference, policy):
            versions = versions or reference.versions()
            key = case_key(
                rule.id,
                rule.grouping,
                record.institution_code,
                violation.evidence,
                occurred,
                subject=case_subject,
            )
            found.append(
                Finding(
                    rule.id,
                    rule.severity,
                    rule.legal_basis,
                    subject.record.index,
                    violation.related_indices,
                    record.institution_code,
                    record.record_id,
                    violation.evidence,
                    versions,
                    policy.sha256,
                    key,
                )
            )
    return found
