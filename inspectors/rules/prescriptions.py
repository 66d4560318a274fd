"""RX-*: prescriptions written by the treating physician, reviewed by a pharmacist before
anything is dispensed, with drugs that may be prescribed online, for no longer than allowed."""

from __future__ import annotations

from ..findings import Rule, Severity, Subject, Violation
from ..policy import Policy
from ..reference import ReferenceSnapshot
from ..values import Prescription
from .legal import (
    DIAGNOSIS_RULES,
    LONG_TERM_PRESCRIPTION,
    PRESCRIPTION_RULES,
    SUPERVISION_RULES,
    evidence_value,
)

__all__ = ["PRESCRIPTION_RULES_SET"]

_PRESCRIPTION = frozenset({"prescription"})


def _prescription(subject: Subject) -> Prescription:
    record = subject.record.record
    assert isinstance(record, Prescription)  # applies_to guarantees it
    return record


def _no_review(subject: Subject, reference: ReferenceSnapshot, policy: Policy) -> list[Violation]:
    rx = _prescription(subject)
    if rx.review is None:
        return [Violation({"review": None, "dispensed": rx.dispensed_at is not None})]
    if rx.review.result != "approved" and rx.dispensed_at is not None:
        return [Violation({"review_result": rx.review.result, "dispensed": True})]
    return []


def _order(subject: Subject, reference: ReferenceSnapshot, policy: Policy) -> list[Violation]:
    rx = _prescription(subject)
    review = rx.review
    problems = []
    if review is not None and review.reviewed_at < rx.signed_at:
        problems.append("reviewed_before_signed")
    if rx.dispensed_at is not None:
        if rx.dispensed_at < rx.signed_at:
            problems.append("dispensed_before_signed")
        if review is not None and rx.dispensed_at < review.reviewed_at:
            problems.append("dispensed_before_reviewed")
    if not problems:
        return []
    return [
        Violation(
            {
                "problems": problems,
                "signed_at": evidence_value(rx.signed_at),
                "reviewed_at": evidence_value(None if review is None else review.reviewed_at),
                "dispensed_at": evidence_value(rx.dispensed_at),
            }
        )
    ]


def _self_review(subject: Subject, reference: ReferenceSnapshot, policy: Policy) -> list[Violation]:
    rx = _prescription(subject)
    if rx.review is None or rx.review.pharmacist_license_no != rx.prescriber_license_no:
        return []
    return [Violation({"license_no": rx.prescriber_license_no})]


def _prescriber_mismatch(
    subject: Subject, reference: ReferenceSnapshot, policy: Policy
) -> list[Violation]:
    rx = _prescription(subject)
    visit = subject.consultation_value
    if visit is None or visit.practitioner_license_no == rx.prescriber_license_no:
        return []
    assert subject.consultation is not None
    return [
        Violation(
            {
                "prescriber_license_no": rx.prescriber_license_no,
                "consulting_license_no": visit.practitioner_license_no,
            },
            (subject.consultation.index,),
        )
    ]


def _banned_drug(subject: Subject, reference: ReferenceSnapshot, policy: Policy) -> list[Violation]:
    drugs = reference.drugs.by_code
    banned = [
        (item.drug_code, drugs[item.drug_code].category)
        for item in _prescription(subject).items
        if item.drug_code in drugs and not drugs[item.drug_code].online_prescribable
    ]
    if not banned:
        return []
    return [
        Violation(
            {"drug_codes": [code for code, _ in banned], "categories": [c for _, c in banned]}
        )
    ]


def _unknown_drug(
    subject: Subject, reference: ReferenceSnapshot, policy: Policy
) -> list[Violation]:
    unknown = [
        item.drug_code
        for item in _prescription(subject).items
        if item.drug_code not in reference.drugs.by_code
    ]
    return [Violation({"drug_codes": unknown})] if unknown else []


def _days(subject: Subject, reference: ReferenceSnapshot, policy: Policy) -> list[Violation]:
    over = []
    for item in _prescription(subject).items:
        drug = reference.drugs.by_code.get(item.drug_code)
        if drug is None:
            continue  # RX-UNKNOWN-DRUG's
        limit = drug.max_days_supply or policy.default_max_days_supply
        if item.days_supply > limit:
            over.append(
                {"drug_code": item.drug_code, "days_supply": item.days_supply, "limit": limit}
            )
    return [Violation({"items": over})] if over else []


