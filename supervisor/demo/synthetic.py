"""Synthetic but realistic care records of one institution, for demos, tests and benchmarks.

Deterministic for a seed. The mix is what an internet hospital sends: its
roster, then consultations, most with a prescription and a consultation
fee. Names and ID numbers are invented (ID numbers fail the real checksum).
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

__all__ = ["synthetic_records"]

_SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗"
_GIVEN = "伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀英华"
_DEPARTMENTS = ("INTERNAL", "PEDIATRICS", "DERMATOLOGY", "ENDOCRINOLOGY", "CARDIOLOGY")
_DIAGNOSES = ("I10", "E11.9", "J45.9", "K21.9", "L20.9", "E78.5", "M54.5")
_DRUGS = (
    ("D0001", "二甲双胍缓释片", "盒", "32.50", 30),
    ("D0002", "苯磺酸氨氯地平片", "盒", "18.20", 28),
    ("D0003", "阿托伐他汀钙片", "盒", "25.80", 28),
    ("D0004", "孟鲁司特钠片", "盒", "45.00", 7),
    ("D0005", "奥美拉唑肠溶胶囊", "盒", "12.60", 14),
)


def _name(rng: random.Random) -> str:
    return rng.choice(_SURNAMES) + "".join(rng.choices(_GIVEN, k=rng.randint(1, 2)))


def _date(rng: random.Random, first_year: int, last_year: int) -> str:
    return f"{rng.randint(first_year, last_year)}-{rng.randint(1, 9):02d}-{rng.randint(1, 28):02d}"


def _when(moment: datetime) -> str:
    return moment.isoformat(timespec="seconds")


def synthetic_records(
    institution_code: str, count: int, *, start: datetime, seed: int = 1
) -> Iterator[dict[str, Any]]:
    """``count`` records of ``institution_code``, occurring from ``start`` on (aware datetime)."""
    rng = random.Random(seed)
    physicians = [f"{institution_code}-MD{i:03d}" for i in range(20)]
    pharmacists = [f"{institution_code}-PH{i:03d}" for i in range(3)]
    emitted = 0
    roster = [*physicians, *pharmacists]
    for license_no in roster[:count]:
        role = "pharmacist" if "-PH" in license_no else "physician"
        yield {
            "type": "practitioner",
            "record_id": f"{institution_code}-ROSTER-{license_no}",
            "institution_code": institution_code,
            "occurred_at": _when(start),
            "license_no": license_no,
            "name": _name(rng),
            "role": role,
            "id_number": f"4401{rng.randrange(10**13):013d}X",
            "practice_start": _date(rng, 1995, 2021),
            "registered_institution_code": institution_code,
            "multi_site_filed": rng.random() < 0.2,
            "departments": [rng.choice(_DEPARTMENTS)],
        }
        emitted += 1
    visit = 0
    moment = start
    while emitted < count:
        visit += 1
        moment += timedelta(seconds=rng.randint(5, 90))
        visit_id = f"{institution_code}-V{visit:08d}"
        physician = rng.choice(physicians)
        ended = moment + timedelta(minutes=rng.randint(3, 20))
        yield {
            "type": "consultation",
            "record_id": visit_id,
            "institution_code": institution_code,
            "occurred_at": _when(moment),
            "patient": {
                "id_type": "resident_id",
                "id_number": f"3301{rng.randrange(10**13):013d}{rng.choice('0123456789X')}",
                "name": _name(rng),
                "birth_date": _date(rng, 1940, 2020),
                "sex": rng.choice(("male", "female")),
            },
            "practitioner_license_no": physician,
            "department_code": rng.choice(_DEPARTMENTS),
            "started_at": _when(moment),
            "ended_at": _when(ended),
            "channel": rng.choice(("text", "text", "voice", "video")),
            "visit_type": "follow_up" if rng.random() < 0.97 else "first_visit",
            "prior_diagnosis": {
                "document_type": "outpatient_record",
                "icd10": rng.choice(_DIAGNOSES),
                "institution_code": institution_code,
                "date": _date(rng, 2026, 2026),
            },
            "diagnoses": [rng.choice(_DIAGNOSES)],
            "realname_verified_at": _when(moment - timedelta(seconds=30)),
            "consent_at": _when(moment - timedelta(seconds=20)),
            "guardian_present": None,
            "outcome": "completed",
            "satisfaction": rng.randint(3, 5),
        }
        emitted += 1
        if emitted < count and rng.random() < 0.8:
            drug = rng.choice(_DRUGS)
            signed = ended + timedelta(minutes=1)
            yield {
                "type": "prescription",
                "record_id": f"{visit_id}-RX",
                "institution_code": institution_code,
                "occurred_at": _when(signed),
                "consultation_record_id": visit_id,
                "prescriber_license_no": physician,
                "signed_at": _when(signed),
                "items": [
                    {
                        "drug_code": drug[0],
                        "drug_name": drug[1],
                        "quantity": str(rng.randint(1, 3)),
                        "unit": drug[2],
                        "days_supply": drug[4],
                        "unit_price": drug[3],
                    }
                ],
                "review": {
                    "pharmacist_license_no": rng.choice(pharmacists),
                    "reviewed_at": _when(signed + timedelta(minutes=rng.randint(2, 30))),
                    "result": "approved",
                },
                "dispensed_at": _when(signed + timedelta(hours=1)),
                "delivery": {"method": "home_delivery", "fee": "8.00"},
            }
            emitted += 1
        if emitted < count:
            yield {
                "type": "charge",
                "record_id": f"{visit_id}-FEE",
                "institution_code": institution_code,
                "occurred_at": _when(ended),
                "consultation_record_id": visit_id,
                "item_code": "110200001",
                "item_name": "互联网复诊诊查费",
                "quantity": "1",
                "unit_price": "25.00",
                "amount": "25.00",
                "payer": rng.choice(("self", "insurance", "mixed")),
                "insurance_amount": "0.00",
                "charged_at": _when(ended),
            }
            emitted += 1
