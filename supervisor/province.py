"""A synthetic province for demos, accuracy tests and benchmarks, with known violations.

``generate_province`` is deterministic for its arguments. Realism choices:

* Institutions: internet hospitals that are the second name of a physical
  hospital (60%), standalone ones relying on a physical hospital (25%), and
  third-party platforms (15%), codes ``H3301xxxxx``; hosts ``P3301xxxxx``.
* Practitioners: 8-16 physicians and 2-3 pharmacists per institution. A
  hospital's physicians are registered at its host (practising on the
  internet hospital through it); a platform's come from several hosts with
  a multi-site filing (多点执业备案) for the platform. Names are Chinese
  (common surnames, one- or two-character given names); licence numbers
  and ID numbers are invented and fail the real checksums.
* Patients: each institution has a pool; ages follow a skewed adult
  distribution with about 5% children, 2% of them under 6 (who always come
  with a guardian). Each patient has one chronic diagnosis confirmed at a
  physical hospital (a document with an ICD-10 code), and online visits are
  follow-ups of it: hypertension I10, type 2 diabetes E11.9, hyperlipidaemia
  E78.5, asthma J45.9, GERD K21.9, chronic gastritis K29.5, atopic
  dermatitis L20.9, allergic rhinitis J30.4, low back pain M54.5, gout
  M10.9, coronary heart disease I25.1, chronic kidney disease N18.9.
* Visits: 20-60 per institution per day in working hours (08:00-21:00
  China Standard Time), by a physician of the diagnosis's department; the
  doctor verifies their real name and the patient consents shortly before
  the start. 80% end with a prescription (1-2 drugs of the diagnosis,
  within the catalogue's days-supply limit), reviewed by a pharmacist
  2-30 minutes after signing and dispensed after review; half are
  delivered (a delivery fee, never paid by insurance).
* Prices: the internet follow-up fee is priced like an ordinary
  outpatient consultation (普通门诊诊查费) with a provincial ceiling of
  25 yuan (some hospitals charge 20); insurance pays part of it.
* Drugs: codes shaped like the national medical-insurance codes
  (``XA10BAE...``) for common chronic-disease drugs, and controlled drugs
  (morphine, diazepam, ...) that may not be prescribed online.
* Transmission: records reach the regulator 5-120 minutes after they occur;
  2% of consultations arrive after their prescription (within the grace
  period), which must not produce findings.

Violations: each visit (with its prescription and charges) carries one
violation with probability ``violation_rate``, of a rule chosen uniformly.
Two rules are institution-wide: with four institutions or more, one never
files (every record ``ORG-UNKNOWN``) and one's licence expires mid-period
(every record after it ``ORG-LICENSE``). ``labels`` lists every
(institution, record, rule) a correct inspector must find, and nothing else.
"""

from __future__ import annotations

import random
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta, timezone
from decimal import Decimal
from typing import Any

__all__ = ["VISIT_RULES_INJECTED", "Label", "Province", "Transmission", "generate_province"]

