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

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from hashlib import sha256
from typing import Any

from .findings import Grouping

__all__ = [
    "CASE_STATES",
    "CHINA",
    "OPEN_CASE_STATES",
    "TERMINAL_CASE_STATES",
    "CaseBook",
    "CasePlace",
    "SubjectPseudonym",
    "case_id_of",
    "case_key",
    "legacy_case_key",
    "month_of",
    "place_in_case",
    "unkeyed_subject",
]

CHINA = timezone(timedelta(hours=8), "CST")
_SUBJECT_SALT = b"careledger case subject\x00"

CASE_STATES = (
    "open",
    "acknowledged",
    "rectification_ordered",
    "responded",
    "escalated",
    "closed",
    "dismissed",
)
TERMINAL_CASE_STATES = frozenset({"closed", "dismissed"})
OPEN_CASE_STATES = tuple(s for s in CASE_STATES if s not in TERMINAL_CASE_STATES)


def month_of(moment: datetime) -> str:
    """``YYYY-MM`` of a moment in China Standard Time."""
    return moment.astimezone(CHINA).strftime("%Y-%m")


#: ``(institution_code, licence) -> pseudonym``: who a practitioner's case is about, as the
#: public key may say it.
SubjectPseudonym = Callable[[str, str], str]


def unkeyed_subject(institution_code: str, licence: str) -> str:
    """A pseudonym anyone can recompute (for pure use and tests). The inspector writes a
    keyed one (an HMAC under the regulator's pseudonym key) instead: licence numbers have
    a known structure and could be enumerated against an unkeyed hash."""
    message = f"{institution_code}\x00{licence}".encode()
    return sha256(_SUBJECT_SALT + message).hexdigest()[:16]


def case_key(
    rule_id: str,
    grouping: Grouping,
    institution_code: str,
    evidence: Mapping[str, Any],
    occurred_at: datetime,
    *,
    subject: SubjectPseudonym = unkeyed_subject,
) -> str:
    """The key of the case a finding belongs to (see the module docstring). The key sits
    in the public leaf: a practitioner is named by ``subject``'s pseudonym, scoped to the
    institution so cases at two institutions cannot be linked."""
    if grouping is Grouping.INSTITUTION:
        part = ""
    elif grouping is Grouping.PRACTITIONER:
        part = "p:" + subject(institution_code, str(evidence.get("license_no", "")))
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


@dataclass(frozen=True)
class CasePlace:
    """The case a finding joins: the key's open case, or a new generation it opens."""

    case_id: str
    generation: int
    opens: bool
    repeat: bool


def place_in_case(
    key: str,
    latest_generation: int | None,
    latest_state: str | None,
    closed_before: Callable[[], bool],
) -> CasePlace:
    """Where a finding of ``key`` goes, given the key's latest case (None: never seen).

    It joins that case unless it is closed or dismissed; then it opens the next
    generation, a repeat if some earlier case of the key was closed (asked only then).
    """
    if latest_generation is not None and latest_state not in TERMINAL_CASE_STATES:
        return CasePlace(case_id_of(key, latest_generation), latest_generation, False, False)
    generation = 1 if latest_generation is None else latest_generation + 1
    repeat = latest_generation is not None and closed_before()
    return CasePlace(case_id_of(key, generation), generation, True, repeat)


class CaseBook:
    """Grouping replayed in memory, in ledger order: what a report reads the ledger with,
    so its cases are the portal's (``place`` for each finding, ``moved`` for each step)."""

    def __init__(self) -> None:
        self._latest: dict[str, tuple[int, str]] = {}
        self._closed: set[str] = set()
        self._key_of: dict[str, str] = {}

    def place(self, key: str) -> CasePlace:
        generation, state = self._latest.get(key, (None, None))
        place = place_in_case(key, generation, state, lambda: key in self._closed)
        if place.opens:
            self._latest[key] = (place.generation, "open")
            self._key_of[place.case_id] = key
        return place

    def key_of(self, case_id: str) -> str | None:
        return self._key_of.get(case_id)

    def moved(self, case_id: str, state_after: str) -> None:
        """A step on a case (or a response to its notice) left it ``state_after``."""
        key = self._key_of.get(case_id)
        if key is None:
            return
        generation, _ = self._latest[key]
        if case_id_of(key, generation) == case_id:
            self._latest[key] = (generation, state_after)
        if state_after == "closed":
            self._closed.add(key)
