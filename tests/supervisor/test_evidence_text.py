"""A finding's evidence as sentences, in Chinese and English, for the evidence every rule
really writes: the rules run on the inspectors' own failing cases, and what they found is
read back here the way the portal's reader reads it."""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from flask import Flask, session
from flask_babel import gettext

from inspectors.findings import Subject
from inspectors.reference import (
    DRUG_CATEGORIES,
    PRACTITIONER_ROLES,
    PRACTITIONER_STATUSES,
    PractitionerRegistry,
    PriceCatalogue,
    ReferenceSnapshot,
    dataset_version,
)
from inspectors.reference_files import SourceRow, parse_reference_rows
from inspectors.rulebook import RULES, RULES_BY_ID
from inspectors.values import Review
from supervisor.web.portal.evidence_text import (
    SENTENCE_RULES,
    EvidenceText,
    Gettext,
    evidence_text,
    evidence_value_names,
    legal_bases,
    rule_titles,
)
from supervisor.web.portal.i18n import install_i18n
from supervisor.web.portal.views import value_names
from tests.inspectors import test_dispensing_rules as drugs
from tests.inspectors import world as w
from tests.inspectors.test_rules import FAILING

ZH, EN = "zh_Hans_CN", "en"
_CJK = re.compile(r"[\u4e00-\u9fff]")
#: Other shapes the same rules write (a second branch of the same check).
VARIANTS: dict[str, Subject] = {
    "VISIT-FIRST": w.subject(replace(w.CONSULTATION, prior_diagnosis=None)),
    "VISIT-CONSENT": w.subject(replace(w.CONSULTATION, consent_at=w.START + timedelta(minutes=3))),
    "VISIT-CHILD-GUARDIAN": w.subject(
        replace(w.CONSULTATION, patient_birth_date=date(2022, 1, 1), guardian_present=None)
    ),
    "RX-NO-REVIEW": w.subject(
        replace(w.PRESCRIPTION, review=Review("PH1", w.START + timedelta(minutes=20), "rejected"))
    ),
}


@contextmanager
def reading(language: str) -> Iterator[tuple[Gettext, dict[str, str]]]:
    """The portal's gettext and enumeration words in ``language``, as a request has them."""
    app = Flask(__name__)
    app.secret_key = "test"
    install_i18n(app)
    with app.test_request_context():
        session["language"] = language
        yield gettext, value_names()


def _evidence(subject: Subject, rule_id: str, reference: ReferenceSnapshot | None = None) -> Any:
    found = RULES_BY_ID[rule_id].check(subject, reference or w.reference(), w.policy())
    assert len(found) == 1, rule_id
    return found[0].evidence


def _read(
    language: str,
    rule_id: str,
    evidence: Mapping[str, Any],
    reference: ReferenceSnapshot | None = None,
) -> EvidenceText:
    with reading(language) as (_, names):
        return evidence_text(rule_id, evidence, reference or w.reference(), _, names)


def _text(language: str, rule_id: str, subject: Subject) -> str:
    read = _read(language, rule_id, _evidence(subject, rule_id))
    assert read.sentences and not read.lines, (rule_id, read)
    return " ".join(read.sentences)


# -- The catalogue of titles and legal bases ---------------------------------------------


def test_every_rule_has_a_title_a_legal_basis_and_sentences_in_both_languages() -> None:
    for language in (ZH, EN):
        with reading(language) as (_, __):
            titles, bases = rule_titles(_), legal_bases(_)
        assert set(titles) == set(RULES_BY_ID), f"add the rule to rule_titles ({language})"
        assert set(bases) == set(RULES_BY_ID), f"add the rule to legal_bases ({language})"
    assert set(RULES_BY_ID) == SENTENCE_RULES, "write the rule's evidence as sentences"


def test_in_chinese_the_titles_and_legal_bases_are_the_rules_own_words() -> None:
    with reading(ZH) as (_, __):
        titles, bases = rule_titles(_), legal_bases(_)
    for rule in RULES:
        assert titles[rule.id] == rule.title, rule.id
        assert bases[rule.id] == rule.legal_basis, rule.id