CST = timezone(timedelta(hours=8), "CST")
_SURNAMES = (
    "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡"
    "余杜叶程苏魏吕丁任沈姚卢姜崔钟谭陆汪范金石廖贾夏韦付方白邹孟熊秦邱江尹薛闫段雷侯"
    "龙史陶黎贺顾毛郝龚邵万钱严覃武戴莫孔向汤"
)
_GIVEN = (
    "伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀英华慧巧美娜静淑惠珠翠雅芝玉萍红娥玲芬燕彩春"
    "菊兰凤洁梅琳素云莲真环雪荣爱妹霞香月莺媛瑞凡佳嘉琼勤珍贞莉桂娣叶璧璐娅琦晶妍茜秋"
    "珊莎锦黛青倩婷姣婉娴瑾颖露瑶怡婵雁蓓纨仪荷丹蓉眉君琴蕊薇菁梦岚苑婕馨瑗琰韵融园艺"
    "咏卿聪澜纯毓悦昭冰爽琬茗羽希宁欣飘育滢馥筠柔竹霭凝晓欢霄枫芸菲寒伊亚宜可姬舒影荔"
    "枝思丽"
)
#: diagnosis -> (department, drug codes)
_DIAGNOSES: dict[str, tuple[str, tuple[str, ...]]] = {
    "I10": ("CARDIOLOGY", ("XC08CAA", "XC09CAB", "XC07ABC")),
    "I25.1": ("CARDIOLOGY", ("XB01ACA", "XC10AAE")),
    "E11.9": ("ENDOCRINOLOGY", ("XA10BAE", "XA10BHE")),
    "E78.5": ("ENDOCRINOLOGY", ("XC10AAE", "XC10AAD")),
    "M10.9": ("ENDOCRINOLOGY", ("XM04AAA",)),
    "J45.9": ("RESPIRATORY", ("XR03DCA", "XR03AKA")),
    "J30.4": ("RESPIRATORY", ("XR06AXA",)),
    "K21.9": ("GASTROENTEROLOGY", ("XA02BCA", "XA02BCB")),
    "K29.5": ("GASTROENTEROLOGY", ("XA02BCB",)),
    "L20.9": ("DERMATOLOGY", ("XD07ACA", "XR06AXA")),
    "M54.5": ("ORTHOPAEDICS", ("XM01AEA",)),
    "N18.9": ("NEPHROLOGY", ("XV03AEA",)),
}
_SUBCODES = {"I10": ("I10",), "E11.9": ("E11.9", "E11.65"), "E78.5": ("E78.5", "E78.0")}
_DEPARTMENTS = sorted({d for d, _ in _DIAGNOSES.values()})
#: code -> (name, unit, unit price, category, online prescribable, max days supply)
_DRUGS: dict[str, tuple[str, str, str, str, bool, int | None]] = {
    "XC08CAA": ("苯磺酸氨氯地平片", "盒", "18.20", "rx", True, 28),
    "XC09CAB": ("缬沙坦胶囊", "盒", "26.50", "rx", True, 28),
    "XC07ABC": ("酒石酸美托洛尔片", "盒", "9.80", "rx", True, 28),
    "XB01ACA": ("阿司匹林肠溶片", "盒", "15.60", "rx", True, 30),
    "XC10AAE": ("阿托伐他汀钙片", "盒", "25.80", "rx", True, 28),
    "XC10AAD": ("瑞舒伐他汀钙片", "盒", "32.00", "rx", True, 28),
    "XA10BAE": ("盐酸二甲双胍缓释片", "盒", "32.50", "rx", True, 30),
    "XA10BHE": ("西格列汀片", "盒", "78.00", "rx", True, 28),
    "XM04AAA": ("别嘌醇片", "盒", "12.00", "rx", True, 30),
    "XR03DCA": ("孟鲁司特钠片", "盒", "45.00", "rx", True, 14),
    "XR03AKA": ("沙美特罗替卡松吸入粉雾剂", "支", "168.00", "rx", True, 30),
    "XR06AXA": ("氯雷他定片", "盒", "16.80", "otc", True, None),
    "XA02BCA": ("奥美拉唑肠溶胶囊", "盒", "12.60", "rx", True, 14),
    "XA02BCB": ("雷贝拉唑钠肠溶片", "盒", "38.40", "rx", True, 14),
    "XD07ACA": ("糠酸莫米松乳膏", "支", "29.90", "rx", True, 14),
    "XM01AEA": ("布洛芬缓释胶囊", "盒", "11.50", "otc", True, None),
    "XV03AEA": ("碳酸司维拉姆片", "盒", "96.00", "rx", True, 30),
    "XN02AAM": ("盐酸吗啡缓释片", "盒", "35.00", "narcotic", False, None),
    "XN05BAD": ("地西泮片", "盒", "6.50", "psychotropic", False, None),
    "XN06BAA": ("盐酸哌甲酯缓释片", "盒", "120.00", "psychotropic", False, None),
}
_CONSULT_FEE = "110200001"
_DELIVERY_FEE = "120400001"
_UNKNOWN_ITEM = "999900001"

#: Rules injected by having a practitioner who breaks them see the patient and prescribe.
_BAD_PRACTITIONER_RULES = frozenset(
    {"CRED-UNREGISTERED", "CRED-INACTIVE", "CRED-SITE", "CRED-EXPERIENCE", "CRED-ROLE"}
)

