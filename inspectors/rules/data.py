"""DATA-* and ORG-*: records arrive on time, from institutions filed and licensed at the time."""

from __future__ import annotations

from ..findings import Grouping, Rule, Severity, Subject, Violation
from ..policy import Policy
from ..reference import ReferenceSnapshot
from .legal import HOSPITAL_RULES, SUPERVISION_RULES, evidence_value

__all__ = ["DATA_RULES"]

#: The records of internet hospitals (ORG-*); a pharmacy's records are DISP-*'s to check.
_ALL = frozenset({"consultation", "prescription", "charge", "practitioner", "institution"})
#: Service data (业务类) must arrive promptly; filings (备案类: institution, roster, pharmacy)
#: describe a standing state.
_SERVICE = frozenset({"consultation", "prescription", "charge", "dispensing", "delivery"})


def _late(subject: Subject, reference: ReferenceSnapshot, policy: Policy) -> list[Violation]:
    occurred = subject.record.record.occurred_at
    delay = subject.record.received_at - occurred
    if delay <= policy.late_after:
        return []
    return [
        Violation(
            {
                "occurred_at": evidence_value(occurred),
                "received_at": evidence_value(subject.record.received_at),
                "delay_hours": int(delay.total_seconds() // 3600),
                "allowed_hours": int(policy.late_after.total_seconds() // 3600),
            }
        )
    ]


def _unknown_institution(
    subject: Subject, reference: ReferenceSnapshot, policy: Policy
) -> list[Violation]:
    if subject.institution is not None:
        return []
    return [Violation({"institution_code": subject.record.record.institution_code})]


def _licence(subject: Subject, reference: ReferenceSnapshot, policy: Policy) -> list[Violation]:
    filing = subject.institution
    day = subject.record.record.occurred_at.date()
    if filing is None or day <= filing.license_valid_until:
        return []
    return [
        Violation(
            {
                "license_no": filing.license_no,
                "license_valid_until": filing.license_valid_until.isoformat(),
                "date": day.isoformat(),
            }
        )
    ]


DATA_RULES = (
    Rule(
        "DATA-LATE",
        Severity.LOW,
        "数据上传不及时",
        f"{SUPERVISION_RULES}：医疗机构应当将互联网诊疗数据及时上传至省级监管平台；时限以监管政策为准。",
        _SERVICE,
        _late,
        Grouping.INSTITUTION,
    ),
    Rule(
        "ORG-UNKNOWN",
        Severity.HIGH,
        "机构未在监管平台备案",
        f"{HOSPITAL_RULES}：互联网医院应当向监管平台上传执业许可及执业信息。",
        _ALL - {"institution"},
        _unknown_institution,
        Grouping.INSTITUTION,
    ),
    Rule(
        "ORG-LICENSE",
        Severity.HIGH,
        "机构执业许可证已过期",
        f"{HOSPITAL_RULES}、{SUPERVISION_RULES}：互联网医院应当取得并按期校验《医疗机构执业许可证》。",
        _ALL,
        _licence,
        Grouping.INSTITUTION,
    ),
)
