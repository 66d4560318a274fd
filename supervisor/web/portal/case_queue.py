"""The case queue: cases filtered and paged over the ``cases`` projection, answers awaiting
review first, then gravest, oldest and widest (no patient data; the CSV is the same filter,
every page)."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Engine, Select, case, func, select
from sqlalchemy.sql.elements import ColumnElement

from inspectors.findings import Severity
from ledger.database import read_transaction, snapshot_transaction
from supervisor.database import tables
from supervisor.inspection.case_grouping import CASE_STATES, OPEN_CASE_STATES

__all__ = [
    "ALL_STATES",
    "PAGE_SIZE",
    "SEVERITIES",
    "CaseQueue",
    "CaseQueueFilter",
    "case_queue",
    "queued_cases",
]

PAGE_SIZE = 50
#: The state filter's value for every case, final ones included (no value: not final).
ALL_STATES = "all"
SEVERITIES = tuple(s.value for s in Severity)  # gravest first
_c = tables.cases.c
#: An institution's answer waits on the regulator: it heads the queue whatever its severity.
_AWAITING_REVIEW = case((_c.state == "responded", 0), else_=1)
_GRAVITY = case({s: rank for rank, s in enumerate(SEVERITIES)}, value=_c.severity, else_=9)


@dataclass(frozen=True)
class CaseQueueFilter:
    #: A case state, ``ALL_STATES``, or "" for every case not yet final.
    state: str = ""
    severity: str = ""
    rule: str = ""
    institution: str = ""
    #: Only repeat cases (a recurrence after a case of the same cause was closed).
    repeat: bool = False
    page: int = 1

    @classmethod
    def from_args(cls, args: Mapping[str, Any]) -> tuple[CaseQueueFilter, list[str]]:
        """The filter and the parameters not understood (left out, said on the page)."""
        problems: list[str] = []

        def text(name: str, limit: int = 64) -> str:
            value = args.get(name, "")
            return value.strip()[:limit] if isinstance(value, str) else ""

        state = text("state", 24)
        if state and state != ALL_STATES and state not in CASE_STATES:
            problems.append("state")
            state = ""
        severity = text("severity", 16)
        if severity and severity not in SEVERITIES:
            problems.append("severity")
            severity = ""
        repeat = text("repeat", 4)
        if repeat not in ("", "1"):
            problems.append("repeat")
        try:
            page = max(1, min(100_000, int(text("page", 8) or "1")))
        except ValueError:
            problems.append("page")
            page = 1
        filtered = cls(state, severity, text("rule", 40), text("institution"), repeat == "1", page)
        return filtered, problems

    def link_args(self, page: int | None = None) -> dict[str, str | int]:
        """The query of a link to this filter (and ``page``): only the filters set."""
        args: dict[str, str | int] = {
            name: value
            for name, value in (
                ("state", self.state),
                ("severity", self.severity),
                ("rule", self.rule),
                ("institution", self.institution),
            )
            if value
        }
        if self.repeat:
            args["repeat"] = 1
        if page is not None and page > 1:
            args["page"] = page
        return args

    def conditions(self) -> list[ColumnElement[bool]]:
        wanted: list[ColumnElement[bool]] = []
        if not self.state:
            wanted.append(_c.state.in_(OPEN_CASE_STATES))
        elif self.state != ALL_STATES:
            wanted.append(_c.state == self.state)
        if self.severity:
            wanted.append(_c.severity == self.severity)
        if self.rule:
            wanted.append(_c.rule_id == self.rule)
        if self.institution:
            wanted.append(_c.institution_code == self.institution)
        if self.repeat:
            wanted.append(_c.repeat.is_(True))
        return wanted


@dataclass(frozen=True)
class CaseQueue:
    rows: list[Any]  # ``cases`` rows
    total: int
    page: int
    pages: int
    rules: list[str]  # the rules and institutions any case names, for the filters
    institutions: list[str]


def _ordered(wanted: CaseQueueFilter) -> Select[Any]:
    return (
        select(tables.cases)
        .where(*wanted.conditions())
        # Among equally grave and old cases, the one that reaches most records first.
        .order_by(_AWAITING_REVIEW, _GRAVITY, _c.first_seen, _c.finding_count.desc(), _c.case_id)
    )


def case_queue(engine: Engine, wanted: CaseQueueFilter) -> CaseQueue:
    """One page of the queue, with the choices for the filters."""
    with read_transaction(engine) as connection:
        total = connection.execute(
            select(func.count()).select_from(tables.cases).where(*wanted.conditions())
        ).scalar_one()
        pages = max(1, -(-total // PAGE_SIZE))
        page = min(wanted.page, pages)
        rows = connection.execute(
            _ordered(wanted).limit(PAGE_SIZE).offset((page - 1) * PAGE_SIZE)
        ).all()
        rules = list(
            connection.execute(select(_c.rule_id).distinct().order_by(_c.rule_id)).scalars()
        )
        institutions = list(
            connection.execute(
                select(_c.institution_code).distinct().order_by(_c.institution_code)
            ).scalars()
        )
    return CaseQueue(list(rows), total, page, pages, rules, institutions)


def queued_cases(engine: Engine, wanted: CaseQueueFilter) -> Iterator[Any]:
    """Every case the filter selects, in the queue's order (for the CSV)."""
    with snapshot_transaction(engine) as connection:
        yield from connection.execute(_ordered(wanted).execution_options(yield_per=2000))