VISIT_RULES_INJECTED = (
    "CRED-UNREGISTERED",
    "CRED-INACTIVE",
    "CRED-SITE",
    "CRED-EXPERIENCE",
    "CRED-ROLE",
    "CRED-SCOPE",
    "VISIT-FIRST",
    "VISIT-DIAGNOSIS-MISMATCH",
    "VISIT-REALNAME",
    "VISIT-CONSENT",
    "VISIT-CHILD-GUARDIAN",
    "RX-NO-REVIEW",
    "RX-ORDER",
    "RX-SELF-REVIEW",
    "RX-PRESCRIBER-MISMATCH",
    "RX-BANNED-DRUG",
    "RX-UNKNOWN-DRUG",
    "RX-DAYS",
    "RX-ORPHAN",
    "RX-TOO-FAST",
    "PRICE-CEILING",
    "PRICE-UNKNOWN-ITEM",
    "PRICE-AMOUNT",
    "PRICE-DUPLICATE",
    "INS-NOT-COVERED",
    "DATA-LATE",
)


@dataclass(frozen=True)
class Label:
    institution_code: str
    record_id: str
    rule: str


@dataclass(frozen=True)
class Transmission:
    """A record and when its platform sends it."""

    send_at: datetime
    record: dict[str, Any]


@dataclass
class Province:
    institutions: list[dict[str, Any]]  # name, code, kind, host
    registry: list[dict[str, str]]
    prices: list[dict[str, str]]
    drugs: list[dict[str, str]]
    patients: list[dict[str, Any]]
    transmissions: dict[str, list[Transmission]]  # institution code -> in sending order
    labels: list[Label] = field(default_factory=list)

    def record_count(self) -> int:
        return sum(len(t) for t in self.transmissions.values())


def _when(moment: datetime) -> str:
    return moment.isoformat(timespec="seconds")


@dataclass
class _Person:
    license_no: str
    name: str
    role: str
    primary: str
    sites: list[str]
    departments: list[str]
    practice_start: date
    status: str = "active"
    id_number: str = ""

    def registry_row(self) -> dict[str, str]:
        return {
            "license_no": self.license_no,
            "name": self.name,
            "role": self.role,
            "status": self.status,
            "valid_from": "2005-01-01",
            "valid_to": "2031-12-31",
            "practice_start": self.practice_start.isoformat(),
            "primary_institution_code": self.primary,
            "multi_site_institution_codes": ";".join(self.sites),
            "departments": ";".join(self.departments),
        }


@dataclass
class _Institution:
    code: str
    name: str
    kind: str
    host: str | None
    physicians: list[_Person]
    pharmacists: list[_Person]
    #: Practitioners who must never appear in clean visits, by the rule they break.
    bad: dict[str, _Person]
    patients: list[dict[str, Any]]
    consult_fee: Decimal
    license_valid_until: date
    files: bool = True


