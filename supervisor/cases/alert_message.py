"""What an alert of a high-severity case says, by e-mail and by webhook, and how the
webhook is signed. Pure (no database, no network).

The e-mail is plain text, Chinese first and English after. The webhook body is
the alert as JSON; its signature is ``sha256=<hex>``, the HMAC-SHA256 under the
shared secret of ``<timestamp>.<body>`` (timestamp: the Unix seconds sent in
``X-Careledger-Timestamp``), so a receiver can refuse a replayed or altered POST.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass
from datetime import datetime, timedelta
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid
from typing import Any

import orjson

from inspectors.grouping import CHINA

__all__ = [
    "SIGNATURE_HEADER",
    "TIMESTAMP_HEADER",
    "CaseAlert",
    "alert_email",
    "case_url",
    "retry_delay",
    "verify_webhook_signature",
    "webhook_body",
    "webhook_signature",
]

SIGNATURE_HEADER = "X-Careledger-Signature"
TIMESTAMP_HEADER = "X-Careledger-Timestamp"
_RETRY_FIRST = timedelta(minutes=1)
_RETRY_CAP = timedelta(minutes=30)


@dataclass(frozen=True)
class CaseAlert:
    """The case an alert is about, as it stands when the alert is sent."""

    case_id: str
    rule_id: str
    title: str  # the rule's title (Chinese, the rulebook's words)
    severity: str
    institution_code: str
    institution_name: str
    finding_count: int
    first_seen: datetime
    repeat: bool
    url: str


def case_url(portal_base_url: str, case_id: str) -> str:
    """The portal's page of the case (a path when no base address is configured)."""
    return f"{portal_base_url.rstrip('/')}/portal/cases/{case_id}"


def retry_delay(attempts: int) -> timedelta:
    """How long after its ``attempts``-th failed attempt an alert is tried again: one
    minute, doubling, at most 30 minutes. Requires ``attempts >= 1``."""
    delay: timedelta = _RETRY_FIRST * 2 ** min(attempts - 1, 16)
    return min(_RETRY_CAP, delay)


def _china(moment: datetime) -> str:
    return moment.astimezone(CHINA).strftime("%Y-%m-%d %H:%M")


def _institution(alert: CaseAlert) -> str:
    if alert.institution_name == alert.institution_code:
        return alert.institution_code
    return f"{alert.institution_name}（{alert.institution_code}）"


def _body(alert: CaseAlert) -> str:
    repeat_zh = "是（此前同类案件已整改结案后再次发生）" if alert.repeat else "否"
    return "\n".join(
        [
            "careledger 监管告警：新发高风险案件，请值班监管人员及时处置。",
            "",
            f"案件编号：{alert.case_id}",
            f"违规规则：{alert.rule_id} {alert.title}",
            f"涉及机构：{_institution(alert)}",
            f"问题记录数：{alert.finding_count}",
            f"首次发现：{_china(alert.first_seen)}（北京时间）",
            f"重复发生：{repeat_zh}",
            f"案件页面：{alert.url}",
            "",
            "——",
            "careledger alert: a new high-severity case for the regulators on duty.",
            "",
            f"Case: {alert.case_id}",
            f"Rule: {alert.rule_id} ({alert.title})",
            f"Institution: {_institution(alert)}",
            f"Findings: {alert.finding_count}",
            f"First seen: {alert.first_seen.astimezone(CHINA).isoformat()}",
            f"Repeat: {'yes' if alert.repeat else 'no'}",
            f"Case page: {alert.url}",
            "",
        ]
    )


def alert_email(alert: CaseAlert, *, sender: str, recipient: str, now: datetime) -> EmailMessage:
    """The e-mail to one regulator on duty about ``alert``."""
    message = EmailMessage()
    subject = f"{alert.case_id} {alert.rule_id} {alert.title} · {alert.institution_name}"
    # A name a platform registered is not ours to trust: no line breaks into the headers.
    message["Subject"] = "【高风险案件告警】" + " ".join(subject.split())
    message["From"] = sender
    message["To"] = recipient
    message["Date"] = format_datetime(now)
    message["Message-ID"] = make_msgid("alert." + alert.case_id.lower())
    message["X-Careledger-Case"] = alert.case_id
    message.set_content(_body(alert), charset="utf-8")
    return message


def _document(alert: CaseAlert) -> dict[str, Any]:
    return {
        "event": "case.opened",
        "case_id": alert.case_id,
        "rule": alert.rule_id,
        "title": alert.title,
        "severity": alert.severity,
        "institution_code": alert.institution_code,
        "institution_name": alert.institution_name,
        "finding_count": alert.finding_count,
        "first_seen": alert.first_seen.astimezone(CHINA).isoformat(),
        "repeat": alert.repeat,
        "url": alert.url,
    }


def webhook_body(alert: CaseAlert) -> bytes:
    """The JSON the webhook receives (keys sorted, UTF-8)."""
    return orjson.dumps(_document(alert), option=orjson.OPT_SORT_KEYS)


def webhook_signature(secret: bytes, timestamp: int, body: bytes) -> str:
    """``sha256=<hex>``: HMAC-SHA256 under ``secret`` of ``<timestamp>.<body>``."""
    signed = str(timestamp).encode("ascii") + b"." + body
    return "sha256=" + hmac.new(secret, signed, hashlib.sha256).hexdigest()


def verify_webhook_signature(
    secret: bytes, timestamp: str, body: bytes, signature: str, *, now: datetime, window: int = 300
) -> bool:
    """What a receiver checks: the signature matches (compared in constant time) and the
    timestamp is within ``window`` seconds of ``now`` (a replay later is refused)."""
    if not timestamp.isdigit() or abs(now.timestamp() - int(timestamp)) > window:
        return False
    return hmac.compare_digest(webhook_signature(secret, int(timestamp), body), signature)
