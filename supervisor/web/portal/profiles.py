"""Institution and practitioner profiles: who they are (filings, the registry in force), how
much they send or do, what was found, and the share of their records with no finding.

Every count is scoped by an indexed column (an institution's findings by
``ix_findings_institution``, its records by ``uq_records_institution_record``; a
practitioner's records by ``ix_records_practitioner`` and their findings through
``ix_findings_record``), so a page costs the same whatever the size of the province. The
findings counted by rule are exactly those the findings list shows when filtered by that
rule and the same institution or practitioner (``findings_page.FindingFilter``).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

import orjson
from sqlalchemy import Connection, func, select
from sqlalchemy.sql.elements import ColumnElement

from inspectors.findings import Severity
from inspectors.reference import ReferenceSnapshot, RegisteredPractitioner
from ledger.database import read_transaction
from supervisor.custody.payload_keys import SealedPayloadError
from supervisor.database import tables
from supervisor.ground.china_time import PROVINCE_ZONE
from supervisor.ground.records import PayloadMismatchError, open_leaf_payload
from supervisor.inspection.case_grouping import OPEN_CASE_STATES
from supervisor.runtime.services import Services
from supervisor.web.portal.findings_page import UNRESOLVED_STATES

__all__ = [
    "Activity",
    "CaseStanding",
    "Filing",
    "InstitutionProfile",
    "NamedInstitution",
    "OverdueNotice",
    "PractitionerProfile",
    "RosterMember",
    "case_standing",
    "filed_day",
    "filed_moment",
    "filed_text",
    "institution_profile",
    "open_document",
    "practitioner_profile",
    "record_activity",
    "roster_member",
]

_r = tables.records.c
_f = tables.findings.c
_SERVICE_TYPES = ("consultation", "prescription", "charge")
#: Filings first, then care in the order it happens.
_TYPE_ORDER = {t: i for i, t in enumerate(("institution", "practitioner", *_SERVICE_TYPES))}
_RECORD_OF_FINDING = tables.findings.join(tables.records, _f.record_index == _r.entry_index)
_c = tables.cases.c
_n = tables.notices.c
_nr = tables.notice_responses.c
#: A notice awaits the institution's answer while its case is in one of these states.
_AWAITING_ANSWER = ("rectification_ordered", "escalated")


@dataclass(frozen=True)
class NamedInstitution:
    code: str
    name: str | None  # from its latest filing, else its platform's registration; None: unknown


@dataclass(frozen=True)
class RosterMember:
    """A practitioner as the registry in force knows them (None: not in the registry)."""

    license_no: str
    name: str | None
    role: str | None
    status: str | None


@dataclass(frozen=True)
class Activity:
    volumes: dict[str, int]  # record type -> records
    findings_by_rule: list[tuple[str, int]]  # most found first
    unresolved_findings: int  # open, acknowledged or under rectification
    compliance_rate: float | None  # service records with no finding / service records


@dataclass(frozen=True)
class OverdueNotice:
    notice_id: str
    case_id: str
    rule_id: str
    deadline: str


@dataclass(frozen=True)
class CaseStanding:
    """An institution's cases and how it answers notices (by ``ix_cases_institution`` and
    the notices' institution index: the cost of one institution's cases, not the province's)."""

    open_by_severity: list[tuple[str, int]]  # not final, gravest first
    overdue_notices: list[OverdueNotice]  # awaiting its answer, deadline passed
    notices: int  # issued to it
    answered_by_deadline: int  # notices it answered on or before their deadline
    accepted_by_deadline: int  # ... with an answer the regulator accepted
    repeat_cases: int  # recurrences after a case of the same cause was closed

    @property
    def open_cases(self) -> int:
        return sum(n for _, n in self.open_by_severity)


@dataclass(frozen=True)
class Filing:
    """The institution's latest filing (备案) as it sent it."""

    entry_index: int
    name: str | None
    kind: str | None
    license_no: str | None
    license_valid_until: date | None
    host: NamedInstitution | None
    departments: tuple[str, ...]
    last_inspection_date: str | None
    filed_at: datetime | None


@dataclass(frozen=True)
class InstitutionProfile:
    code: str
    name: str | None
    filing: Filing | None  # None: no filing received, or its content is unreadable
    filing_unreadable: bool  # a filing exists but was shredded or altered
    licence_in_force: bool | None  # on today's date in China; None without a filing
    platform_name: str | None  # the platform registered to send its records
    activity: Activity
    roster: list[RosterMember]  # filed on its roster (practitioner records)
    registered_here: list[RosterMember]  # the registry names it as primary or multi-site
    cases: CaseStanding


@dataclass(frozen=True)
class PractitionerProfile:
    license_no: str
    entry: RegisteredPractitioner | None  # None: not in the registry in force
    registry_version: str
    primary: NamedInstitution | None
    multi_site: list[NamedInstitution]
    institutions: list[NamedInstitution]  # whose records name this practitioner
    activity: Activity