def test_in_english_no_title_or_legal_basis_is_left_in_chinese() -> None:
    with reading(EN) as (_, __):
        titles, bases = rule_titles(_), legal_bases(_)
    for rule in RULES:
        assert not _CJK.search(titles[rule.id]), rule.id
        assert not _CJK.search(bases[rule.id]), rule.id
    assert bases["RX-DAYS"].startswith("Measures for the Administration of Prescriptions")
    assert "Yi Bao Fa [2020] No. 45" in bases["PRICE-CEILING"]


# -- Every rule's real evidence reads as sentences ---------------------------------------


CASES = [
    *(pytest.param(rule_id, subject, id=rule_id) for rule_id, subject in sorted(FAILING.items())),
    *(pytest.param(r, subject, id=f"{r}-other") for r, subject in sorted(VARIANTS.items())),
]


@pytest.mark.parametrize(("rule_id", "subject"), CASES)
def test_the_evidence_of_every_rule_reads_as_sentences(rule_id: str, subject: Subject) -> None:
    evidence = _evidence(subject, rule_id)
    chinese, english = _text(ZH, rule_id, subject), _text(EN, rule_id, subject)
    for text in (chinese, english):
        assert "{" not in text and "[" not in text and "None" not in text, text
        assert not any(key in text for key in evidence if "_" in key), text  # no field names
        assert "True" not in text and "False" not in text, text
    assert chinese.endswith("。") and english.endswith(".")
    assert chinese != english


DRUG_CASES = [
    *(pytest.param(r, subject, id=r) for r, subject in sorted(drugs.FAILING.items())),
    *(pytest.param(r, subject, id=name) for name, (r, subject) in sorted(drugs.VARIANTS.items())),
]


@pytest.mark.parametrize(("rule_id", "subject"), DRUG_CASES)
def test_the_evidence_of_every_dispensing_rule_reads_as_sentences(
    rule_id: str, subject: Subject
) -> None:
    reference = drugs.reference()
    evidence = _evidence(subject, rule_id, reference)
    said = {}
    for language in (ZH, EN):
        read = _read(language, rule_id, evidence, reference)
        assert read.sentences and not read.lines, (rule_id, read)
        said[language] = " ".join(read.sentences)
    chinese, english = said[ZH], said[EN]
    for text in (chinese, english):
        assert "{" not in text and "[" not in text and "None" not in text, text
        assert not any(key in text for key in evidence if "_" in key), text  # no field names
        assert "True" not in text and "False" not in text, text
    assert chinese.endswith("。") and english.endswith(".")
    assert _CJK.search(chinese) and chinese != english


def test_names_amounts_and_enumerations_are_in_words() -> None:
    cases = {
        "CRED-INACTIVE": (
            "2026-11-02，接诊医师张伟（执业证书编号 MD4）的执业注册状态为“暂停”。 "
            "执业注册自 2015-01-01 起有效，未设截止日期。",
            "On 2026-11-02 the registration of the consulting doctor 张伟 (licence MD4) was "
            "“suspended”. The registration is valid from 2015-01-01, with no end date.",
        ),
        "CRED-UNREGISTERED": (
            "2026-11-02，接诊医师（执业证书编号 MD404）不在医师（药师）执业注册信息中。",
            "On 2026-11-02 the consulting doctor (licence MD404) was not in the practitioner "
            "registry.",
        ),
        "CRED-ROLE": (
            "2026-11-02，接诊医师张伟（执业证书编号 NU1）的执业类别为“护士”，"
            "而该职责应由“医师”承担。",
            "On 2026-11-02 the consulting doctor 张伟 (licence NU1) is registered as “nurse”, "
            "but this duty is for a “physician”.",
        ),
        "RX-BANNED-DRUG": (
            "盐酸吗啡片（N0001）属于麻醉药品，不得在互联网上开具。",
            "盐酸吗啡片 (N0001) (narcotic drug) may not be prescribed online.",
        ),
        "RX-DAYS": (
            "二甲双胍缓释片（D0001）处方用药 31 天，超出上限 30 天。",
            "二甲双胍缓释片 (D0001) is prescribed for 31 days; at most 30 days are allowed.",
        ),
        "RX-PRESCRIBER-MISMATCH": (
            "处方由张伟（执业证书编号 MD2）开具，而非接诊医师张伟（执业证书编号 MD1）。",
            "The prescription was written by 张伟 (licence MD2), not by the consulting doctor "
            "张伟 (licence MD1).",
        ),
        "PRICE-AMOUNT": (
            "收费金额为 ¥50.00，而数量 1 × 单价 ¥25.00 应为 ¥25.00。",
            "¥50.00 was charged for 1 × ¥25.00, which comes to ¥25.00.",
        ),
        "INS-NOT-COVERED": (
            "医保基金为药品配送费（DELIVERY）支付了 ¥15.00，该项目不属于医保支付范围"
            "（支付方式：部分医保）。",
            "Medical insurance paid ¥15.00 for 药品配送费 (DELIVERY), which insurance does not "
            "cover (payer: partly insured).",
        ),
        "ORG-LICENSE": (
            "2026-11-02，机构执业许可证 LIC-H1 已过期（有效期至 2026-10-31）。",
            "On 2026-11-02 the institution's practice licence LIC-H1 had expired (valid until "
            "2026-10-31).",
        ),
    }
    for rule_id, (chinese, english) in cases.items():
        assert _text(ZH, rule_id, FAILING[rule_id]) == chinese
        assert _text(EN, rule_id, FAILING[rule_id]) == english


