"""DISP-*: drugs after the prescription: who dispensed what, against which prescription,
reviewed by whom, and how it reached the patient.

A dispensing is checked against its pharmacy's filing, the prescription it fills and the
other fills of that prescription earlier in the ledger; a delivery against the dispensing
it carries. What had not arrived by the deadline is None in the ``Subject``: the rule that
reports it says so (DISP-RX-UNKNOWN, DISP-PHARMACY-LICENSE), the others cannot judge
without it and stay silent.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import timedelta
from decimal import Decimal

from ..findings import Grouping, Rule, Severity, Subject, Violation
from ..grouping import CHINA
from ..policy import Policy
from ..reference import ReferenceSnapshot
from ..values import Delivery, Dispensing, DispensingItem, Prescription
from .legal import (
    DIAGNOSIS_RULES,
    DRUG_ADMINISTRATION_LAW,
    DRUG_SUPPLY_PRACTICE,
    NARCOTIC_DRUG_RULES,
    ONLINE_DRUG_SALES,
    PRESCRIPTION_RULES,
    SUPERVISION_RULES,
    evidence_value,
)

__all__ = ["DISPENSING_RULES"]

_DISPENSING = frozenset({"dispensing"})
_DELIVERY = frozenset({"delivery"})


def _dispensing(subject: Subject) -> Dispensing:
    record = subject.record.record
    assert isinstance(record, Dispensing)  # applies_to guarantees it
    return record


def _delivery(subject: Subject) -> Delivery:
    record = subject.record.record
    assert isinstance(record, Delivery)  # applies_to guarantees it
    return record


def _hours(span: timedelta) -> int:
    return int(span.total_seconds() // 3600)


def _codes(items: Iterable[DispensingItem]) -> list[str]:
    """Each drug code once, in the order the record lists them."""
    return list(dict.fromkeys(item.drug_code for item in items))


#: The unit of a drug a prescription lists in two different units: nothing compares to it.
_MIXED = "\x00mixed"


def _same_unit(a: str, b: str) -> bool:
    """Whether two quantities are in one unit (an unstated unit compares with any)."""
    return not a or not b or a.strip().casefold() == b.strip().casefold()


def _prescribed(rx: Prescription) -> dict[str, tuple[Decimal, str]]:
    """Quantity and unit per drug the prescription lists."""
    found: dict[str, tuple[Decimal, str]] = {}
    for item in rx.items:
        quantity, unit = found.get(item.drug_code, (Decimal(0), item.unit))
        unit = unit if _same_unit(unit, item.unit) else _MIXED
        found[item.drug_code] = (quantity + item.quantity, unit)
    return found


def _given(
    items: Iterable[DispensingItem], prescribed: dict[str, tuple[Decimal, str]]
) -> dict[str, Decimal]:
    """Quantity given of each prescribed drug, in the prescription's unit. An item sold in
    another unit (tablets against boxes, 拆零) is not comparable without a pack size, so it
    is left out rather than added to numbers of another unit."""
    total: dict[str, Decimal] = {}
    for item in items:
        wanted = prescribed.get(item.drug_code)
        if wanted is None or wanted[1] == _MIXED or not _same_unit(wanted[1], item.unit):
            continue
        total[item.drug_code] = total.get(item.drug_code, Decimal(0)) + item.quantity
    return total


def _prescription_only(drug_code: str, reference: ReferenceSnapshot) -> bool:
    """Only drugs the catalogue lists as ``otc`` are sold without a prescription; a drug it
    does not list is not shown to be OTC, so it needs one."""
    drug = reference.drugs.by_code.get(drug_code)
    return drug is None or drug.category != "otc"


def _needs_prescription(dispensing: Dispensing, reference: ReferenceSnapshot) -> bool:
    """Filled against a prescription, or gives a drug that may only be given against one."""
    return dispensing.prescription is not None or any(
        _prescription_only(item.drug_code, reference) for item in dispensing.items
    )


def _controlled(
    items: Iterable[DispensingItem], reference: ReferenceSnapshot, policy: Policy
) -> list[tuple[str, str]]:
    """(drug code, category) of each special-management drug among ``items``."""
    found = []
    for code in _codes(items):
        drug = reference.drugs.by_code.get(code)
        if drug is not None and drug.category in policy.controlled_categories:
            found.append((code, drug.category))
    return found


# -- The prescription behind a dispensing ----------------------------------------------


def _no_prescription(
    subject: Subject, reference: ReferenceSnapshot, policy: Policy
) -> list[Violation]:
    d = _dispensing(subject)
    if d.prescription is not None:
        return []
    needing = [code for code in _codes(d.items) if _prescription_only(code, reference)]
    if not needing:
        return []
    drugs = reference.drugs.by_code
    return [
        Violation(
            {
                "channel": d.channel,
                "drug_codes": needing,
                # None: the catalogue does not list the drug (so it is not shown to be OTC).
                "categories": [drugs[c].category if c in drugs else None for c in needing],
            }
        )
    ]


def _prescription_unknown(
    subject: Subject, reference: ReferenceSnapshot, policy: Policy
) -> list[Violation]:
    link = _dispensing(subject).prescription
    if link is None or subject.prescription_value is not None:
        return []
    return [
        Violation(
            {
                "prescription_institution_code": link.institution_code,
                "prescription_record_id": link.record_id,
                "grace_hours": _hours(policy.grace),
            }
        )
    ]


def _expired(subject: Subject, reference: ReferenceSnapshot, policy: Policy) -> list[Violation]:
    rx = subject.prescription_value
    if rx is None:
        return []
    d = _dispensing(subject)
    if d.dispensed_at <= rx.signed_at + policy.prescription_valid:
        return []
    assert subject.prescription is not None
    return [
        Violation(
            {
                "signed_at": evidence_value(rx.signed_at),
                "dispensed_at": evidence_value(d.dispensed_at),
                "hours_after_signing": int((d.dispensed_at - rx.signed_at).total_seconds() // 3600),
                "valid_hours": _hours(policy.prescription_valid),
            },
            (subject.prescription.index,),
        )
    ]


def _double_fill(subject: Subject, reference: ReferenceSnapshot, policy: Policy) -> list[Violation]:
    """Fills of one prescription that together give a drug beyond its prescribed quantity.

    Found on the fill later in the ledger, whichever arrived first: the earlier one has no
    earlier fills to add. A drug counts only if this fill and an earlier one both gave
    some of it (one fill alone over the quantity is DISP-QUANTITY's, whatever else was
    filled before), so two halves of a split fill are not a double fill, nor are two fills
    of different drugs of one prescription.
    """
    rx = subject.prescription_value
    earlier = subject.earlier_fill_values()
    if rx is None or not earlier:
        return []
    assert subject.prescription is not None
    d = _dispensing(subject)
    prescribed = _prescribed(rx)
    this = _given(d.items, prescribed)
    before: dict[str, Decimal] = {}
    for _, fill in earlier:
        for code, quantity in _given(fill.items, prescribed).items():
            before[code] = before.get(code, Decimal(0)) + quantity
    exceeded = [
        code
        for code, quantity in this.items()
        if before.get(code, 0) > 0 and before[code] + quantity > prescribed[code][0]
    ]
    if not exceeded and all(before.get(c, 0) >= q for c, (q, _) in prescribed.items()):
        # Filled in full already: whatever a further fill gives (a noted substitute
        # included) is a second fill of a prescription that was written off.
        exceeded = list(prescribed)
    if not exceeded:
        return []
    fills = sorted(
        [
            (index, fill)
            for index, fill in earlier
            if any(code in exceeded for code in _given(fill.items, prescribed))
        ]
        + [(subject.record.index, d)],
        key=lambda pair: pair[0],
    )
    dispensings = []
    for index, fill in fills:
        given = _given(fill.items, prescribed)
        dispensings.append(
            {
                "record_id": fill.record_id,
                "pharmacy_code": fill.institution_code,
                "ledger_index": index,
                "dispensed_at": evidence_value(fill.dispensed_at),
                "items": [
                    {"drug_code": code, "quantity": evidence_value(given[code])}
                    for code in exceeded
                    if code in given
                ],
            }
        )
    others = {index for index, _ in fills if index != subject.record.index}
    return [
        Violation(
            {
                "prescription_institution_code": rx.institution_code,
                "prescription_record_id": rx.record_id,
                "prescription_index": subject.prescription.index,
                "items": [
                    {
                        "drug_code": code,
                        "prescribed_quantity": evidence_value(prescribed[code][0]),
                        "dispensed_quantity": evidence_value(
                            before.get(code, Decimal(0)) + this.get(code, Decimal(0))
                        ),
                    }
                    for code in exceeded
                ],
                "dispensings": dispensings,
            },
            tuple(sorted(others | {subject.prescription.index})),
        )
    ]


def _quantity(subject: Subject, reference: ReferenceSnapshot, policy: Policy) -> list[Violation]:
    rx = subject.prescription_value
    if rx is None:
        return []
    assert subject.prescription is not None
    prescribed = _prescribed(rx)
    over = [
        {
            "drug_code": code,
            "prescribed_quantity": evidence_value(prescribed[code][0]),
            "dispensed_quantity": evidence_value(quantity),
        }
        for code, quantity in _given(_dispensing(subject).items, prescribed).items()
        if quantity > prescribed[code][0]
    ]
    return [Violation({"items": over}, (subject.prescription.index,))] if over else []


def _substitute(subject: Subject, reference: ReferenceSnapshot, policy: Policy) -> list[Violation]:
    rx = subject.prescription_value
    d = _dispensing(subject)
    if rx is None or (d.substitution_note is not None and d.substitution_note.strip()):
        return []
    assert subject.prescription is not None
    prescribed = {item.drug_code for item in rx.items}
    # An over-the-counter drug bought in the same sale is an add-on, not a substitute.
    off = [
        code
        for code in _codes(d.items)
        if code not in prescribed and _prescription_only(code, reference)
    ]
    if not off:
        return []
    return [
        Violation(
            {"drug_codes": off, "prescribed_drug_codes": sorted(prescribed)},
            (subject.prescription.index,),
        )
    ]


# -- Who reviewed and who sold ---------------------------------------------------------


def _no_pharmacist(
    subject: Subject, reference: ReferenceSnapshot, policy: Policy
) -> list[Violation]:
    d = _dispensing(subject)
    if not _needs_prescription(d, reference):
        return []
    review = d.pharmacist_review
    if review is None:
        return [Violation({"problems": ["no_review"]})]
    problems = []
    if review.result != "approved":
        problems.append("not_approved")
    # Without a filing the roster is unknown; DISP-PHARMACY-LICENSE reports the filing.
    if (
        subject.pharmacy is not None
        and review.pharmacist_license_no not in subject.pharmacy.pharmacists
    ):
        problems.append("not_on_roster")
    entry = reference.registry.by_license.get(review.pharmacist_license_no)
    if entry is None:
        problems.append("unregistered")
    else:
        if entry.role != "pharmacist":
            problems.append("not_pharmacist")
        if entry.status != "active" or not entry.valid_on(review.reviewed_at.date()):
            problems.append("inactive")
    if not problems:
        return []
    return [
        Violation(
            {
                "problems": problems,
                "license_no": review.pharmacist_license_no,
                "reviewed_at": evidence_value(review.reviewed_at),
                "review_result": review.result,
                "registered_role": None if entry is None else entry.role,
                "registered_status": None if entry is None else entry.status,
            }
        )
    ]


def _review_order(
    subject: Subject, reference: ReferenceSnapshot, policy: Policy
) -> list[Violation]:
    d = _dispensing(subject)
    review = d.pharmacist_review
    rx = subject.prescription_value
    problems = []
    related: tuple[int, ...] = ()
    if review is not None and d.dispensed_at < review.reviewed_at:
        problems.append("dispensed_before_reviewed")
    signed_late = rx is not None and d.dispensed_at < rx.signed_at
    if signed_late:
        # Handed out before the doctor signed: there was no prescription at the time.
        problems.append("dispensed_before_signed")
    if rx is not None and rx.review is not None and rx.review.result == "rejected":
        problems.append("prescription_rejected")
    if not problems:
        return []
    if signed_late or "prescription_rejected" in problems:
        assert subject.prescription is not None
        related = (subject.prescription.index,)
    evidence = {
        "problems": problems,
        "dispensed_at": evidence_value(d.dispensed_at),
        "reviewed_at": None if review is None else evidence_value(review.reviewed_at),
        "prescription_review_result": (
            None if rx is None or rx.review is None else rx.review.result
        ),
    }
    if signed_late:
        assert rx is not None
        evidence["signed_at"] = evidence_value(rx.signed_at)
    return [Violation(evidence, related)]


def _pharmacy_licence(
    subject: Subject, reference: ReferenceSnapshot, policy: Policy
) -> list[Violation]:
    d = _dispensing(subject)
    day = d.dispensed_at.astimezone(CHINA).date()  # licences run by the province's calendar
    pharmacy = subject.pharmacy
    if pharmacy is None:
        evidence = {"problems": ["no_filing"], "pharmacy_code": d.institution_code}
        return [Violation({**evidence, "date": day.isoformat()})]
    problems = []
    if day > pharmacy.license_valid_until:
        problems.append("license_expired")
    if day > pharmacy.gsp_valid_until:
        problems.append("gsp_expired")
    if d.channel == "online" and not pharmacy.online_sales_filed:
        problems.append("online_sales_not_filed")
    if not problems:
        return []
    return [
        Violation(
            {
                "problems": problems,
                "pharmacy_code": pharmacy.institution_code,
                "date": day.isoformat(),
                "license_no": pharmacy.license_no,
                "license_valid_until": pharmacy.license_valid_until.isoformat(),
                "gsp_valid_until": pharmacy.gsp_valid_until.isoformat(),
                "channel": d.channel,
                "online_sales_filed": pharmacy.online_sales_filed,
            }
        )
    ]


def _third_party_sale(
    subject: Subject, reference: ReferenceSnapshot, policy: Policy
) -> list[Violation]:
    pharmacy = subject.pharmacy
    if pharmacy is None or pharmacy.kind != "platform":
        return []
    return [
        Violation(
            {
                "pharmacy_code": pharmacy.institution_code,
                "kind": pharmacy.kind,
                "channel": _dispensing(subject).channel,
            }
        )
    ]


# -- How the drugs travelled -------------------------------------------------------------


def _controlled_online(
    subject: Subject, reference: ReferenceSnapshot, policy: Policy
) -> list[Violation]:
    record = subject.record.record
    if isinstance(record, Dispensing):
        if record.channel != "online":
            return []
        found = _controlled(record.items, reference, policy)
        if not found:
            return []
        return [
            Violation(
                {
                    "channel": record.channel,
                    "drug_codes": [code for code, _ in found],
                    "categories": [category for _, category in found],
                }
            )
        ]
    delivery = _delivery(subject)
    carried = subject.dispensing_value
    if carried is None:
        return []
    assert subject.dispensing is not None
    found = _controlled(carried.items, reference, policy)
    if not found:
        return []
    return [
        Violation(
            {
                "dispensing_record_id": delivery.dispensing_record_id,
                "carrier": delivery.carrier,
                "drug_codes": [code for code, _ in found],
                "categories": [category for _, category in found],
            },
            (subject.dispensing.index,),
        )
    ]


def _cold_chain(subject: Subject, reference: ReferenceSnapshot, policy: Policy) -> list[Violation]:
    delivery = _delivery(subject)
    carried = subject.dispensing_value
    drugs = reference.drugs.by_code
    cold = (
        []
        if carried is None
        else [code for code in _codes(carried.items) if code in drugs and drugs[code].cold_chain]
    )
    problems = []
    if cold and not delivery.cold_chain:
        problems.append("not_cold_chain")
    # An excursion makes a drug kept cold unfit to hand over: one the catalogue says needs
    # the cold chain, or one the pharmacy shipped cold.
    if delivery.temperature_excursion and (cold or delivery.cold_chain):
        problems.append("temperature_excursion")
    if not problems:
        return []
    return [
        Violation(
            {
                "problems": problems,
                "dispensing_record_id": delivery.dispensing_record_id,
                "carrier": delivery.carrier,
                "drug_codes": cold,
                "cold_chain": delivery.cold_chain,
                "temperature_excursion": delivery.temperature_excursion,
            },
            () if subject.dispensing is None else (subject.dispensing.index,),
        )
    ]


def _delivery_realname(
    subject: Subject, reference: ReferenceSnapshot, policy: Policy
) -> list[Violation]:
    delivery = _delivery(subject)
    carried = subject.dispensing_value
    if delivery.delivered_at is None or delivery.recipient_verified_at is not None:
        return []
    if carried is None or not _needs_prescription(carried, reference):
        return []
    assert subject.dispensing is not None
    return [
        Violation(
            {
                "delivered_at": evidence_value(delivery.delivered_at),
                "dispensing_record_id": delivery.dispensing_record_id,
                "carrier": delivery.carrier,
                "prescription_record_id": (
                    None if carried.prescription is None else carried.prescription.record_id
                ),
                "drug_codes": [
                    c for c in _codes(carried.items) if _prescription_only(c, reference)
                ],
            },
            (subject.dispensing.index,),
        )
    ]


DISPENSING_RULES = (
    Rule(
        "DISP-NO-RX",
        Severity.HIGH,
        "无处方调配处方药",
        f"{PRESCRIPTION_RULES}：药师应当凭医师处方调剂处方药品，非经医师处方不得调剂；"
        f"{ONLINE_DRUG_SALES}：通过网络向个人销售处方药的，应当确保处方来源真实、可靠。"
        "药品目录未列为非处方药的，均按处方药核验。",
        _DISPENSING,
        _no_prescription,
    ),
    Rule(
        "DISP-RX-UNKNOWN",
        Severity.HIGH,
        "调配所凭处方未上传至监管平台",
        f"{ONLINE_DRUG_SALES}：通过网络向个人销售处方药的，应当确保处方来源真实、可靠；"
        f"{SUPERVISION_RULES}：互联网诊疗活动应当全程留痕、可查询、可追溯。",
        _DISPENSING,
        _prescription_unknown,
    ),
    Rule(
        "DISP-RX-EXPIRED",
        Severity.MEDIUM,
        "超过处方有效期调配",
        f"{PRESCRIPTION_RULES}：处方开具当日有效。特殊情况下需延长有效期的，由开具处方的医师注明"
        "有效期限，但有效期最长不得超过3天。时限以监管政策为准。",
        _DISPENSING,
        _expired,
    ),
    Rule(
        "DISP-DOUBLE-FILL",
        Severity.HIGH,
        "同一处方重复调配",
        f"{ONLINE_DRUG_SALES}：药品网络零售企业应当与电子处方提供单位签订协议，并严格按照有关规定"
        "进行处方审核调配，对已经使用的电子处方进行标记，避免处方重复使用。同一处方在各药店、"
        "各平台调配的合计数量不得超过处方数量。",
        _DISPENSING,
        _double_fill,
    ),
    Rule(
        "DISP-QUANTITY",
        Severity.MEDIUM,
        "调配数量超过处方数量",
        f"{PRESCRIPTION_RULES}：药师应当凭医师处方调剂处方药品；{DRUG_SUPPLY_PRACTICE}：对处方所列"
        "药品不得擅自更改或者代用。",
        _DISPENSING,
        _quantity,
    ),
    Rule(
        "DISP-SUBSTITUTE",
        Severity.MEDIUM,
        "调配处方外药品且无替换说明",
        f"{DRUG_SUPPLY_PRACTICE}：对处方所列药品不得擅自更改或者代用。确需替换的，以调配记录中的"
        "替换说明为据。",
        _DISPENSING,
        _substitute,
    ),
    Rule(
        "DISP-NO-PHARMACIST",
        Severity.HIGH,
        "处方药调配未经在岗执业药师审核通过",
        f"{DRUG_SUPPLY_PRACTICE}：处方经执业药师审核后方可调配；{ONLINE_DRUG_SALES}：药品网络零售"
        "企业应当严格按照有关规定进行处方审核调配。审核药师应当在药店备案的在岗药师名单中，并在"
        "执业注册信息中有效。",
        _DISPENSING,
        _no_pharmacist,
    ),
    Rule(
        "DISP-PHARMACY-LICENSE",
        Severity.HIGH,
        "药店未备案、许可证或GSP过期，或网络销售未备案",
        f"{DRUG_ADMINISTRATION_LAW}：从事药品零售活动，应当取得药品经营许可证；无药品经营许可证的，"
        f"不得经营药品；从事药品经营活动，应当遵守药品经营质量管理规范；{ONLINE_DRUG_SALES}：从事"
        "药品网络销售的，应当是具备保证网络销售药品安全能力的药品上市许可持有人或者药品经营企业，"
        "并按规定向药品监督管理部门报告网络销售信息。",
        _DISPENSING,
        _pharmacy_licence,
        Grouping.INSTITUTION,
    ),
    Rule(
        "DISP-THIRD-PARTY-SALE",
        Severity.HIGH,
        "第三方平台直接销售药品",
        f"{ONLINE_DRUG_SALES}：从事药品网络销售的，应当是具备保证网络销售药品安全能力的药品上市"
        f"许可持有人或者药品经营企业；{DRUG_ADMINISTRATION_LAW}：第三方平台提供者应当依法对申请"
        "进入平台经营的药品上市许可持有人、药品经营企业的资质等进行审核。平台提供交易服务，"
        "销售者应当是药店。",
        _DISPENSING,
        _third_party_sale,
        Grouping.INSTITUTION,
    ),
    Rule(
        "DISP-CONTROLLED-ONLINE",
        Severity.HIGH,
        "特殊管理药品网络销售或寄递配送",
        f"{ONLINE_DRUG_SALES}：疫苗、血液制品、麻醉药品、精神药品、医疗用毒性药品、放射性药品、"
        f"药品类易制毒化学品等国家实行特殊管理的药品不得在网络上销售；{NARCOTIC_DRUG_RULES}："
        "邮寄麻醉药品和精神药品，寄件人应当提交药品监督管理部门出具的准予邮寄证明。"
        "特殊管理药品类别以监管政策为准。",
        _DISPENSING | _DELIVERY,
        _controlled_online,
    ),
    Rule(
        "DISP-COLD-CHAIN",
        Severity.HIGH,
        "冷链药品未冷链配送或配送温度超标",
        f"{ONLINE_DRUG_SALES}：药品网络零售企业应当对药品配送的质量与安全负责；配送药品，应当根据"
        "药品数量、运输距离、运输时间、温湿度要求等情况，选择适宜的运输工具和设施设备；"
        f"{DRUG_SUPPLY_PRACTICE}：应当根据药品的温度控制要求，在运输过程中采取必要的保温或者冷藏、"
        "冷冻措施。",
        _DELIVERY,
        _cold_chain,
    ),
    Rule(
        "DISP-DELIVERY-REALNAME",
        Severity.MEDIUM,
        "处方药送达时未核验收货人身份",
        f"{ONLINE_DRUG_SALES}：通过网络向个人销售处方药的，应当确保处方来源真实、可靠，并实行"
        "实名制。",
        _DELIVERY,
        _delivery_realname,
    ),
    Rule(
        "DISP-REVIEW-ORDER",
        Severity.HIGH,
        "药师审核前调配，或调配医院审方未通过的处方",
        f"{DRUG_SUPPLY_PRACTICE}：处方经执业药师审核后方可调配；{DIAGNOSIS_RULES}：在线开具的处方"
        "必须经药师审核通过后方可生效。",
        _DISPENSING,
        _review_order,
    ),
)