class _Generator:
    def __init__(self, seed: int, start: date, days: int, rate: float) -> None:
        self.rng = random.Random(seed)
        self.start = start
        self.days = days
        self.rate = rate
        self.labels: list[Label] = []
        self.registry: list[_Person] = []
        self.serial = 0

    # -- people ------------------------------------------------------------

    def name(self) -> str:
        rng = self.rng
        return rng.choice(_SURNAMES) + "".join(rng.choices(_GIVEN, k=rng.choice((1, 2, 2))))

    def person(
        self, role: str, primary: str, sites: list[str], departments: list[str], years: int
    ) -> _Person:
        self.serial += 1
        prefix = {"physician": "1", "pharmacist": "2", "nurse": "3"}[role]
        start = self.start - timedelta(days=365 * years + self.rng.randint(0, 300))
        person = _Person(
            f"{prefix}{33_0000_0000 + self.serial:011d}",
            self.name(),
            role,
            primary,
            sites,
            departments,
            start,
            id_number=f"3301{self.rng.randrange(10**13):013d}X",
        )
        self.registry.append(person)
        return person

    def institution(self, number: int, count: int) -> _Institution:
        rng = self.rng
        code = f"H3301{number:05d}"
        roll = rng.random()
        kind = "second_name" if roll < 0.6 else "standalone" if roll < 0.85 else "platform"
        host = None if kind == "platform" else f"P3301{number:05d}"
        name = (
            f"杭州{self.name()[0]}康互联网医院"
            if kind != "platform"
            else f"浙里{self.name()[0]}医在线平台"
        )
        physicians = []
        for _ in range(rng.randint(8, 16)):
            departments = sorted(rng.sample(_DEPARTMENTS, rng.randint(2, 4)))
            if kind == "platform":
                primary = f"P3301{rng.randint(1, max(2, count)):05d}"
                physicians.append(
                    self.person("physician", primary, [code], departments, rng.randint(4, 30))
                )
            else:
                assert host is not None
                physicians.append(
                    self.person("physician", host, [], departments, rng.randint(4, 30))
                )
        pharmacists = [
            self.person("pharmacist", code, [], ["PHARMACY"], rng.randint(4, 20))
            for _ in range(rng.randint(2, 3))
        ]
        home = host or code
        sites = [] if host else [code]
        suspended = self.person("physician", home, sites, list(_DEPARTMENTS), 10)
        suspended.status = "suspended"
        bad = {
            "CRED-INACTIVE": suspended,
            "CRED-SITE": self.person("physician", "P3399999", [], list(_DEPARTMENTS), 10),
            "CRED-EXPERIENCE": self.person("physician", home, sites, list(_DEPARTMENTS), 1),
            "CRED-ROLE": self.person("nurse", home, sites, list(_DEPARTMENTS), 10),
            "CRED-UNREGISTERED": _Person(
                f"1{99_0000_0000 + number:011d}", self.name(), "physician", home, [], [], self.start
            ),
        }
        patients = [self.patient(code, i) for i in range(rng.randint(300, 600))]
        fee = Decimal("25.00") if rng.random() < 0.8 else Decimal("20.00")
        return _Institution(
            code, name, kind, host, physicians, pharmacists, bad, patients, fee, date(2028, 12, 31)
        )

    def patient(self, institution: str, number: int) -> dict[str, Any]:
        rng = self.rng
        roll = rng.random()
        if roll < 0.02:
            age = rng.randint(1, 5)
        elif roll < 0.05:
            age = rng.randint(6, 17)
        else:
            age = min(95, int(rng.triangular(18, 95, 62)))
        birth = self.start - timedelta(days=365 * age + rng.randint(30, 330))
        diagnosis = rng.choice(sorted(_DIAGNOSES))
        return {
            "id_type": "resident_id",
            "id_number": f"3301{rng.randrange(10**13):013d}{rng.choice('0123456789X')}",
            "name": self.name(),
            "birth_date": birth.isoformat(),
            "sex": rng.choice(("male", "female")),
            "_diagnosis": diagnosis,
            "_institution": institution,
            "_document_date": (self.start - timedelta(days=rng.randint(20, 360))).isoformat(),
        }

    # -- records -----------------------------------------------------------

    def filing(self, hospital: _Institution, at: datetime) -> dict[str, Any]:
        return {
            "type": "institution",
            "record_id": f"{hospital.code}-FILING",
            "institution_code": hospital.code,
            "occurred_at": _when(at),
            "name": hospital.name,
            "kind": hospital.kind,
            "license_no": f"PDY{hospital.code[1:]}",
            "license_valid_until": hospital.license_valid_until.isoformat(),
            "host_institution_code": hospital.host,
            "departments": [*_DEPARTMENTS, "PHARMACY"],
            "last_inspection_date": None,
        }

    def roster(self, hospital: _Institution, person: _Person, at: datetime) -> dict[str, Any]:
        return {
            "type": "practitioner",
            "record_id": f"{hospital.code}-ROSTER-{person.license_no}",
            "institution_code": hospital.code,
            "occurred_at": _when(at),
            "license_no": person.license_no,
            "name": person.name,
            "role": person.role,
            "id_number": person.id_number or f"3301{self.rng.randrange(10**13):013d}X",
            "practice_start": person.practice_start.isoformat(),
            "registered_institution_code": person.primary,
            "multi_site_filed": bool(person.sites),
            "departments": person.departments,
        }

    def visit(
        self, hospital: _Institution, number: int, started: datetime, rule: str | None
    ) -> list[tuple[datetime, dict[str, Any], set[str]]]:
        """One visit: its records, each with its send time and the rules it breaks."""
        rng = self.rng
        patient = rng.choice(hospital.patients)
        diagnosis = patient["_diagnosis"]
        department, drug_codes = _DIAGNOSES[diagnosis]
        if rule == "VISIT-CHILD-GUARDIAN":
            children = [p for p in hospital.patients if _age(p, started) < 6]
            if children:
                patient = rng.choice(children)
                diagnosis = patient["_diagnosis"]
                department, drug_codes = _DIAGNOSES[diagnosis]
            else:
                rule = None
        doctors = [p for p in hospital.physicians if department in p.departments]
        doctor = rng.choice(doctors or hospital.physicians)
        if not doctors:
            department = rng.choice(doctor.departments)
        if rule in _BAD_PRACTITIONER_RULES:
            doctor = hospital.bad[rule]
        visit_id = f"{hospital.code}-V{number:07d}"
        ended = started + timedelta(minutes=rng.randint(5, 20))
        child = _age(patient, started) < 6
        consultation: dict[str, Any] = {
            "type": "consultation",
            "record_id": visit_id,
            "institution_code": hospital.code,
            "occurred_at": _when(started),
            "patient": {k: v for k, v in patient.items() if not k.startswith("_")},
            "practitioner_license_no": doctor.license_no,
            "department_code": department,
            "started_at": _when(started),
            "ended_at": _when(ended),
            "channel": rng.choice(("text", "text", "text", "voice", "video")),
            "visit_type": "follow_up",
            "prior_diagnosis": {
                "document_type": rng.choice(
                    (
                        "outpatient_record",
                        "outpatient_record",
                        "discharge_summary",
                        "diagnosis_certificate",
                    )
                ),
                "icd10": diagnosis,
                "institution_code": hospital.host or f"P3301{rng.randint(1, 9):05d}",
                "date": patient["_document_date"],
            },
            "diagnoses": [rng.choice(_SUBCODES.get(diagnosis, (diagnosis,)))],
            "realname_verified_at": _when(started - timedelta(seconds=rng.randint(20, 180))),
            "consent_at": _when(started - timedelta(seconds=rng.randint(5, 120))),
            "guardian_present": True if child else None,
            "outcome": "completed",
            "satisfaction": rng.choice((3, 4, 4, 5, 5, 5)),
        }
        visit_rules: set[str] = set()
        if rule == "CRED-SCOPE":
            outside = [d for d in _DEPARTMENTS if d not in doctor.departments]
            if outside:
                consultation["department_code"] = rng.choice(outside)
                visit_rules.add(rule)
        elif rule == "VISIT-FIRST":
            consultation["visit_type"] = "first_visit"
            consultation["prior_diagnosis"] = None
            visit_rules.add(rule)
        elif rule == "VISIT-DIAGNOSIS-MISMATCH":
            other = rng.choice([d for d in _DIAGNOSES if d[:3] != diagnosis[:3]])
            consultation["diagnoses"] = [other]
            visit_rules.add(rule)
        elif rule == "VISIT-REALNAME":
            consultation["realname_verified_at"] = rng.choice(
                (None, _when(started + timedelta(minutes=2)))
            )
            visit_rules.add(rule)
        elif rule == "VISIT-CONSENT":
            consultation["consent_at"] = None
            visit_rules.add(rule)
        elif rule == "VISIT-CHILD-GUARDIAN":
            consultation["guardian_present"] = rng.choice((False, None))
            visit_rules.add(rule)
        elif rule in hospital.bad:
            visit_rules.add(rule)
        consult_send = started + timedelta(minutes=rng.randint(25, 120))
        if rule == "DATA-LATE":
            consult_send = started + timedelta(hours=rng.randint(30, 60))
            visit_rules.add(rule)
        records: list[tuple[datetime, dict[str, Any], set[str]]] = [
            (consult_send, consultation, visit_rules)
        ]
        with_prescription = rng.random() < 0.8 or (rule or "").startswith("RX-")
        delivered = False
        if with_prescription:
            delivered = rng.random() < 0.5
            records.append(
                self.prescription(hospital, visit_id, doctor, started, drug_codes, rule, delivered)
            )
            if rule == "DATA-LATE" or rng.random() < 0.02:
                pass  # the prescription may well arrive before its consultation
        records += self.charges(hospital, visit_id, ended, delivered, rule)
        return records

    def prescription(  # noqa: PLR0917 - one visit's parts, named at the call
        self,
        hospital: _Institution,
        visit_id: str,
        doctor: _Person,
        started: datetime,
        drug_codes: Sequence[str],
        rule: str | None,
        delivered: bool,
    ) -> tuple[datetime, dict[str, Any], set[str]]:
        rng = self.rng
        signed = started + timedelta(minutes=rng.randint(3, 15))
        items: list[dict[str, Any]] = []
        for code in rng.sample(list(drug_codes), rng.randint(1, min(2, len(drug_codes)))):
            name, unit, price, _, _, limit = _DRUGS[code]
            days = rng.randint(3, limit or 7)
            items.append(
                {
                    "drug_code": code,
                    "drug_name": name,
                    "quantity": str(rng.randint(1, 3)),
                    "unit": unit,
                    "days_supply": days,
                    "unit_price": price,
                }
            )
        pharmacist = rng.choice(hospital.pharmacists)
        reviewed = signed + timedelta(minutes=rng.randint(2, 30))
        dispensed = reviewed + timedelta(minutes=rng.randint(10, 120))
        prescription: dict[str, Any] = {
            "type": "prescription",
            "record_id": f"{visit_id}-RX",
            "institution_code": hospital.code,
            "occurred_at": _when(signed),
            "consultation_record_id": visit_id,
            "prescriber_license_no": doctor.license_no,
            "signed_at": _when(signed),
            "items": items,
            "review": {
                "pharmacist_license_no": pharmacist.license_no,
                "reviewed_at": _when(reviewed),
                "result": "approved",
            },
            "dispensed_at": _when(dispensed),
            "delivery": {"method": "home_delivery", "fee": "8.00"}
            if delivered
            else {"method": "pharmacy_pickup", "fee": "0.00"},
        }
        broken: set[str] = set()
        if rule in _BAD_PRACTITIONER_RULES:
            broken.add(rule)  # the same practitioner prescribes
        elif rule == "RX-NO-REVIEW":
            prescription["review"] = None
            broken.add(rule)
        elif rule == "RX-ORDER":
            prescription["dispensed_at"] = _when(reviewed - timedelta(minutes=1))
            broken.add(rule)
        elif rule == "RX-SELF-REVIEW":
            prescription["review"]["pharmacist_license_no"] = doctor.license_no
            broken |= {rule, "CRED-ROLE"}  # and a physician is not a pharmacist
        elif rule == "RX-PRESCRIBER-MISMATCH":
            others = [p for p in hospital.physicians if p.license_no != doctor.license_no]
            prescription["prescriber_license_no"] = rng.choice(others).license_no
            broken.add(rule)
        elif rule == "RX-BANNED-DRUG":
            code = rng.choice(("XN02AAM", "XN05BAD", "XN06BAA"))
            name, unit, price, *_ = _DRUGS[code]
            items.append(
                {
                    "drug_code": code,
                    "drug_name": name,
                    "quantity": "1",
                    "unit": unit,
                    "days_supply": 3,
                    "unit_price": price,
                }
            )
            broken.add(rule)
        elif rule == "RX-UNKNOWN-DRUG":
            items.append(
                {
                    "drug_code": "XZ99ZZZ",
                    "drug_name": "未知药品",
                    "quantity": "1",
                    "unit": "盒",
                    "days_supply": 3,
                    "unit_price": "10.00",
                }
            )
            broken.add(rule)
        elif rule == "RX-DAYS":
            item = items[0]
            limit = _DRUGS[str(item["drug_code"])][5] or 7
            item["days_supply"] = limit + rng.randint(7, 60)
            broken.add(rule)
        elif rule == "RX-ORPHAN":
            prescription["consultation_record_id"] = f"{visit_id}-MISSING"
            broken.add(rule)
        elif rule == "RX-TOO-FAST":
            signed = started + timedelta(seconds=rng.randint(5, 50))
            prescription["signed_at"] = prescription["occurred_at"] = _when(signed)
            broken.add(rule)
        send = signed + timedelta(minutes=rng.randint(5, 120))
        if rng.random() < 0.02:
            send = started + timedelta(minutes=rng.randint(16, 24))  # before its consultation
        return send, prescription, broken

    def charges(
        self,
        hospital: _Institution,
        visit_id: str,
        ended: datetime,
        delivered: bool,
        rule: str | None,
    ) -> list[tuple[datetime, dict[str, Any], set[str]]]:
        rng = self.rng
        fee = hospital.consult_fee
        insurance = (fee * Decimal("0.6")).quantize(Decimal("0.01"))
        payer = rng.choice(("insurance", "mixed", "mixed", "self"))
        consult: dict[str, Any] = {
            "type": "charge",
            "record_id": f"{visit_id}-FEE",
            "institution_code": hospital.code,
            "occurred_at": _when(ended),
            "consultation_record_id": visit_id,
            "item_code": _CONSULT_FEE,
            "item_name": "互联网复诊诊查费",
            "quantity": "1",
            "unit_price": str(fee),
            "amount": str(fee),
            "payer": payer,
            "insurance_amount": "0.00" if payer == "self" else str(insurance),
            "charged_at": _when(ended),
        }
        send = ended + timedelta(minutes=rng.randint(5, 90))
        charges = [(send, consult, set[str]())]
        if rule == "PRICE-CEILING":
            price = Decimal("25.00") + rng.randint(5, 30)
            consult["unit_price"] = consult["amount"] = str(price)
            charges[0][2].add(rule)
        elif rule == "PRICE-AMOUNT":
            consult["amount"] = str(fee + rng.randint(1, 20))
            charges[0][2].add(rule)
        if delivered or rule == "INS-NOT-COVERED":
            covered_wrongly = rule == "INS-NOT-COVERED"
            delivery = {
                **consult,
                "record_id": f"{visit_id}-DLV",
                "item_code": _DELIVERY_FEE,
                "item_name": "药品配送费",
                "unit_price": "8.00",
                "amount": "8.00",
                "payer": "mixed" if covered_wrongly else "self",
                "insurance_amount": "5.00" if covered_wrongly else "0.00",
            }
            charges.append((send, delivery, {rule} if covered_wrongly and rule else set()))
        if rule == "PRICE-DUPLICATE":
            again = {**consult, "record_id": f"{visit_id}-FEE2"}
            charges.append((send + timedelta(minutes=1), again, {rule}))
        elif rule == "PRICE-UNKNOWN-ITEM":
            unknown = {
                **consult,
                "record_id": f"{visit_id}-EXTRA",
                "item_code": _UNKNOWN_ITEM,
                "item_name": "远程会诊加收",
                "unit_price": "50.00",
                "amount": "50.00",
                "payer": "self",
                "insurance_amount": "0.00",
            }
            charges.append((send, unknown, {rule}))
        return charges