def test_departments_and_the_other_shapes_of_a_rule_read_in_words() -> None:
    assert _text(ZH, "CRED-SCOPE", FAILING["CRED-SCOPE"]) == (
        "2026-11-02，接诊医师张伟（执业证书编号 MD1）的诊疗科目皮肤科（DERMATOLOGY）"
        "超出其注册执业范围（内分泌科（ENDOCRINOLOGY）、内科（INTERNAL））。"
    )
    assert _text(EN, "VISIT-FIRST", VARIANTS["VISIT-FIRST"]) == (
        "The visit was recorded as a follow-up visit, but the patient showed no document with "
        "a definite diagnosis (department internal medicine (INTERNAL))."
    )
    assert _text(ZH, "RX-NO-REVIEW", VARIANTS["RX-NO-REVIEW"]) == (
        "药师审核结果为“不通过”，药品却已调配。"
    )
    assert _text(ZH, "VISIT-CHILD-GUARDIAN", VARIANTS["VISIT-CHILD-GUARDIAN"]) == (
        "患者年龄 4 岁，未记录就诊时是否有监护人陪伴。"
    )


def test_the_ceiling_in_force_on_the_day_of_the_charge_is_the_one_named() -> None:
    """The issue's own example: two windows of the catalogue, the later one applies."""

    def window(price: str, start: str, end: str) -> SourceRow:
        values = {"item_code": "110200001", "item_name": "互联网复诊诊查费", "unit": "次",
                  "ceiling_price": price, "valid_from": start, "valid_to": end,
                  "insurance_covered": "true"}  # fmt: skip
        return SourceRow(start, values)

    rows = parse_reference_rows(
        "prices", [window("25.00", "2026-01-01", "2026-09-30"), window("30", "2026-10-01", "")]
    )
    reference = replace(
        w.reference(), prices=PriceCatalogue.from_rows(dataset_version("prices", rows), rows)
    )
    on = datetime(2026, 10, 3, 14, 5, tzinfo=w.CST)
    charge = replace(
        w.CHARGE, unit_price=Decimal(35), amount=Decimal(35), charged_at=on, occurred_at=on
    )
    evidence = _evidence(w.subject(charge), "PRICE-CEILING", reference)
    (chinese,) = _read(ZH, "PRICE-CEILING", evidence, reference).sentences
    (english,) = _read(EN, "PRICE-CEILING", evidence, reference).sentences
    assert chinese.startswith("单价 ¥35.00 高于 2026-10-01 起执行的限价 ¥30.00")
    assert "互联网复诊诊查费（110200001）" in chinese
    assert english.startswith(
        "Unit price ¥35.00 is above the ceiling of ¥30.00 in force from 2026-10-01"
    )