def open_document(services: Services, index: int) -> dict[str, Any] | None:
    """The content of the record at ``index``; None if shredded or not what was committed."""
    entry = services.store.entry(index)
    try:
        document: dict[str, Any] = orjson.loads(
            open_leaf_payload(services.keys, entry.leaf, entry.payload)
        )
    except (SealedPayloadError, PayloadMismatchError):
        return None  # shredded, or not what the ledger committed to: shown as unknown
    return document


def _latest_filings(connection: Connection, codes: Iterable[str]) -> dict[str, int]:
    """Each institution's latest filing entry (by the institution-code index)."""
    wanted = sorted(set(codes))
    if not wanted:
        return {}
    rows = connection.execute(
        select(_r.institution_code, func.max(_r.entry_index))
        .where(_r.institution_code.in_(wanted), _r.record_type == "institution")
        .group_by(_r.institution_code)
    )
    return {code: int(index) for code, index in rows}


def _platform_names(connection: Connection, codes: Iterable[str]) -> dict[str, str]:
    p = tables.platforms.c
    wanted = sorted(set(codes))
    if not wanted:
        return {}
    rows = connection.execute(
        select(p.institution_code, p.name).where(p.institution_code.in_(wanted))
    )
    return {code: name for code, name in rows}


def _names(
    services: Services, connection: Connection, codes: Iterable[str]
) -> dict[str, NamedInstitution]:
    """Institutions by the name their latest filing gives, else their platform's name."""
    wanted = sorted(set(codes))
    filings = _latest_filings(connection, wanted)
    platforms = _platform_names(connection, wanted)
    named = {}
    for code in wanted:
        name = None
        if code in filings and (document := open_document(services, filings[code])) is not None:
            name = document.get("name") if isinstance(document.get("name"), str) else None
        named[code] = NamedInstitution(code, name or platforms.get(code))
    return named


def record_activity(
    connection: Connection,
    records_scope: ColumnElement[bool],
    findings_from: Any,
    findings_scope: ColumnElement[bool],
    *,
    institution: str | None = None,
) -> Activity:
    """What a scope of records did and what was found on it. ``institution``: the scope is
    that institution's records, whose volumes the summary rows hold (a count over its days,
    not over every record it ever sent)."""
    if institution is None:
        query = select(_r.record_type, func.count()).where(records_scope)
        counted = connection.execute(query.group_by(_r.record_type)).all()
    else:
        c = tables.record_counts.c
        query = select(c.record_type, func.sum(c.records)).where(c.institution_code == institution)
        counted = connection.execute(query.group_by(c.record_type)).all()
    volumes = {
        str(t): int(n)
        for t, n in sorted(counted, key=lambda row: (_TYPE_ORDER.get(row[0], 99), row[0]))
    }
    by_rule = connection.execute(
        select(_f.rule_id, func.count())
        .select_from(findings_from)
        .where(findings_scope)
        .group_by(_f.rule_id)
        .order_by(func.count().desc(), _f.rule_id)
    ).all()
    unresolved = connection.execute(
        select(func.count())
        .select_from(findings_from)
        .where(findings_scope, _f.state.in_(UNRESOLVED_STATES))
    ).scalar_one()
    # Found on a service record of this scope: the findings' own rows, then the record's
    # type by its primary key (no scan of the scope's records).
    with_finding = connection.execute(
        select(func.count(func.distinct(_f.record_index)))
        .select_from(_RECORD_OF_FINDING)
        .where(findings_scope, records_scope, _r.record_type.in_(_SERVICE_TYPES))
    ).scalar_one()
    total = sum(volumes.get(t, 0) for t in _SERVICE_TYPES)
    return Activity(
        volumes,
        [(str(rule), int(n)) for rule, n in by_rule],
        int(unresolved),
        None if total == 0 else round(1 - int(with_finding) / total, 4),
    )


def roster_member(reference: ReferenceSnapshot, license_no: str) -> RosterMember:
    entry = reference.registry.by_license.get(license_no)
    if entry is None:
        return RosterMember(license_no, None, None, None)
    return RosterMember(license_no, entry.name, entry.role, entry.status)


def filed_day(value: object) -> date | None:
    try:
        return date.fromisoformat(value) if isinstance(value, str) else None
    except ValueError:
        return None


def filed_moment(value: object) -> datetime | None:
    try:
        moment = datetime.fromisoformat(value) if isinstance(value, str) else None
    except ValueError:
        return None
    return moment if moment is not None and moment.tzinfo is not None else None


def filed_text(document: Mapping[str, Any], key: str) -> str | None:
    value = document.get(key)
    return value if isinstance(value, str) else None