def _age(patient: dict[str, Any], on: datetime) -> int:
    birth = date.fromisoformat(patient["birth_date"])
    day = on.date()
    return day.year - birth.year - ((day.month, day.day) < (birth.month, birth.day))


def _reference_prices() -> list[dict[str, str]]:
    base = {"unit": "次", "valid_to": "", "valid_from": "2020-01-01"}
    return [
        {
            **base,
            "item_code": _CONSULT_FEE,
            "item_name": "互联网复诊诊查费",
            "ceiling_price": "25.00",
            "insurance_covered": "true",
        },
        {
            **base,
            "item_code": _DELIVERY_FEE,
            "item_name": "药品配送费",
            "ceiling_price": "20.00",
            "insurance_covered": "false",
        },
        {
            **base,
            "item_code": "110200002",
            "item_name": "互联网远程会诊费",
            "ceiling_price": "120.00",
            "insurance_covered": "true",
        },
    ]


def _reference_drugs() -> list[dict[str, str]]:
    return [
        {
            "drug_code": code,
            "drug_name": name,
            "category": category,
            "online_prescribable": "true" if online else "false",
            "max_days_supply": "" if limit is None else str(limit),
        }
        for code, (name, _, _, category, online, limit) in sorted(_DRUGS.items())
    ]


