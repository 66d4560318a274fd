"""The rectification notice (整改通知书) as data: what the ledger seals, the API serves,
the PDF renders and the institution answers. Pure.

A notice names the case, the rule broken and its legal basis, every finding of
the case (the institution's own records only: a case never spans institutions),
what must be done and by when.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from hashlib import sha256
from typing import Any

from inspectors.rulebook import RULES_BY_ID

__all__ = ["NOTICE_VERSION", "notice_document", "notice_id_of"]

NOTICE_VERSION = "careledger.notice/v1"


def notice_id_of(case_id: str, sequence: int) -> str:
    """The id of a case's ``sequence``-th notice (1 first): the same on every replay."""
    return "N" + sha256(f"{case_id}#{sequence}".encode()).hexdigest()[:15].upper()


def notice_document(
    case: Mapping[str, Any],
    findings: Sequence[Mapping[str, Any]],
    *,
    notice_id: str,
    issued_at: datetime,
    deadline: str,
    required_action: str,
    issued_by: str,
    institution_name: str,
    platform_id: str | None,
) -> dict[str, Any]:
    """The notice of ``case`` (a ``cases`` row as a mapping). ``findings`` are the case's
    findings: ``finding_id``, ``rule``, ``record_index``, ``record_id``, ``found_at``
    (ISO), ``evidence``."""
    rule = RULES_BY_ID.get(str(case["rule_id"]))
    return {
        "notice_version": NOTICE_VERSION,
        "notice_id": notice_id,
        "case_id": case["case_id"],
        "institution_code": case["institution_code"],
        "institution_name": institution_name,
        "platform_id": platform_id,
        "rule": case["rule_id"],
        "title": "" if rule is None else rule.title,
        "legal_basis": "" if rule is None else rule.legal_basis,
        "severity": case["severity"],
        "repeat": bool(case["repeat"]),
        "issued_at": issued_at.isoformat(),
        "issued_by": issued_by,
        "deadline": deadline,
        "required_action": required_action,
        "finding_count": len(findings),
        "findings": [dict(f) for f in findings],
    }
