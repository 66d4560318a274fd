"""VISIT-*: online care is follow-up care, by a verified doctor, with consent."""

from __future__ import annotations

from datetime import date

from ..findings import Rule, Severity, Subject, Violation
from ..policy import Policy
from ..reference import ReferenceSnapshot
from ..values import Consultation
from .legal import DIAGNOSIS_RULES, PRESCRIPTION_RULES, SUPERVISION_RULES, evidence_value

__all__ = ["VISIT_RULES", "age_in_years"]

_CONSULTATION = frozenset({"consultation"})
_CHILD_AGE = 6


def _consultation(subject: Subject) -> Consultation:
    record = subject.record.record
    assert isinstance(record, Consultation)  # applies_to guarantees it
    return record


def age_in_years(birth: date, on: date) -> int:
    return on.year - birth.year - ((on.month, on.day) < (birth.month, birth.day))


def _first_visit(subject: Subject, reference: ReferenceSnapshot, policy: Policy) -> list[Violation]:
    visit = _consultation(subject)
    if visit.visit_type == "follow_up" and visit.prior_diagnosis is not None:
        return []
    # Stopping and referring the patient to a physical hospital is what the rules require.
    if visit.outcome == "terminated_referred":
        return []
    if policy.first_visit_exempt(visit.institution_code, visit.department_code):
        return []
    return [
        Violation(
            {
                "visit_type": visit.visit_type,
                "prior_diagnosis_document": visit.prior_diagnosis is not None,
                "department_code": visit.department_code,
            }
        )
    ]


def _category(icd10: str) -> str:
    return icd10[:3]


def _diagnosis_mismatch(
    subject: Subject, reference: ReferenceSnapshot, policy: Policy
) -> list[Violation]:
    visit = _consultation(subject)
    prior = visit.prior_diagnosis
    if visit.visit_type != "follow_up" or prior is None or visit.outcome == "terminated_referred":
        return []
    if any(_category(code) == _category(prior.icd10) for code in visit.diagnoses):
        return []
    return [Violation({"prior_icd10": prior.icd10, "diagnoses": list(visit.diagnoses)})]


def _not_before_start(field_name: str, subject: Subject) -> list[Violation]:
    visit = _consultation(subject)
    moment = getattr(visit, field_name)
    if moment is not None and moment <= visit.started_at:
        return []
    return [
        Violation(
            {field_name: evidence_value(moment), "started_at": evidence_value(visit.started_at)}
        )
    ]


def _realname(subject: Subject, reference: ReferenceSnapshot, policy: Policy) -> list[Violation]:
    return _not_before_start("realname_verified_at", subject)


def _consent(subject: Subject, reference: ReferenceSnapshot, policy: Policy) -> list[Violation]:
    return _not_before_start("consent_at", subject)


def _child_guardian(
    subject: Subject, reference: ReferenceSnapshot, policy: Policy
) -> list[Violation]:
    visit = _consultation(subject)
    age = age_in_years(visit.patient_birth_date, visit.started_at.date())
    if age >= _CHILD_AGE or visit.guardian_present is True:
        return []
    return [Violation({"patient_age": age, "guardian_present": visit.guardian_present})]


VISIT_RULES = (
    Rule(
        "VISIT-FIRST",
        Severity.HIGH,
        "互联网首诊",
        f"{DIAGNOSIS_RULES}：不得对首诊患者开展互联网诊疗活动；{SUPERVISION_RULES}：患者就诊时应当"
        "提供具有明确诊断的病历资料（门诊病历、住院病历、出院小结、诊断证明等）。试点豁免以监管政策为准。",
        _CONSULTATION,
        _first_visit,
    ),
    Rule(
        "VISIT-DIAGNOSIS-MISMATCH",
        Severity.MEDIUM,
        "复诊诊断与既往明确诊断不符",
        f"{DIAGNOSIS_RULES}：在实体医疗机构明确诊断为某种或某几种常见病、慢性病后，可以针对相同诊断"
        "进行复诊；病情变化需要亲自诊查时，应当立即终止互联网诊疗活动，引导患者到实体医疗机构就诊。",
        _CONSULTATION,
        _diagnosis_mismatch,
    ),
    Rule(
        "VISIT-REALNAME",
        Severity.HIGH,
        "接诊前未完成医师实名认证",
        f"{SUPERVISION_RULES}：医师接诊前需进行实名认证，确保由本人提供诊疗服务；其他人员、人工智能"
        "软件等不得冒用、替代医师本人提供诊疗服务。",
        _CONSULTATION,
        _realname,
    ),
    Rule(
        "VISIT-CONSENT",
        Severity.MEDIUM,
        "诊疗前未取得知情同意",
        f"{DIAGNOSIS_RULES}：医疗机构开展互联网诊疗活动应当取得患者知情同意。",
        _CONSULTATION,
        _consent,
    ),
    Rule(
        "VISIT-CHILD-GUARDIAN",
        Severity.HIGH,
        "6岁以下儿童就诊无监护人陪伴",
        f"{DIAGNOSIS_RULES}、{PRESCRIPTION_RULES}：为6岁以下儿童开具互联网儿童用药处方时，"
        "应当确认患儿有监护人和相关专业医师陪伴。",
        _CONSULTATION,
        _child_guardian,
    ),
)
