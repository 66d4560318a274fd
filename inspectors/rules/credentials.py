"""CRED-*: every practitioner a record names, checked against the registry at the record's time."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date

from ..findings import Grouping, Rule, Severity, Subject, Violation
from ..policy import Policy
from ..reference import ReferenceSnapshot, RegisteredPractitioner
from ..values import InstitutionFiling, NamedPractitioner
from .legal import DIAGNOSIS_RULES, HOSPITAL_RULES, PRESCRIPTION_RULES, SUPERVISION_RULES

__all__ = ["CREDENTIAL_RULES"]

_NAMING_TYPES = frozenset({"consultation", "prescription", "practitioner"})


def _evidence(person: NamedPractitioner, **more: object) -> dict[str, object]:
    return {
        "capacity": person.capacity,
        "date": person.moment.date().isoformat(),
        "license_no": person.license_no,
        **more,
    }


@dataclass(frozen=True)
class _Place:
    """Where the record's practitioners acted, and the policy in force."""

    institution_code: str
    institution: InstitutionFiling | None
    policy: Policy


_PersonCheck = Callable[
    [NamedPractitioner, RegisteredPractitioner, _Place], dict[str, object] | None
]


def _registered_check(
    person_check: _PersonCheck,
) -> Callable[[Subject, ReferenceSnapshot, Policy], Sequence[Violation]]:
    """A check run for each registered practitioner the record names (the unregistered are
    CRED-UNREGISTERED's alone: one cause, one finding)."""

    def check(subject: Subject, reference: ReferenceSnapshot, policy: Policy) -> list[Violation]:
        place = _Place(subject.record.record.institution_code, subject.institution, policy)
        found = []
        for person in subject.practitioners:
            entry = reference.registry.by_license.get(person.license_no)
            if entry is None:
                continue
            evidence = person_check(person, entry, place)
            if evidence is not None:
                found.append(Violation(evidence))
        return found

    return check


def _unregistered(
    subject: Subject, reference: ReferenceSnapshot, policy: Policy
) -> list[Violation]:
    return [
        Violation(_evidence(person))
        for person in subject.practitioners
        if person.license_no not in reference.registry.by_license
    ]


def _inactive(
    person: NamedPractitioner, entry: RegisteredPractitioner, place: _Place
) -> dict[str, object] | None:
    day = person.moment.date()
    if entry.status == "active" and entry.valid_on(day):
        return None
    return _evidence(
        person,
        status=entry.status,
        valid_from=entry.valid_from.isoformat(),
        valid_to=None if entry.valid_to is None else entry.valid_to.isoformat(),
    )


def _site(
    person: NamedPractitioner, entry: RegisteredPractitioner, place: _Place
) -> dict[str, object] | None:
    primary = entry.primary_institution_code
    institution_code = place.institution_code
    if institution_code == primary or institution_code in entry.multi_site_institution_codes:
        return None
    # An internet hospital practises through its host (实体医疗机构): the host's doctors may
    # work on it without a separate filing.
    if place.institution is not None and place.institution.host_institution_code == primary:
        return None
    return _evidence(
        person,
        institution_code=institution_code,
        primary_institution_code=primary,
        multi_site_institution_codes=sorted(entry.multi_site_institution_codes),
    )


def _anniversary(start: date, years: int) -> date:
    try:
        return start.replace(year=start.year + years)
    except ValueError:  # 29 February in a year without one
        return start.replace(year=start.year + years, day=28)


def _experience(
    person: NamedPractitioner, entry: RegisteredPractitioner, place: _Place
) -> dict[str, object] | None:
    if entry.role != "physician" or person.capacity == "reviewing":
        return None
    years = place.policy.minimum_practice_years
    enough_from = _anniversary(entry.practice_start, years)
    if person.moment.date() >= enough_from:
        return None
    return _evidence(
        person,
        practice_start=entry.practice_start.isoformat(),
        minimum_practice_years=years,
    )


_REQUIRED_ROLE = {"consulting": "physician", "prescribing": "physician", "reviewing": "pharmacist"}


def _role(
    person: NamedPractitioner, entry: RegisteredPractitioner, place: _Place
) -> dict[str, object] | None:
    required = person.filed_role if person.capacity == "filed" else _REQUIRED_ROLE[person.capacity]
    if entry.role == required:
        return None
    return _evidence(person, registered_role=entry.role, required_role=required)


def _scope(
    person: NamedPractitioner, entry: RegisteredPractitioner, place: _Place
) -> dict[str, object] | None:
    if person.capacity == "consulting" and person.department_code is not None:
        outside = [] if person.department_code in entry.departments else [person.department_code]
    elif person.capacity == "filed":
        outside = sorted(set(person.filed_departments) - entry.departments)
    else:
        return None
    if not outside:
        return None
    return _evidence(person, departments=outside, registered_departments=sorted(entry.departments))


CREDENTIAL_RULES = (
    Rule(
        "CRED-UNREGISTERED",
        Severity.HIGH,
        "执业人员不在执业注册信息中",
        f"{HOSPITAL_RULES}、{DIAGNOSIS_RULES}：开展互联网诊疗的医师、药师应当依法取得相应执业资质"
        "并在执业注册信息中可查。",
        _NAMING_TYPES,
        _unregistered,
        Grouping.PRACTITIONER,
    ),
    Rule(
        "CRED-INACTIVE",
        Severity.HIGH,
        "执业注册状态无效或不在有效期内",
        f"{DIAGNOSIS_RULES}：医师应当具有有效的执业资质；执业注册被注销、暂停或过期期间不得执业。",
        _NAMING_TYPES,
        _registered_check(_inactive),
        Grouping.PRACTITIONER,
    ),
    Rule(
        "CRED-SITE",
        Severity.HIGH,
        "执业地点未注册或未办理多点执业备案",
        f"{SUPERVISION_RULES}：医务人员在主执业机构以外的其他互联网医院开展互联网诊疗活动，"
        "应当根据多机构执业相关要求进行执业注册或备案。",
        _NAMING_TYPES,
        _registered_check(_site),
        Grouping.PRACTITIONER,
    ),
    Rule(
        "CRED-EXPERIENCE",
        Severity.HIGH,
        "医师独立临床工作经验不足",
        f"{DIAGNOSIS_RULES}、{HOSPITAL_RULES}：开展互联网诊疗的医师应当具有3年以上独立临床工作经验"
        "（年限以监管政策为准）。",
        _NAMING_TYPES,
        _registered_check(_experience),
        Grouping.PRACTITIONER,
    ),
    Rule(
        "CRED-ROLE",
        Severity.HIGH,
        "执业类别与所承担职责不符",
        f"{PRESCRIPTION_RULES}、{SUPERVISION_RULES}：处方由注册的执业医师开具，由药师审核；"
        "其他人员不得替代医师或药师。",
        _NAMING_TYPES,
        _registered_check(_role),
        Grouping.PRACTITIONER,
    ),
    Rule(
        "CRED-SCOPE",
        Severity.MEDIUM,
        "诊疗科目超出注册执业范围",
        f"{DIAGNOSIS_RULES}：医师应当在注册的执业范围内开展互联网诊疗活动。",
        frozenset({"consultation", "practitioner"}),
        _registered_check(_scope),
        Grouping.PRACTITIONER,
    ),
)
