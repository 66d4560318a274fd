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

Pharmacies (``pharmacies``): drawn after the hospitals from a random stream of their
own, they fill a share of the hospitals' prescriptions, sell over the counter and
deliver, with every DISP rule injected; the hospitals' records and labels are the same
as without them, and the pharmacies' records and labels follow.

Why one module of about 700 lines: the generator writes each injected
violation and the label that names it side by side, in the same method, so
that ground truth cannot drift from what was injected. The catalogue it
draws from (names, diagnoses, drugs, prices) lives in ``province_catalogue``.
"""

from __future__ import annotations

import random
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta, timezone
from decimal import Decimal
from typing import Any

from supervisor.demo.pharmacies import generate_pharmacies
from supervisor.demo.province_catalogue import (
    CONSULT_FEE,
    DELIVERY_FEE,
    DEPARTMENTS,
    DIAGNOSES,
    DRUGS,
    GIVEN_NAMES,
    SUBCODES,
    SURNAMES,
    UNKNOWN_ITEM,
    reference_drugs,
    reference_prices,
)

__all__ = ["VISIT_RULES_INJECTED", "Label", "Province", "Transmission", "generate_province"]

CST = timezone(timedelta(hours=8), "CST")
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
    #: Submitting platform's institution code -> its records in sending order (a
    #: hospital's own; a pharmacy platform's, for every pharmacy it serves).
    transmissions: dict[str, list[Transmission]]
    labels: list[Label] = field(default_factory=list)
    pharmacies: list[dict[str, Any]] = field(default_factory=list)  # code, name, kind, ...
    #: Platforms submitting for pharmacies: code, name, and the pharmacy codes it serves
    #: besides its own (authorised on registration).
    platforms: list[dict[str, Any]] = field(default_factory=list)

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
        return rng.choice(SURNAMES) + "".join(rng.choices(GIVEN_NAMES, k=rng.choice((1, 2, 2))))

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
            departments = sorted(rng.sample(DEPARTMENTS, rng.randint(2, 4)))
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
        suspended = self.person("physician", home, sites, list(DEPARTMENTS), 10)
        suspended.status = "suspended"
        bad = {
            "CRED-INACTIVE": suspended,
            "CRED-SITE": self.person("physician", "P3399999", [], list(DEPARTMENTS), 10),
            "CRED-EXPERIENCE": self.person("physician", home, sites, list(DEPARTMENTS), 1),
            "CRED-ROLE": self.person("nurse", home, sites, list(DEPARTMENTS), 10),
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
        diagnosis = rng.choice(sorted(DIAGNOSES))
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
            "departments": [*DEPARTMENTS, "PHARMACY"],
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
        department, drug_codes = DIAGNOSES[diagnosis]
        if rule == "VISIT-CHILD-GUARDIAN":
            children = [p for p in hospital.patients if _age(p, started) < 6]
            if children:
                patient = rng.choice(children)
                diagnosis = patient["_diagnosis"]
                department, drug_codes = DIAGNOSES[diagnosis]
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
            "diagnoses": [rng.choice(SUBCODES.get(diagnosis, (diagnosis,)))],
            "realname_verified_at": _when(started - timedelta(seconds=rng.randint(20, 180))),
            "consent_at": _when(started - timedelta(seconds=rng.randint(5, 120))),
            "guardian_present": True if child else None,
            "outcome": "completed",
            "satisfaction": rng.choice((3, 4, 4, 5, 5, 5)),
        }
        visit_rules: set[str] = set()
        if rule == "CRED-SCOPE":
            outside = [d for d in DEPARTMENTS if d not in doctor.departments]
            if outside:
                consultation["department_code"] = rng.choice(outside)
                visit_rules.add(rule)
        elif rule == "VISIT-FIRST":
            consultation["visit_type"] = "first_visit"
            consultation["prior_diagnosis"] = None
            visit_rules.add(rule)
        elif rule == "VISIT-DIAGNOSIS-MISMATCH":
            other = rng.choice([d for d in DIAGNOSES if d[:3] != diagnosis[:3]])
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
            name, unit, price, _, _, limit = DRUGS[code]
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
            name, unit, price, *_ = DRUGS[code]
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
            limit = DRUGS[str(item["drug_code"])][5] or 7
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
            "item_code": CONSULT_FEE,
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
                "item_code": DELIVERY_FEE,
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
                "item_code": UNKNOWN_ITEM,
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
    pharmacy_side = generate_pharmacies(
        seed,
        start,
        days,
        end,
        violation_rate,
        [(h.code, h.name) for h in hospitals],
        {code: [(t.send_at, t.record) for t in sent] for code, sent in transmissions.items()},
        labels,
    )
    for code, records in pharmacy_side.transmissions.items():
        transmissions[code] = [Transmission(at, record) for at, record in records]
    labels += [Label(*triple) for triple in pharmacy_side.labels]
    registry = [person.registry_row() for person in generator.registry]
    registry += pharmacy_side.registry
    patients = [
        {k: v for k, v in p.items() if k != "id_type"} for h in hospitals for p in h.patients
    ]
    return Province(
        institutions=[
            {"code": h.code, "name": h.name, "kind": h.kind, "host": h.host, "files": h.files}
            for h in hospitals
        ],
        registry=registry,
        prices=reference_prices(),
        drugs=reference_drugs(),
        patients=patients,
        transmissions=transmissions,
        labels=labels,
        pharmacies=pharmacy_side.pharmacies,
        platforms=pharmacy_side.platforms,
    )


def sending_order(province: Province) -> Iterator[tuple[str, Transmission]]:
    """Every transmission of every institution, in the order of their send times."""
    merged = [(t.send_at, code, t) for code, ts in province.transmissions.items() for t in ts]
    merged.sort(key=lambda item: (item[0], item[1]))
    for _, code, transmission in merged:
        yield code, transmission
