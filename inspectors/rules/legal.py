"""The regulations rules cite, named once.

Each rule's legal basis is the regulation plus the provision it applies, in
the regulation's words as regulators quote them. Article numbers are left
out where they could not be checked against the official text.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any

__all__ = [
    "DIAGNOSIS_RULES",
    "DRUG_ADMINISTRATION_LAW",
    "DRUG_SUPPLY_PRACTICE",
    "HOSPITAL_RULES",
    "INSURANCE_GUIDANCE",
    "LONG_TERM_PRESCRIPTION",
    "NARCOTIC_DRUG_RULES",
    "ONLINE_DRUG_SALES",
    "PRESCRIPTION_RULES",
    "SUPERVISION_RULES",
    "evidence_value",
]

DIAGNOSIS_RULES = "《互联网诊疗管理办法（试行）》（国卫医发〔2018〕25号）"
HOSPITAL_RULES = "《互联网医院管理办法（试行）》（国卫医发〔2018〕25号）"
SUPERVISION_RULES = "《互联网诊疗监管细则（试行）》（国卫办医发〔2022〕2号）"
PRESCRIPTION_RULES = "《处方管理办法》（卫生部令第53号，2007年）"
LONG_TERM_PRESCRIPTION = "《长期处方管理规范（试行）》（国卫办医发〔2021〕17号）"
DRUG_ADMINISTRATION_LAW = "《中华人民共和国药品管理法》（2019年修订）"
ONLINE_DRUG_SALES = "《药品网络销售监督管理办法》（国家市场监督管理总局令第58号，2022年）"
#: GSP: the 2016 revision is the text in force (its order number is left out, unchecked).
DRUG_SUPPLY_PRACTICE = "《药品经营质量管理规范》（GSP，2016年修正）"
NARCOTIC_DRUG_RULES = "《麻醉药品和精神药品管理条例》（国务院令第442号）"
INSURANCE_GUIDANCE = (
    "《关于完善“互联网+”医疗服务价格和医保支付政策的指导意见》（医保发〔2019〕47号）；"
    "《关于积极推进“互联网+”医疗服务医保支付工作的指导意见》（医保发〔2020〕45号）"
)


def evidence_value(value: Any) -> Any:
    """A value as evidence JSON: decimals and dates as strings, sequences as lists."""
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, date):  # datetime is a date too
        return value.isoformat()
    if isinstance(value, tuple | list):
        return [evidence_value(v) for v in value]
    return value