def generate_province(
    *, institutions: int, days: int, seed: int, violation_rate: float, end: date
) -> Province:
    """A province of ``institutions`` over the ``days`` days before ``end`` (see the module)."""
    if not 0 <= violation_rate <= 1:
        raise ValueError("violation_rate is a probability")
    start = end - timedelta(days=days)
    generator = _Generator(seed, start, days, violation_rate)
    rng = generator.rng
    hospitals = [generator.institution(n + 1, institutions) for n in range(institutions)]
    unfiled = licence_lapses = None
    if institutions >= 4:
        unfiled, licence_lapses = hospitals[-1], hospitals[-2]
        unfiled.files = False
        # Its doctors hold multi-site filings for it, so only its missing filing is wrong.
        if unfiled.host is not None:
            may_practise = [
                *unfiled.physicians,
                *(p for rule, p in unfiled.bad.items() if rule != "CRED-SITE"),
            ]
            for person in may_practise:
                if unfiled.code not in person.sites:
                    person.sites = [*person.sites, unfiled.code]
        licence_lapses.license_valid_until = start + timedelta(days=max(1, days // 2))
    setup_at = datetime.combine(start - timedelta(days=1), time(9, 0), CST)
    transmissions: dict[str, list[Transmission]] = {}
    labels: list[Label] = []
    for hospital in hospitals:
        sent: list[tuple[datetime, dict[str, Any], set[str]]] = []
        if hospital.files:
            sent.append((setup_at, generator.filing(hospital, setup_at), set()))
        for person in [*hospital.physicians, *hospital.pharmacists]:
            sent.append(
                (
                    setup_at + timedelta(minutes=1),
                    generator.roster(hospital, person, setup_at),
                    set(),
                )
            )
        visit_number = 0
        for day in range(days):
            today = start + timedelta(days=day)
            opening = datetime.combine(today, time(8, 0), CST)
            for _ in range(rng.randint(20, 60)):
                visit_number += 1
                started = opening + timedelta(seconds=rng.randint(0, 13 * 3600))
                rule = rng.choice(VISIT_RULES_INJECTED) if rng.random() < violation_rate else None
                sent += generator.visit(hospital, visit_number, started, rule)
        sent.sort(key=lambda item: item[0])
        for _, record, broken in sent:
            rules = set(broken)
            if hospital is unfiled and record["type"] != "institution":
                rules.add("ORG-UNKNOWN")
            if (
                hospital is licence_lapses
                and date.fromisoformat(record["occurred_at"][:10]) > hospital.license_valid_until
            ):
                rules.add("ORG-LICENSE")
            labels += [Label(hospital.code, record["record_id"], r) for r in sorted(rules)]
        transmissions[hospital.code] = [Transmission(at, record) for at, record, _ in sent]
    registry = [person.registry_row() for person in generator.registry]
    patients = [
        {k: v for k, v in p.items() if k != "id_type"} for h in hospitals for p in h.patients
    ]
    return Province(
        institutions=[
            {"code": h.code, "name": h.name, "kind": h.kind, "host": h.host, "files": h.files}
            for h in hospitals
        ],
        registry=registry,
        prices=_reference_prices(),
        drugs=_reference_drugs(),
        patients=patients,
        transmissions=transmissions,
        labels=labels,
    )


def sending_order(province: Province) -> Iterator[tuple[str, Transmission]]:
    """Every transmission of every institution, in the order of their send times."""
    merged = [(t.send_at, code, t) for code, ts in province.transmissions.items() for t in ts]
    merged.sort(key=lambda item: (item[0], item[1]))
    for _, code, transmission in merged:
        yield code, transmission