def test_times_are_in_china_standard_time_and_marked() -> None:
    received = datetime(2026, 11, 3, 6, 5, tzinfo=UTC)  # 14:05 in Beijing
    late = w.subject(w.CONSULTATION, received_at=received)
    assert _text(ZH, "DATA-LATE", late) == (
        "业务发生于 2026-11-02 09:00 北京时间，监管平台于 2026-11-03 14:05 北京时间 收到，"
        "延迟 29 小时，超过规定的 24 小时。"
    )
    assert _text(EN, "DATA-LATE", late) == (
        "It happened at 2026-11-02 09:00 CST and reached the supervision platform at "
        "2026-11-03 14:05 CST, 29 hours later; at most 24 hours are allowed."
    )


def test_seconds_are_shown_when_the_minutes_alone_would_read_the_same() -> None:
    signed = w.START + timedelta(minutes=15, seconds=30)
    early = w.subject(
        replace(
            w.PRESCRIPTION,
            signed_at=signed,
            review=Review("PH1", signed - timedelta(seconds=20), "approved"),
        )
    )
    assert _text(ZH, "RX-ORDER", early) == (
        "药师审核时间 2026-11-02 09:15:10 北京时间 "
        "早于医师签名开具时间 2026-11-02 09:15:30 北京时间。"
    )
    later = _text(EN, "RX-ORDER", FAILING["RX-ORDER"])  # 09:15, 09:18, 09:20: minutes do
    assert later == (
        "The drugs were dispensed at 2026-11-02 09:18 CST, before the pharmacist's review at "
        "2026-11-02 09:20 CST."
    )


def test_names_come_from_the_reference_versions_given() -> None:
    """The finding's own versions name the people: a renamed doctor keeps the old name there."""
    rows = [dict(row) for row in w.REGISTRY_ROWS]
    for row in rows:
        if row["license_no"] == "MD2":
            row["name"] = "李娜"
    renamed = replace(
        w.reference(),
        registry=PractitionerRegistry.from_rows(dataset_version("registry", rows), rows),
    )
    evidence = _evidence(FAILING["RX-PRESCRIBER-MISMATCH"], "RX-PRESCRIBER-MISMATCH")
    (then,) = _read(ZH, "RX-PRESCRIBER-MISMATCH", evidence).sentences
    (now,) = _read(ZH, "RX-PRESCRIBER-MISMATCH", evidence, renamed).sentences
    assert "张伟（执业证书编号 MD2）" in then and "李娜（执业证书编号 MD2）" in now
    (unknown,) = _read(ZH, "RX-PRESCRIBER-MISMATCH", evidence, ReferenceSnapshot()).sentences
    assert unknown == "处方由（执业证书编号 MD2）开具，而非接诊医师（执业证书编号 MD1）。"


def test_every_value_evidence_carries_has_chinese_words() -> None:
    with reading(ZH) as (_, names):
        words = {**names, **evidence_value_names(_)}
    values = [
        *PRACTITIONER_ROLES,
        *PRACTITIONER_STATUSES,
        *DRUG_CATEGORIES,
        *("consulting", "prescribing", "reviewing", "filed"),
        *("approved", "rejected", "self", "insurance", "mixed", "follow_up", "first_visit"),
    ]
    for value in values:
        assert _CJK.search(words.get(value, "")), value


# -- Evidence of a shape no sentence knows -----------------------------------------------


def test_an_unknown_shape_becomes_labelled_lines_never_json() -> None:
    odd = {
        "unit_price": "3.5",
        "started_at": "2026-10-03T06:05:00+00:00",
        "license_no": "MD1",
        "drug_codes": ["D0001", "X1"],
        "dispensed": True,
        "nested": {"days_supply": 9},
        "reason_code": None,
    }
    read = _read(ZH, "RULE-FROM-THE-FUTURE", odd)
    assert not read.sentences
    assert dict(read.lines) == {
        "单价": "¥3.50",
        "开始时间": "2026-10-03 14:05 北京时间",
        "执业证书编号": "张伟（执业证书编号 MD1）",
        "药品": "二甲双胍缓释片（D0001）、X1",
        "已调配发药": "是",
        "nested": "用药天数：9",
        "reason_code": "—",
    }
    # A known rule whose evidence lost a key (an older shape): lines, not a crash.
    partial = {"item_code": "110200001", "unit_price": "30.00"}
    read = _read(EN, "PRICE-CEILING", partial)
    assert not read.sentences
    assert dict(read.lines) == {
        "Price item": "互联网复诊诊查费 (110200001)",
        "Unit price": "¥30.00",
    }
