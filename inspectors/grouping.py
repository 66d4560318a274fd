"""Which case a finding belongs to: the grouping each rule declares, as a pure key.

A case is what a regulator acts on: the findings that share one cause. An
institution-level condition (no filing, an expired licence, late data) is one
cause however many records repeat it; a practitioner's credential problem is
one cause per practitioner and institution; anything else is grouped by
institution, rule and the month (China time) the record occurred in. The key
is written into the finding's public statement, so which case a finding joins
follows from the ledger alone, and ``projections rebuild`` finds the same cases.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta, timezone
from hashlib import sha256
from typing import Any

from .findings import Grouping

__all__ = ["CHINA", "case_id_of", "case_key", "legacy_case_key", "month_of"]

CHINA = timezone(timedelta(hours=8), "CST")
_SUBJECT_SALT = b"careledger case subject\x00"


def month_of(moment: datetime) -> str:
    """``YYYY-MM`` of a moment in China Standard Time."""
    return moment.astimezone(CHINA).strftime("%Y-%m")


def _practitioner(evidence: Mapping[str, Any]) -> str:
    # A pseudonym, not the licence number: the key sits in the public leaf.
    licence = str(evidence.get("license_no", ""))
    return "p:" + sha256(_SUBJECT_SALT + licence.encode()).hexdigest()[:16]


def case_key(
    rule_id: str,
    grouping: Grouping,
    institution_code: str,
    evidence: Mapping[str, Any],
    occurred_at: datetime,
) -> str:
    """The key of the case a finding belongs to (see the module docstring)."""
    if grouping is Grouping.INSTITUTION:
        part = ""
    elif grouping is Grouping.PRACTITIONER:
        part = _practitioner(evidence)
    else:
        part = "m:" + month_of(occurred_at)
    return f"{rule_id}|{institution_code}|{part}"


def legacy_case_key(statement: Mapping[str, Any], grouping: Grouping, found_at: datetime) -> str:
    """The key of a finding entry written before keys were (no record time at hand: the
    month it was found in; practitioner causes fall back to the institution)."""
    rule_id = str(statement["rule"])
    institution = str(statement["institution_code"])
    if grouping is Grouping.MONTH:
        return f"{rule_id}|{institution}|m:{month_of(found_at)}"
    return f"{rule_id}|{institution}|"


def case_id_of(key: str, generation: int) -> str:
    """The id of the ``generation``-th case of a key (1 first; a recurrence after closing
    is the next): the same on every replay."""
    return "C" + sha256(f"{key}#{generation}".encode()).hexdigest()[:15].upper()