def _orphan(subject: Subject, reference: ReferenceSnapshot, policy: Policy) -> list[Violation]:
    if subject.consultation is not None:
        return []
    rx = _prescription(subject)
    return [
        Violation(
            {
                "consultation_record_id": rx.consultation_record_id,
                "grace_hours": int(policy.grace.total_seconds() // 3600),
            }
        )
    ]


def _too_fast(subject: Subject, reference: ReferenceSnapshot, policy: Policy) -> list[Violation]:
    visit = subject.consultation_value
    if visit is None:
        return []
    rx = _prescription(subject)
    elapsed = rx.signed_at - visit.started_at
    if elapsed >= policy.too_fast:
        return []
    assert subject.consultation is not None
    return [
        Violation(
            {
                "seconds_after_start": int(elapsed.total_seconds()),
                "threshold_seconds": int(policy.too_fast.total_seconds()),
            },
            (subject.consultation.index,),
        )
    ]


PRESCRIPTION_RULES_SET = (
    Rule(
        "RX-NO-REVIEW",
        Severity.HIGH,
        "处方未经药师审核通过",
        f"{DIAGNOSIS_RULES}：在线开具的处方必须经药师审核通过后方可生效；{SUPERVISION_RULES}：严禁在处方"
        "开具前向患者提供药品。",
        _PRESCRIPTION,
        _no_review,
    ),
    Rule(
        "RX-ORDER",
        Severity.HIGH,
        "处方开具、审核、调配顺序颠倒",
        f"{SUPERVISION_RULES}：严禁在处方开具前向患者提供药品；{PRESCRIPTION_RULES}：药师应当对处方进行"
        "审核，审核合格后方可调配。",
        _PRESCRIPTION,
        _order,
    ),
    Rule(
        "RX-SELF-REVIEW",
        Severity.HIGH,
        "开方者自行审方",
        f"{PRESCRIPTION_RULES}：处方由执业医师开具、药师审核，审方应当独立于开方。",
        _PRESCRIPTION,
        _self_review,
    ),
    Rule(
        "RX-PRESCRIBER-MISMATCH",
        Severity.HIGH,
        "开方医师不是接诊医师",
        f"{SUPERVISION_RULES}：处方应由接诊医师本人开具，严禁使用人工智能等自动生成处方。",
        _PRESCRIPTION,
        _prescriber_mismatch,
    ),
    Rule(
        "RX-BANNED-DRUG",
        Severity.HIGH,
        "在线开具禁止网上开具的药品",
        f"{DIAGNOSIS_RULES}：不得在互联网上开具麻醉药品、精神药品等特殊管理药品的处方。",
        _PRESCRIPTION,
        _banned_drug,
    ),
    Rule(
        "RX-UNKNOWN-DRUG",
        Severity.MEDIUM,
        "药品不在药品目录中",
        f"{PRESCRIPTION_RULES}：处方药品应当使用规范的药品名称；监管平台按省级药品目录核验。",
        _PRESCRIPTION,
        _unknown_drug,
    ),
    Rule(
        "RX-DAYS",
        Severity.MEDIUM,
        "处方用药天数超出限量",
        f"{PRESCRIPTION_RULES}：处方一般不得超过7日用量；慢性病、老年病可适当延长；"
        f"{LONG_TERM_PRESCRIPTION}：长期处方不超过12周。以药品目录的单品上限为准。",
        _PRESCRIPTION,
        _days,
    ),
    Rule(
        "RX-ORPHAN",
        Severity.MEDIUM,
        "处方关联的问诊记录未上传",
        f"{SUPERVISION_RULES}：互联网诊疗活动应当全程留痕、可查询、可追溯，处方应有对应的诊疗记录。",
        _PRESCRIPTION,
        _orphan,
    ),
    Rule(
        "RX-TOO-FAST",
        Severity.WARNING,
        "接诊后极短时间内开具处方（疑似自动生成）",
        f"{SUPERVISION_RULES}：处方应由接诊医师本人开具，严禁使用人工智能等自动生成处方。"
        "时间阈值以监管政策为准，仅为线索。",
        _PRESCRIPTION,
        _too_fast,
    ),
)