def case_standing(connection: Connection, code: str, today: date) -> CaseStanding:
    by_severity: dict[str, int] = dict(
        connection.execute(
            select(_c.severity, func.count())
            .where(_c.institution_code == code, _c.state.in_(OPEN_CASE_STATES))
            .group_by(_c.severity)
        ).all()
    )
    order = [s.value for s in Severity]
    repeats = connection.execute(
        select(func.count())
        .select_from(tables.cases)
        .where(_c.institution_code == code, _c.repeat.is_(True))
    ).scalar_one()
    notices = connection.execute(
        select(
            _n.notice_id,
            _n.case_id,
            _n.deadline,
            _c.rule_id,
            _c.state,
            _c.notice_id.label("in_force"),
            _c.deadline.label("case_deadline"),
        )
        .join(tables.cases, _c.case_id == _n.case_id)
        .where(_n.institution_code == code)
        .order_by(_n.entry_index)
    ).all()
    answers: dict[str, list[tuple[date, str]]] = {}
    if notices:
        for notice_id, received_at, review in connection.execute(
            select(_nr.notice_id, _nr.received_at, _nr.review).where(
                _nr.notice_id.in_([n.notice_id for n in notices])
            )
        ):
            day = tables.read_time(received_at).astimezone(PROVINCE_ZONE).date()
            answers.setdefault(notice_id, []).append((day, review))
    overdue, answered, accepted = [], 0, 0
    for n in notices:
        # A rejection sets a new deadline on the case for the notice in force.
        deadline = n.case_deadline if n.notice_id == n.in_force and n.case_deadline else n.deadline
        due = date.fromisoformat(deadline)
        timely = [review for day, review in answers.get(n.notice_id, []) if day <= due]
        answered += bool(timely)
        accepted += "accepted" in timely
        if n.notice_id == n.in_force and n.state in _AWAITING_ANSWER and due < today:
            overdue.append(OverdueNotice(n.notice_id, n.case_id, n.rule_id, deadline))
    return CaseStanding(
        [(s, by_severity[s]) for s in order if by_severity.get(s)],
        overdue,
        len(notices),
        answered,
        accepted,
        int(repeats),
    )


def institution_profile(
    services: Services, code: str, reference: ReferenceSnapshot
) -> InstitutionProfile | None:
    """The institution's page, or None if neither the records, the platforms nor the
    registry in force know the code. ``reference`` is the snapshot in force (one per page)."""
    where = _r.institution_code == code
    registered_here = sorted(
        (
            entry.license_no
            for entry in reference.registry.by_license.values()
            if entry.primary_institution_code == code or code in entry.multi_site_institution_codes
        ),
    )
    with read_transaction(services.engine) as connection:
        roster = (
            connection.execute(
                select(_r.practitioner_license_no)
                .where(where, _r.record_type == "practitioner")
                .distinct()
                .order_by(_r.practitioner_license_no)
            )
            .scalars()
            .all()
        )
        activity = record_activity(
            connection, where, tables.findings, _f.institution_code == code, institution=code
        )
        filing_index = _latest_filings(connection, [code]).get(code)
        platform_name = _platform_names(connection, [code]).get(code)
        document = None if filing_index is None else open_document(services, filing_index)
        host_code = None if document is None else filed_text(document, "host_institution_code")
        host = None if host_code is None else _names(services, connection, [host_code])[host_code]
        today = services.clock().astimezone(PROVINCE_ZONE).date()
        cases = case_standing(connection, code, today)
    if not activity.volumes and platform_name is None and not registered_here:
        return None
    filing = None
    if document is not None and filing_index is not None:
        departments = document.get("departments")
        filing = Filing(
            filing_index,
            filed_text(document, "name"),
            filed_text(document, "kind"),
            filed_text(document, "license_no"),
            filed_day(document.get("license_valid_until")),
            host,
            tuple(d for d in departments if isinstance(d, str))
            if isinstance(departments, list)
            else (),
            filed_text(document, "last_inspection_date"),
            filed_moment(document.get("occurred_at")),
        )
    in_force = None
    if filing is not None and filing.license_valid_until is not None:
        in_force = filing.license_valid_until >= today
    return InstitutionProfile(
        code,
        (filing.name if filing is not None else None) or platform_name,
        filing,
        filing_index is not None and document is None,
        in_force,
        platform_name,
        activity,
        [roster_member(reference, str(licence)) for licence in roster if licence],
        [roster_member(reference, licence) for licence in registered_here],
        cases,
    )


def practitioner_profile(
    services: Services, license_no: str, reference: ReferenceSnapshot
) -> PractitionerProfile | None:
    """The practitioner's page, or None if neither the registry in force nor any record
    names the licence. Their records are those naming them as the consulting doctor or the
    prescriber, and the roster filings that list them."""
    entry = reference.registry.by_license.get(license_no)
    where = _r.practitioner_license_no == license_no
    with read_transaction(services.engine) as connection:
        institutions = (
            connection.execute(
                select(_r.institution_code).where(where).distinct().order_by(_r.institution_code)
            )
            .scalars()
            .all()
        )
        if entry is None and not institutions:
            return None
        activity = record_activity(connection, where, _RECORD_OF_FINDING, where)
        named_codes = [str(c) for c in institutions]
        if entry is not None:
            named_codes += [entry.primary_institution_code, *entry.multi_site_institution_codes]
        names = _names(services, connection, named_codes)
    return PractitionerProfile(
        license_no,
        entry,
        reference.registry.version,
        None if entry is None else names[entry.primary_institution_code],
        [] if entry is None else [names[c] for c in sorted(entry.multi_site_institution_codes)],
        [names[str(c)] for c in institutions],
        activity,
    )
