"""Institution, pharmacy and practitioner pages: who they are in words, their volumes, their
roster or their institutions by name, and each rule's findings linked to the findings list
filtered to them."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date
from typing import Any

from flask import abort, redirect, render_template, url_for
from flask_babel import gettext as _

from inspectors.rulebook import RULES_BY_ID
from supervisor.web.current import services
from supervisor.web.portal import portal
from supervisor.web.portal.evidence_text import rule_titles
from supervisor.web.portal.pharmacy_profiles import (
    CHANNEL_SAMPLE,
    PharmacyProfile,
    is_pharmacy,
    pharmacy_profile,
)
from supervisor.web.portal.profiles import (
    Activity,
    CaseStanding,
    InstitutionProfile,
    NamedInstitution,
    PractitionerProfile,
    RosterMember,
    institution_profile,
    practitioner_profile,
)
from supervisor.web.portal.record_fields import department_names
from supervisor.web.portal.views import china_time, signed_in, value_names


@dataclass(frozen=True)
class Fact:
    """A labelled field: its value as one or more pieces of text, each maybe a link."""

    key: str
    label: str
    parts: tuple[tuple[str, str | None], ...]


@dataclass(frozen=True)
class RuleRow:
    rule: str
    title: str
    count: int
    href: str  # the findings list filtered by this rule and this institution or practitioner


@dataclass(frozen=True)
class Person:
    name: str
    license_no: str
    role: str
    status: str
    href: str


def _fact(key: str, label: str, *parts: tuple[str, str | None]) -> Fact:
    return Fact(key, label, parts or (("—", None),))


def _text(key: str, label: str, value: str | None) -> Fact:
    return _fact(key, label, *(() if not value else ((value, None),)))


def _institution_link(institution: NamedInstitution) -> tuple[str, str | None]:
    label = f"{institution.name} ({institution.code})" if institution.name else institution.code
    return label, url_for("portal.institution", code=institution.code)


def _departments(codes: Iterable[str]) -> tuple[tuple[str, str | None], ...]:
    names = department_names(_)
    return tuple((f"{names[c]} ({c})" if c in names else c, None) for c in codes)


def _word(value: str | None) -> str | None:
    return None if value is None else value_names().get(value, value)


def _rule_rows(activity: Activity, **scope: Any) -> list[RuleRow]:
    titles = rule_titles(_)
    rows = []
    for rule, count in activity.findings_by_rule:
        known = RULES_BY_ID.get(rule)
        title = titles.get(rule) or (known.title if known is not None else rule)
        rows.append(RuleRow(rule, title, count, url_for("portal.findings", rule=rule, **scope)))
    return rows


def _people(members: Iterable[RosterMember]) -> list[Person]:
    return [
        Person(
            m.name or _("not in the practitioner registry in force"),
            m.license_no,
            _word(m.role) or "—",
            _word(m.status) or "—",
            url_for("portal.practitioner", license_no=m.license_no),
        )
        for m in members
    ]


def _institution_facts(profile: InstitutionProfile) -> list[Fact]:
    filing = profile.filing
    if profile.filing_unreadable:
        status = _("filing unreadable (destroyed at retention, or altered)")
    elif filing is None:
        status = _("no filing received")
    elif profile.licence_in_force is None:
        status = _("filed; licence validity unknown")
    elif profile.licence_in_force:
        status = _("filed; licence in force")
    else:
        status = _("filed; licence expired")
    facts = [
        _text("name", _("Institution name"), profile.name),
        _text("code", _("Institution code"), profile.code),
        _text("kind", _("Kind"), _word(filing.kind) if filing else None),
        _text("status", _("Status"), status),
        _text("platform", _("Reporting platform"), profile.platform_name),
    ]
    if filing is None:
        return facts
    valid_until = filing.license_valid_until
    facts += [
        _text("license_no", _("Practice licence number"), filing.license_no),
        _text(
            "license_valid_until",
            _("Licence valid until"),
            None if valid_until is None else valid_until.isoformat(),
        ),
        _fact(
            "host",
            _("Host hospital"),
            *(() if filing.host is None else (_institution_link(filing.host),)),
        ),
        _fact(
            "departments",
            _("Departments (scope of services)"),
            *_departments(filing.departments),
        ),
        _text(
            "last_inspection_date",
            _("Last inspection"),
            filing.last_inspection_date or _("none recorded"),
        ),
        _fact(
            "filed_at",
            _("Filed"),
            (
                china_time(filing.filed_at) if filing.filed_at else "—",
                url_for("portal.record", index=filing.entry_index),
            ),
        ),
    ]
    return facts


def _practitioner_facts(profile: PractitionerProfile) -> list[Fact]:
    entry = profile.entry
    facts = [_text("license_no", _("Licence number"), profile.license_no)]
    if entry is None:
        return facts
    valid_to = entry.valid_to.isoformat() if entry.valid_to else _("no end date")
    facts += [
        _text("name", _("Practitioner name"), entry.name),
        _text("role", _("Role"), _word(entry.role)),
        _text("status", _("Registration status"), _word(entry.status)),
        _text(
            "validity",
            _("Registration valid"),
            _("%(start)s to %(end)s", start=entry.valid_from.isoformat(), end=valid_to),
        ),
        _text("practice_start", _("Independent practice since"), entry.practice_start.isoformat()),
        _fact(
            "primary_institution",
            _("Primary institution"),
            *(() if profile.primary is None else (_institution_link(profile.primary),)),
        ),
        _fact(
            "multi_site",
            _("Multi-site filings"),
            *(_institution_link(i) for i in profile.multi_site),
        ),
        _fact("departments", _("Departments"), *_departments(sorted(entry.departments))),
        _text("registry_version", _("Registry version"), profile.registry_version[:12]),
    ]
    return facts


def _page(
    *,
    heading: str,
    facts: list[Fact],
    missing: str | None,
    activity: Activity,
    scope: Mapping[str, Any],
    lists: list[tuple[str, str, list[Person]]],
    institutions: list[tuple[str, str | None]],
    institutions_title: str,
    cases: CaseStanding | None = None,
) -> str:
    return render_template(
        "portal/profile.html",
        heading=heading,
        facts=facts,
        missing=missing,
        activity=activity,
        rules=_rule_rows(activity, **scope),
        all_findings=url_for("portal.findings", **scope),
        unresolved=url_for("portal.findings", unresolved=1, **scope),
        lists=lists,
        institutions=institutions,
        institutions_title=institutions_title,
        cases=cases,
        scope_code=scope.get("institution", ""),
        rule_titles=rule_titles(_),
    )


@portal.get("/institutions/<code>")
@signed_in
def institution(code: str) -> Any:
    services_ = services()
    if is_pharmacy(services_, code[:64]):
        # Links name a record's institution alike; a pharmacy's page says what it files.
        return redirect(url_for("portal.pharmacy", code=code[:64]))
    reference, _policy = services_.reference.snapshot()
    profile = institution_profile(services_, code[:64], reference)
    if profile is None:
        abort(
            404,
            description=_(
                "Neither the records nor the practitioner registry know this institution."
            ),
        )
    shown = f"{profile.name} ({profile.code})" if profile.name else profile.code
    missing = None
    if profile.filing is None:
        missing = (
            _("This institution's filing cannot be read: it was destroyed or altered.")
            if profile.filing_unreadable
            else _("No filing (备案) received for this institution.")
        )
    lists = [
        ("roster", _("Practitioners on its roster"), _people(profile.roster)),
        (
            "registered",
            _("Practitioners the registry registers here (primary or multi-site)"),
            _people(profile.registered_here),
        ),
    ]
    return _page(
        heading=_("Institution: %(name)s", name=shown),
        facts=_institution_facts(profile),
        missing=missing,
        activity=profile.activity,
        scope={"institution": profile.code},
        lists=[entry for entry in lists if entry[2] or entry[0] == "roster"],
        institutions=[],
        institutions_title="",
        cases=profile.cases,
    )


@portal.get("/practitioners/<license_no>")
@signed_in
def practitioner(license_no: str) -> Any:
    services_ = services()
    reference, _policy = services_.reference.snapshot()
    profile = practitioner_profile(services_, license_no[:64], reference)
    if profile is None:
        abort(404, description=_("No such practitioner in the registry or the records."))
    name = profile.entry.name if profile.entry is not None else None
    shown = f"{name} ({profile.license_no})" if name else profile.license_no
    return _page(
        heading=_("Practitioner: %(name)s", name=shown),
        facts=_practitioner_facts(profile),
        missing=None if profile.entry is not None else _("Not in the practitioner registry."),
        activity=profile.activity,
        scope={"practitioner": profile.license_no},
        lists=[],
        institutions=[_institution_link(i) for i in profile.institutions],
        institutions_title=_("Institutions whose records name this practitioner"),
    )


def _in_force_text(until: date | None, in_force: bool | None) -> str | None:
    if until is None:
        return None
    if in_force:
        return str(_("%(date)s (in force)", date=until.isoformat()))
    return str(_("%(date)s (expired)", date=until.isoformat()))


def _pharmacy_link(place: NamedInstitution) -> tuple[str, str | None]:
    label = f"{place.name} ({place.code})" if place.name else place.code
    return label, url_for("portal.pharmacy", code=place.code)


def _pharmacy_facts(profile: PharmacyProfile) -> list[Fact]:
    filing = profile.filing
    facts = [
        _text("name", _("Pharmacy name"), profile.name),
        _text("code", _("Institution code"), profile.code),
        _fact(
            "platforms",
            _("Platforms that may report for it"),
            *((p, None) for p in profile.platforms),
        ),
    ]
    if filing is None:
        return facts
    online = None
    if filing.online_sales_filed is not None:
        online = _("filed") if filing.online_sales_filed else _("not filed")
    facts += [
        _text("kind", _("Kind"), _word(filing.kind)),
        _text("license_no", _("Drug business licence number"), filing.license_no),
        _text(
            "license_valid_until",
            _("Licence valid until"),
            _in_force_text(filing.license_valid_until, profile.licence_in_force),
        ),
        _text(
            "gsp_valid_until",
            _("GSP certificate valid until"),
            _in_force_text(filing.gsp_valid_until, profile.gsp_in_force),
        ),
        _text("online_sales_filed", _("Online sales filing"), online),
        _text("physical_address", _("Physical address"), filing.physical_address),
        _text("region_code", _("Region code"), filing.region_code),
        _fact(
            "parent",
            _("Chain headquarters"),
            *(() if profile.parent is None else (_pharmacy_link(profile.parent),)),
        ),
        _fact("stores", _("Chain stores"), *(_pharmacy_link(s) for s in profile.stores)),
        _fact(
            "filed_at",
            _("Filed"),
            (
                china_time(filing.filed_at) if filing.filed_at else "—",
                url_for("portal.record", index=filing.entry_index),
            ),
        ),
    ]
    return facts


@portal.get("/pharmacies/<code>")
@signed_in
def pharmacy(code: str) -> Any:
    services_ = services()
    reference, _policy = services_.reference.snapshot()
    profile = pharmacy_profile(services_, code[:64], reference)
    if profile is None:
        abort(404, description=_("No pharmacy filing, dispensing or delivery names this code."))
    shown = f"{profile.name} ({profile.code})" if profile.name else profile.code
    missing = None
    if profile.filing is None:
        missing = (
            _("This pharmacy's filing cannot be read: it was destroyed or altered.")
            if profile.filing_unreadable
            else _("No pharmacy filing (备案) received for this code.")
        )
    scope: dict[str, Any] = {"institution": profile.code}
    return render_template(
        "portal/pharmacy.html",
        heading=_("Pharmacy: %(name)s", name=shown),
        profile=profile,
        facts=_pharmacy_facts(profile),
        missing=missing,
        activity=profile.activity,
        rules=_rule_rows(profile.activity, **scope),
        all_findings=url_for("portal.findings", **scope),
        unresolved=url_for("portal.findings", unresolved=1, **scope),
        lists=[("roster", _("Pharmacists on its duty roster"), _people(profile.roster))],
        cases=profile.cases,
        scope_code=profile.code,
        rule_titles=rule_titles(_),
        channel_sample=CHANNEL_SAMPLE,
    )
