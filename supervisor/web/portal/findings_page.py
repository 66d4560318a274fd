"""The findings queue: filters and pages over the findings projection (no patient data)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import Engine, func, select

from ledger.database import read_transaction
from supervisor.database import tables

__all__ = ["UNRESOLVED_STATES", "FindingFilter", "FindingsPage", "findings_page"]

PAGE_SIZE = 50
#: Findings still waiting for the institution or the regulator.
UNRESOLVED_STATES = ("open", "acknowledged", "rectification_ordered")
_f = tables.findings.c
_r = tables.records.c


@dataclass(frozen=True)
class FindingFilter:
    rule: str = ""
    severity: str = ""
    institution: str = ""
    #: A licence: findings on the records that name this practitioner (as the consulting
    #: doctor or prescriber, or on a roster filing), by ``ix_records_practitioner``.
    practitioner: str = ""
    #: Only findings still open, acknowledged or under rectification.
    unresolved: bool = False
    page: int = 1

    @classmethod
    def from_args(cls, args: Any) -> FindingFilter:
        def text(name: str) -> str:
            value = args.get(name, "")
            return value.strip()[:64] if isinstance(value, str) else ""

        try:
            page = max(1, min(100_000, int(args.get("page", "1"))))
        except ValueError:
            page = 1
        return cls(
            text("rule"),
            text("severity"),
            text("institution"),
            text("practitioner"),
            text("unresolved") == "1",
            page,
        )

    def link_args(self, page: int | None = None) -> dict[str, str | int]:
        """The query of a link to this filter (and ``page``): only the filters set."""
        args: dict[str, str | int] = {
            name: value
            for name, value in (
                ("rule", self.rule),
                ("severity", self.severity),
                ("institution", self.institution),
                ("practitioner", self.practitioner),
            )
            if value
        }
        if self.unresolved:
            args["unresolved"] = 1
        if page is not None:
            args["page"] = page
        return args

    def hidden_args(self) -> dict[str, str | int]:
        """The filters the form has no field for, kept when the form is sent again."""
        return {
            name: value
            for name, value in self.link_args().items()
            if name in ("practitioner", "unresolved")
        }


@dataclass(frozen=True)
class FindingsPage:
    rows: list[dict[str, Any]]
    total: int
    page: int
    pages: int
    rules: list[str]
    institutions: list[str]


def findings_page(engine: Engine, wanted: FindingFilter) -> FindingsPage:
    """One page of findings, newest first, with the choices for the filters."""
    conditions = []
    if wanted.rule:
        conditions.append(_f.rule_id == wanted.rule)
    if wanted.severity:
        conditions.append(_f.severity == wanted.severity)
    if wanted.institution:
        conditions.append(_f.institution_code == wanted.institution)
    if wanted.unresolved:
        conditions.append(_f.state.in_(UNRESOLVED_STATES))
    source: Any = tables.findings
    if wanted.practitioner:
        source = tables.findings.join(tables.records, _f.record_index == _r.entry_index)
        conditions.append(_r.practitioner_license_no == wanted.practitioner)
    with read_transaction(engine) as connection:
        total = connection.execute(
            select(func.count()).select_from(source).where(*conditions)
        ).scalar_one()
        pages = max(1, -(-total // PAGE_SIZE))
        page = min(wanted.page, pages)
        rows = connection.execute(
            select(tables.findings)
            .select_from(source)
            .where(*conditions)
            .order_by(_f.entry_index.desc())
            .limit(PAGE_SIZE)
            .offset((page - 1) * PAGE_SIZE)
        ).all()
        rules = list(
            connection.execute(select(_f.rule_id).distinct().order_by(_f.rule_id)).scalars()
        )
        institutions = list(
            connection.execute(
                select(_f.institution_code).distinct().order_by(_f.institution_code)
            ).scalars()
        )
    return FindingsPage(
        [
            {
                "finding_id": r.finding_id,
                "state": r.state,
                "rule": r.rule_id,
                "severity": r.severity,
                "institution_code": r.institution_code,
                "record_id": r.record_id,
                "record_index": r.record_index,
                "entry_index": r.entry_index,
                "found_at": tables.read_time(r.found_at),
                "case_id": r.case_id,
            }
            for r in rows
        ],
        total,
        page,
        pages,
        rules,
        institutions,
    )
