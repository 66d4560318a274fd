"""Findings into cases, inside the transaction that records them (live and on replay).

Each finding entry names its case key (``inspectors.grouping``). A finding
joins the key's open case; if the key has none (never seen, or its latest
case is closed or dismissed) it opens the next generation, marked a repeat
when an earlier case of the key was closed after rectification. Case state
changes come only from ``case.event`` entries (``supervisor.cases``), so
replaying the ledger in order gives the same cases, ids and counts.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, MutableMapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import partial
from typing import Any

from sqlalchemy import Connection, insert, select, update

from inspectors.findings import Grouping, Severity
from inspectors.grouping import (
    CASE_STATES,
    OPEN_CASE_STATES,
    TERMINAL_CASE_STATES,
    legacy_case_key,
    place_in_case,
)
from inspectors.rulebook import RULES_BY_ID
from supervisor.database import tables
from supervisor.inspection.related_records import slices

__all__ = [
    "CASE_STATES",
    "OPEN_CASE_STATES",
    "TERMINAL_CASE_STATES",
    "OpenedCase",
    "case_key_of",
    "group_findings",
    "worst_severity",
]

_SEVERITY_ORDER = {s.value: rank for rank, s in enumerate(Severity)}  # high first


def worst_severity(first: str, second: str) -> str:
    return first if _SEVERITY_ORDER.get(first, 9) <= _SEVERITY_ORDER.get(second, 9) else second


def case_key_of(statement: Mapping[str, Any], found_at: datetime) -> str:
    """A finding entry's case key (entries from before keys: derived, see grouping)."""
    key = statement.get("case_key")
    if isinstance(key, str) and key:
        return key
    rule = RULES_BY_ID.get(str(statement["rule"]))
    grouping = Grouping.MONTH if rule is None else rule.grouping
    return legacy_case_key(statement, grouping, found_at)


@dataclass(frozen=True)
class OpenedCase:
    """A case this call opened (what alerts are sent for)."""

    case_id: str
    rule_id: str
    institution_code: str
    severity: str
    repeat: bool


@dataclass
class _Case:
    case_id: str
    severity: str
    count: int
    last_seen: datetime
    new: bool
    row: dict[str, Any]


def _latest_cases(connection: Connection, keys: Sequence[str]) -> dict[str, Any]:
    """Each key's latest case row, and whether an earlier one was closed."""
    c = tables.cases.c
    latest: dict[str, Any] = {}
    for part in slices(list(keys)):
        for row in connection.execute(
            select(c.case_id, c.case_key, c.generation, c.state, c.severity, c.finding_count)
            .where(c.case_key.in_(part))
            .order_by(c.case_key, c.generation)
        ):
            latest[row.case_key] = row
    return latest


def _closed_before(connection: Connection, key: str) -> bool:
    c = tables.cases.c
    return (
        connection.execute(
            select(c.case_id).where(c.case_key == key, c.state == "closed").limit(1)
        ).first()
        is not None
    )


def group_findings(
    connection: Connection, rows: Iterable[MutableMapping[str, Any]], keys: Sequence[str]
) -> list[OpenedCase]:
    """Give each findings row (``finding_row``) its ``case_id`` and bring the cases up to
    date; ``keys[i]`` is row i's case key. Returns the cases opened."""
    rows = list(rows)
    if not rows:
        return []
    latest = _latest_cases(connection, sorted(set(keys)))
    touched: dict[str, _Case] = {}
    for row, key in zip(rows, keys, strict=True):
        case = touched.get(key)
        if case is None:
            known = latest.get(key)
            place = place_in_case(
                key,
                None if known is None else known.generation,
                None if known is None else known.state,
                partial(_closed_before, connection, key),
            )
            if known is not None and not place.opens:
                case = _Case(
                    known.case_id, known.severity, known.finding_count, row["found_at"], False, {}
                )
            else:
                rule_id = str(row["rule_id"])
                rule = RULES_BY_ID.get(rule_id)
                case_row = {
                    "case_id": place.case_id,
                    "case_key": key,
                    "generation": place.generation,
                    "rule_id": rule_id,
                    "institution_code": row["institution_code"],
                    "grouping": (Grouping.MONTH if rule is None else rule.grouping).value,
                    "severity": row["severity"],
                    "state": "open",
                    "repeat": place.repeat,
                    "finding_count": 0,
                    "first_seen": row["found_at"],
                    "last_seen": row["found_at"],
                    "opened_index": row["entry_index"],
                    "deadline": None,
                    "notice_id": None,
                    "updated_at": row["found_at"],
                }
                case = _Case(
                    case_row["case_id"], row["severity"], 0, row["found_at"], True, case_row
                )
            touched[key] = case
        case.count += 1
        case.severity = worst_severity(case.severity, str(row["severity"]))
        case.last_seen = max(case.last_seen, row["found_at"])
        row["case_id"] = case.case_id
    opened: list[OpenedCase] = []
    for case in touched.values():
        if case.new:
            case.row.update(
                finding_count=case.count, severity=case.severity, last_seen=case.last_seen
            )
            connection.execute(insert(tables.cases).values(case.row))
            opened.append(
                OpenedCase(
                    case.case_id,
                    case.row["rule_id"],
                    case.row["institution_code"],
                    case.severity,
                    bool(case.row["repeat"]),
                )
            )
        else:
            connection.execute(
                update(tables.cases)
                .where(tables.cases.c.case_id == case.case_id)
                .values(
                    finding_count=case.count,
                    severity=case.severity,
                    last_seen=case.last_seen,
                    updated_at=case.last_seen,
                )
            )
    return opened
