"""PRICE-* and INS-*: charges at or below the catalogue ceiling in force on the charge date,
correctly computed, charged once, and insurance paying only for what it covers."""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal

from ..findings import Rule, Severity, Subject, Violation
from ..policy import Policy
from ..reference import PriceItem, ReferenceSnapshot
from ..values import Charge
from .legal import INSURANCE_GUIDANCE

__all__ = ["PRICE_RULES"]

_CHARGE = frozenset({"charge"})
_CENT = Decimal("0.01")


def _charge(subject: Subject) -> Charge:
    record = subject.record.record
    assert isinstance(record, Charge)  # applies_to guarantees it
    return record


def _catalogue_item(charge: Charge, reference: ReferenceSnapshot) -> PriceItem | None:
    return reference.prices.item_on(charge.item_code, charge.charged_at.date())


def _ceiling(subject: Subject, reference: ReferenceSnapshot, policy: Policy) -> list[Violation]:
    charge = _charge(subject)
    item = _catalogue_item(charge, reference)
    if item is None or charge.unit_price <= item.ceiling_price:
        return []
    return [
        Violation(
            {
                "item_code": charge.item_code,
                "unit_price": str(charge.unit_price),
                "ceiling_price": str(item.ceiling_price),
                "price_valid_from": item.valid_from.isoformat(),
            }
        )
    ]


def _unknown_item(
    subject: Subject, reference: ReferenceSnapshot, policy: Policy
) -> list[Violation]:
    charge = _charge(subject)
    if _catalogue_item(charge, reference) is not None:
        return []
    return [
        Violation({"item_code": charge.item_code, "date": charge.charged_at.date().isoformat()})
    ]


def _amount(subject: Subject, reference: ReferenceSnapshot, policy: Policy) -> list[Violation]:
    charge = _charge(subject)
    expected = (charge.quantity * charge.unit_price).quantize(_CENT, ROUND_HALF_UP)
    if charge.amount.quantize(_CENT, ROUND_HALF_UP) == expected:
        return []
    return [
        Violation(
            {
                "quantity": str(charge.quantity),
                "unit_price": str(charge.unit_price),
                "amount": str(charge.amount),
                "expected_amount": str(expected),
            }
        )
    ]


def _duplicate(subject: Subject, reference: ReferenceSnapshot, policy: Policy) -> list[Violation]:
    charge = _charge(subject)
    earlier = [
        index
        for index, other in subject.earlier_charge_values()
        if other.item_code == charge.item_code
    ]
    if not earlier:
        return []
    return [
        Violation(
            {
                "item_code": charge.item_code,
                "consultation_record_id": charge.consultation_record_id,
            },
            tuple(sorted(earlier)),
        )
    ]


def _not_covered(subject: Subject, reference: ReferenceSnapshot, policy: Policy) -> list[Violation]:
    charge = _charge(subject)
    item = _catalogue_item(charge, reference)
    if item is None or item.insurance_covered or charge.insurance_amount <= 0:
        return []
    return [
        Violation(
            {
                "item_code": charge.item_code,
                "insurance_amount": str(charge.insurance_amount),
                "payer": charge.payer,
            }
        )
    ]


PRICE_RULES = (
    Rule(
        "PRICE-CEILING",
        Severity.HIGH,
        "收费单价超过目录最高限价",
        f"{INSURANCE_GUIDANCE}：互联网复诊按公立医院普通门诊诊查费等标准收费，执行省级价格目录；"
        "以服务发生日有效的限价为准。",
        _CHARGE,
        _ceiling,
    ),
    Rule(
        "PRICE-UNKNOWN-ITEM",
        Severity.MEDIUM,
        "收费项目不在价格目录中",
        f"{INSURANCE_GUIDANCE}：“互联网+”医疗服务价格项目实行目录管理，未列入目录的项目不得收费。",
        _CHARGE,
        _unknown_item,
    ),
    Rule(
        "PRICE-AMOUNT",
        Severity.MEDIUM,
        "收费金额不等于数量乘以单价",
        f"{INSURANCE_GUIDANCE}：医疗服务收费应当明码标价、据实结算。",
        _CHARGE,
        _amount,
    ),
    Rule(
        "PRICE-DUPLICATE",
        Severity.MEDIUM,
        "同一次诊疗重复收费",
        f"{INSURANCE_GUIDANCE}：医保智能审核规则库识别重复收费。",
        _CHARGE,
        _duplicate,
    ),
    Rule(
        "INS-NOT-COVERED",
        Severity.HIGH,
        "医保基金支付了非医保支付范围的项目",
        f"{INSURANCE_GUIDANCE}：医保只支付符合规定的“互联网+”医疗服务项目；药品配送费等不属于医保"
        "支付范围。",
        _CHARGE,
        _not_covered,
    ),
)
