"""The demo province's pharmacies: who fills the hospitals' prescriptions, sells over the
counter and ships drugs, with known violations of the DISP rules.

Drawn from its own random stream after the hospitals, so the hospitals' records and
labels are the same with or without this part. Realism choices:

* Pharmacies (codes ``D3301...``): retail pharmacies that submit through a platform of
  their own, some of them also served by the province's prescription circulation
  platform (处方流转平台, ``D3301R0001``), which sends the fills of prescriptions it
  routed to them; chains whose headquarters (``D3301C<n>000``) run the platform for
  their stores (``chain_store``, ``parent_code`` the headquarters); the outpatient
  pharmacy of the first hospital (``hospital_pharmacy``), filling that hospital's
  prescriptions only; and an online marketplace that files as ``platform`` and sells
  drugs itself, which the 2016 pilot's end forbids.
* Pharmacists (执业药师, ``ZY3301...``) are on their pharmacy's roster and in the
  registry.
* About 70% of the hospitals' prescriptions without an injected violation are filled
  by a pharmacy of the province, the patient arriving 40 minutes to 28 hours after
  signing; the pharmacy's pharmacist reviews, then dispenses. Online orders are
  delivered by courier (cold chain for cold-chain drugs, the recipient's identity
  verified at the door), or picked up in store; 10% of in-store fills are delivered.
  A few fills split a prescription's quantity between two pharmacies (no double
  fill), a few hand out a drug of the same class with a substitution note, and some
  fills reach the regulator before the hospital's prescription does (the inspector
  waits for it: no finding).
* Every pharmacy except the hospital's sells over the counter, 2-6 sales a day.
* Records reach the regulator 5-90 minutes after they occur (a delivery's once
  delivered), within the policy's 24 hours but for the late ones injected.

Violations: each fill or sale carries one violation with probability
``violation_rate``, of the rule injected least so far among those it can carry (so a
small province still has every rule several times). Double fills come from two
pharmacies on different platforms, alternately arriving in the order they were
dispensed and in the reverse order, hours apart, and the label names the one later
in the ledger. Every prescription with a banned drug is dispensed online or shipped
(``DISP-CONTROLLED-ONLINE``). Pharmacy-wide: one pharmacy never files, one's licence
and a chain store's GSP certificate lapse mid-period, and the marketplace sells
(``DISP-PHARMACY-LICENSE``, ``DISP-THIRD-PARTY-SALE`` on each of their dispensings).
Sales also carry ``DATA-LATE`` (sent a day late). Nothing is sent after the third day
past the end, and a rule whose records would reach further is left to a later event.
"""

from __future__ import annotations

import collections
import random
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta, timezone
from decimal import Decimal
from typing import Any

from supervisor.demo.province_catalogue import (
    COLD_CHAIN_DRUGS,
    DIAGNOSES,
    DRUGS,
    GIVEN_NAMES,
    OTC_DRUGS,
    SUBSTITUTES,
    SURNAMES,
)

__all__ = [
    "CIRCULATION_PLATFORM",
    "DISPENSING_RULES_INJECTED",
    "LabelTriple",
    "PharmacySide",
    "generate_pharmacies",
]

CST = timezone(timedelta(hours=8), "CST")
CIRCULATION_PLATFORM = "D3301R0001"

DISPENSING_RULES_INJECTED = (
    "DISP-NO-RX",
    "DISP-RX-UNKNOWN",
    "DISP-RX-EXPIRED",
    "DISP-DOUBLE-FILL",
    "DISP-QUANTITY",
    "DISP-SUBSTITUTE",
    "DISP-NO-PHARMACIST",
    "DISP-PHARMACY-LICENSE",
    "DISP-THIRD-PARTY-SALE",
    "DISP-CONTROLLED-ONLINE",
    "DISP-COLD-CHAIN",
    "DISP-DELIVERY-REALNAME",
    "DISP-REVIEW-ORDER",
)
#: Rules a fill of a hospital's prescription carries (most constrained in time first).
_FILL_RULES = (
    "DISP-RX-EXPIRED",
    "DISP-DOUBLE-FILL",
    "DISP-QUANTITY",
    "DISP-SUBSTITUTE",
    "DISP-NO-PHARMACIST",
    "DISP-REVIEW-ORDER",
    "DISP-DELIVERY-REALNAME",
    "DISP-PHARMACY-LICENSE",
)
#: Rules a sale with no prescription of the province behind it carries.
_SALE_RULES = ("DATA-LATE", "DISP-COLD-CHAIN", "DISP-NO-RX", "DISP-RX-UNKNOWN")
#: How far after the prescription's signing (or the sale) a rule's records may reach.
_REACH = {
    "DISP-RX-EXPIRED": timedelta(hours=77),
    "DATA-LATE": timedelta(hours=32),
}
_USUAL_REACH = timedelta(hours=44)
_VALID_HOURS = 72  # the default policy's prescription validity
_FILL_SHARE = 0.7
_NO_PHARMACIST_WAYS = ("no_review", "rejected", "off_roster", "suspended", "unregistered")
_CARRIERS = ("顺丰速运", "京东物流", "美团配送", "达达快送")
_DISTRICTS = {
    "330102": "上城区",
    "330105": "拱墅区",
    "330106": "西湖区",
    "330108": "滨江区",
    "330109": "萧山区",
    "330110": "余杭区",
}
_ROADS = ("文三路", "莫干山路", "庆春路", "江南大道", "体育场路", "天目山路", "建国北路")
_SUBSTITUTION_NOTE = "原处方药品缺货，经患者同意调配同类药品，已告知处方医师"


#: (institution code, record id, rule): what a correct inspector must find.
LabelTriple = tuple[str, str, str]


@dataclass
class PharmacySide:
    """What the pharmacy part adds to a province."""

    pharmacies: list[dict[str, Any]]
    #: Platforms that submit for pharmacies: code, name, the pharmacy codes they serve.
    platforms: list[dict[str, Any]]
    registry: list[dict[str, str]]
    #: Submitting platform's code -> (send time, record), in sending order.
    transmissions: dict[str, list[tuple[datetime, dict[str, Any]]]]
    labels: list[LabelTriple]


def _when(moment: datetime) -> str:
    return moment.isoformat(timespec="seconds")


@dataclass
class _Pharmacist:
    license_no: str
    name: str
    pharmacy: str
    practice_start: date
    status: str = "active"
    registered: bool = True

    def registry_row(self) -> dict[str, str]:
        return {
            "license_no": self.license_no,
            "name": self.name,
            "role": "pharmacist",
            "status": self.status,
            "valid_from": "2005-01-01",
            "valid_to": "2031-12-31",
            "practice_start": self.practice_start.isoformat(),
            "primary_institution_code": self.pharmacy,
            "multi_site_institution_codes": "",
            "departments": "PHARMACY",
        }


@dataclass
class _Pharmacy:
    code: str
    name: str
    kind: str
    parent: str | None
    region: str
    address: str
    online: bool
    pharmacists: list[_Pharmacist]
    #: On the roster but must not review: suspended in the registry, or not in it.
    bad: dict[str, _Pharmacist]
    licence_until: date
    gsp_until: date
    #: The platform that sends its own records (filing, sales, in-store fills).
    submitter: str
    files: bool = True
    #: Takes part in injected violations (not a pharmacy-wide violator).
    plain: bool = True

    def lapsed_on(self, day: date) -> bool:
        return day > self.licence_until or day > self.gsp_until


@dataclass(frozen=True)
class _Outlet:
    """Where a fill happens: a pharmacy, the platform that reports it, the channel."""

    pharmacy: _Pharmacy
    submitter: str
    channel: str
    #: Fills only this hospital's prescriptions (a hospital's own pharmacy).
    hospital: str | None = None


@dataclass(frozen=True)
class _Prescription:
    institution_code: str
    record: dict[str, Any]
    patient: dict[str, Any]
    sent_at: datetime
    signed_at: datetime


_Sent = tuple[datetime, dict[str, Any], set[str]]


@dataclass
class _World:
    pharmacies: list[_Pharmacy] = field(default_factory=list)
    platforms: list[dict[str, Any]] = field(default_factory=list)
    outlets: list[tuple[_Outlet, int]] = field(default_factory=list)


class _Generator:
    def __init__(self, seed: int, start: date, days: int, end: date, rate: float) -> None:
        self.rng = random.Random(f"careledger-demo-pharmacies-{seed}")
        self.start = start
        self.days = days
        self.rate = rate
        # Nothing is sent after the third day past the end: `serve --demo` ends its
        # province three days ago, so every record is in the past.
        self.horizon = datetime.combine(end, time(0), CST) + timedelta(days=3)
        self.sent: dict[str, list[_Sent]] = collections.defaultdict(list)
        self.injected: collections.Counter[str] = collections.Counter()
        self.serials: collections.Counter[str] = collections.Counter()
        self.persons = 0
        self.world = _World()
        self.double_fills = 0
        self.early_fills = 0

    # -- the pharmacies ----------------------------------------------------

    def name(self) -> str:
        rng = self.rng
        return rng.choice(SURNAMES) + "".join(rng.choices(GIVEN_NAMES, k=rng.choice((1, 2, 2))))

    def pharmacist(self, pharmacy: str) -> _Pharmacist:
        self.persons += 1
        started = self.start - timedelta(days=365 * self.rng.randint(3, 25))
        return _Pharmacist(f"ZY3301{self.persons:08d}", self.name(), pharmacy, started)

    def pharmacy(  # noqa: PLR0917 - one pharmacy's particulars, named at the call
        self,
        code: str,
        name: str,
        kind: str,
        submitter: str,
        online: bool,
        parent: str | None = None,
    ) -> _Pharmacy:
        rng = self.rng
        region = rng.choice(sorted(_DISTRICTS))
        address = f"杭州市{_DISTRICTS[region]}{rng.choice(_ROADS)}{rng.randint(1, 600)}号"
        staff = [self.pharmacist(code) for _ in range(rng.randint(2, 3))]
        suspended = self.pharmacist(code)
        suspended.status = "suspended"
        unregistered = self.pharmacist(code)
        unregistered.registered = False
        valid = date(2029, 6, 30)
        pharmacy = _Pharmacy(
            code,
            name,
            kind,
            parent,
            region,
            address,
            online,
            staff,
            {"suspended": suspended, "unregistered": unregistered},
            valid,
            valid,
            submitter,
        )
        self.world.pharmacies.append(pharmacy)
        return pharmacy

    def build(self, hospitals: Sequence[tuple[str, str]]) -> None:
        """The pharmacies, their platforms and the outlets fills happen at."""
        world = self.world
        count = max(3, len(hospitals))
        lapse = self.start + timedelta(days=max(1, self.days // 2))
        retail = []
        for number in range(1, count + 1):
            code = f"D3301P{number:04d}"
            name = f"杭州{self.name()[0]}和堂大药房"
            # The second never filed for online sales: it sells in its shop only.
            retail.append(self.pharmacy(code, name, "retail", code, online=number != 2))
        lapsing = retail[-1]
        lapsing.licence_until, lapsing.plain = lapse, False
        unfiled_code = f"D3301P{count + 1:04d}"
        unfiled = self.pharmacy(unfiled_code, "杭州百姓平价药店", "retail", unfiled_code, False)
        unfiled.files, unfiled.plain = False, False
        for pharmacy in [*retail, unfiled]:
            world.platforms.append({"code": pharmacy.code, "name": pharmacy.name, "serves": []})
        served = [p for p in retail if p.online and p.plain]
        world.platforms.append(
            {
                "code": CIRCULATION_PLATFORM,
                "name": "浙江省处方流转平台",
                "serves": [p.code for p in served],
            }
        )
        stores = []
        for chain in range(1, 2 + len(hospitals) // 8):
            headquarters = f"D3301C{chain}000"
            brand = f"{self.name()[0]}心"
            members = [
                self.pharmacy(
                    f"D3301C{chain}{number:03d}",
                    f"浙江{brand}大药房连锁{district}店",
                    "chain_store",
                    headquarters,
                    online=True,
                    parent=headquarters,
                )
                for number, district in enumerate(("西湖", "滨江", "拱墅"), start=1)
            ]
            world.platforms.append(
                {
                    "code": headquarters,
                    "name": f"浙江{brand}大药房连锁有限公司",
                    "serves": [p.code for p in members],
                }
            )
            stores += members
        stores[-1].gsp_until, stores[-1].plain = (
            self.start + timedelta(days=max(1, self.days // 3)),
            False,
        )
        first_hospital = hospitals[0][1].replace("互联网医院", "医院")
        hospital = self.pharmacy(
            "D3301Y0001", f"{first_hospital}门诊药房", "hospital_pharmacy", "D3301Y0001", False
        )
        hospital.plain = False  # fills its own hospital's prescriptions only
        marketplace = self.pharmacy("D3301M0001", "惠药购网上商城", "platform", "D3301M0001", True)
        marketplace.plain = False
        for own in (hospital, marketplace):
            world.platforms.append({"code": own.code, "name": own.name, "serves": []})
        for pharmacy in retail:
            world.outlets.append((_Outlet(pharmacy, pharmacy.code, "in_store"), 3))
            if pharmacy.online:
                world.outlets.append((_Outlet(pharmacy, pharmacy.code, "online"), 1))
        world.outlets += [(_Outlet(p, CIRCULATION_PLATFORM, "online"), 3) for p in served]
        for store in stores:
            world.outlets.append((_Outlet(store, store.submitter, "in_store"), 3))
            world.outlets.append((_Outlet(store, store.submitter, "online"), 2))
        world.outlets.append((_Outlet(marketplace, marketplace.code, "online"), 1))
        # Most of its hospital's patients take their drugs there.
        world.outlets.append((_Outlet(hospital, hospital.code, "in_store", hospitals[0][0]), 30))

    def filings(self, at: datetime) -> None:
        for pharmacy in self.world.pharmacies:
            if not pharmacy.files:
                continue
            record = {
                "type": "pharmacy",
                "record_id": f"{pharmacy.code}-FILING",
                "institution_code": pharmacy.code,
                "occurred_at": _when(at),
                "name": pharmacy.name,
                "kind": pharmacy.kind,
                "license_no": f"ZJAA571{pharmacy.code[-5:]}",
                "license_valid_until": pharmacy.licence_until.isoformat(),
                "gsp_valid_until": pharmacy.gsp_until.isoformat(),
                "online_sales_filed": pharmacy.online,
                "physical_address": pharmacy.address,
                "region_code": pharmacy.region,
                "parent_code": pharmacy.parent,
                "pharmacists": [
                    p.license_no for p in [*pharmacy.pharmacists, *pharmacy.bad.values()]
                ],
            }
            self.sent[pharmacy.submitter].append((at, record, set()))

    # -- choosing what to inject ---------------------------------------------

    def rule_for(
        self, rules: Sequence[str], moment: datetime, can: Callable[[str], bool]
    ) -> str | None:
        """With probability ``rate``, the rule injected least so far that this event can
        carry and whose records stay within the province's horizon."""
        if self.rate == 0 or self.rng.random() >= self.rate:
            return None
        fitting = [
            r for r in rules if moment + _REACH.get(r, _USUAL_REACH) <= self.horizon and can(r)
        ]
        if not fitting:
            return None
        rule = min(fitting, key=lambda r: (self.injected[r], rules.index(r)))
        self.injected[rule] += 1
        return rule

    def outlet(self, *, plain: bool, hospital: str | None = None) -> _Outlet:
        """An outlet, by weight: only plain pharmacies if ``plain``; a hospital's own
        pharmacy only for that ``hospital``'s prescriptions."""
        choices = [
            (o, w)
            for o, w in self.world.outlets
            if (not plain or o.pharmacy.plain) and o.hospital in (None, hospital)
        ]
        return self.rng.choices([o for o, _ in choices], weights=[w for _, w in choices])[0]

    def other_outlet(self, first: _Outlet) -> _Outlet:
        """A plain outlet of another pharmacy reporting through another platform."""
        while True:
            second = self.outlet(plain=True)
            if second.submitter != first.submitter and second.pharmacy is not first.pharmacy:
                return second

    # -- records -----------------------------------------------------------

    def record_id(self, pharmacy: _Pharmacy, kind: str) -> str:
        self.serials[pharmacy.code + kind] += 1
        return f"{pharmacy.code}-{kind}{self.serials[pharmacy.code + kind]:06d}"

    def item(self, code: str, quantity: str, day: datetime) -> dict[str, Any]:
        name, unit, price, *_ = DRUGS[code]
        rng = self.rng
        made = day.date() - timedelta(days=rng.randint(30, 400))
        return {
            "drug_code": code,
            "drug_name": name,
            "quantity": quantity,
            "unit": unit,
            "unit_price": price,
            "batch_no": f"{made:%Y%m}{rng.randint(1, 999):03d}",
            "expiry_date": (made + timedelta(days=730)).isoformat(),
        }

    def items_of(self, prescription: _Prescription, dispensed: datetime) -> list[dict[str, Any]]:
        """Every item of the prescription, in the prescribed quantity."""
        return [
            self.item(str(i["drug_code"]), str(i["quantity"]), dispensed)
            for i in prescription.record["items"]
        ]

    def review(self, pharmacy: _Pharmacy, at: datetime, result: str = "approved") -> dict[str, Any]:
        return {
            "pharmacist_license_no": self.rng.choice(pharmacy.pharmacists).license_no,
            "reviewed_at": _when(at),
            "result": result,
        }

    def dispensing(  # noqa: PLR0917 - one dispensing's parts, named at the call
        self,
        outlet: _Outlet,
        link: dict[str, str] | None,
        patient: dict[str, Any],
        items: list[dict[str, Any]],
        review: dict[str, Any] | None,
        dispensed: datetime,
    ) -> dict[str, Any]:
        rng = self.rng
        total = sum(Decimal(i["quantity"]) * Decimal(i["unit_price"]) for i in items)
        payer = "self" if link is None else rng.choice(("insurance", "mixed", "mixed", "self"))
        covered = Decimal(0) if payer == "self" else total * Decimal("0.6")
        return {
            "type": "dispensing",
            "record_id": self.record_id(outlet.pharmacy, "DSP"),
            "institution_code": outlet.pharmacy.code,
            "occurred_at": _when(dispensed),
            "prescription": link,
            "patient": {k: v for k, v in patient.items() if not k.startswith("_")},
            "channel": outlet.channel,
            "pharmacist_review": review,
            "items": items,
            "dispensed_at": _when(dispensed),
            "payer": payer,
            "insurance_amount": str(covered.quantize(Decimal("0.01"))),
            "substitution_note": None,
        }

    def send(self, outlet: _Outlet, at: datetime, record: dict[str, Any], rules: set[str]) -> None:
        self.sent[outlet.submitter].append((at, record, rules))

    def deliver(
        self,
        outlet: _Outlet,
        dispensing: dict[str, Any],
        *,
        verified: bool = True,
        cold_chain: bool | None = None,
        excursion: bool = False,
        rules: set[str] | None = None,
    ) -> None:
        """Ship a dispensing by courier, and send the delivery record after delivery."""
        rng = self.rng
        cold = any(i["drug_code"] in COLD_CHAIN_DRUGS for i in dispensing["items"])
        cold = cold if cold_chain is None else cold_chain
        shipped = datetime.fromisoformat(dispensing["dispensed_at"]) + timedelta(
            minutes=rng.randint(10, 90)
        )
        delivered = shipped + timedelta(minutes=rng.randint(40, 600))
        record = {
            "type": "delivery",
            "record_id": self.record_id(outlet.pharmacy, "DLV"),
            "institution_code": outlet.pharmacy.code,
            "occurred_at": _when(shipped),
            "dispensing_record_id": dispensing["record_id"],
            "carrier": "顺丰医药冷链" if cold else rng.choice(_CARRIERS),
            "cold_chain": cold,
            "shipped_at": _when(shipped),
            "delivered_at": _when(delivered),
            "recipient_verified_at": _when(delivered) if verified else None,
            "temperature_excursion": True if excursion else (False if cold else None),
        }
        self.send(outlet, delivered + timedelta(minutes=rng.randint(5, 60)), record, rules or set())

    def prompt(self, moment: datetime) -> datetime:
        return moment + timedelta(minutes=self.rng.randint(5, 90))

    # -- fills of the hospitals' prescriptions ----------------------------------

    def fill(self, prescription: _Prescription) -> None:
        """A pharmacy fills a prescription (or does not), perhaps with a violation."""
        rng = self.rng
        if rng.random() >= _FILL_SHARE:
            return
        items = prescription.record["items"]

        def can(rule: str) -> bool:
            if rule == "DISP-SUBSTITUTE":
                return _substitutable(items) is not None
            return True

        rule = self.rule_for(_FILL_RULES, prescription.signed_at, can)
        if rule == "DISP-DOUBLE-FILL":
            self.double_fill(prescription)
            return
        slow = prescription.sent_at - prescription.signed_at >= timedelta(minutes=50)
        if rule is None and slow and (not self.early_fills or rng.random() < 0.1):
            self.early_fill(prescription)
            return
        plain = rule is not None
        outlet = self.outlet(plain=plain, hospital=prescription.institution_code)
        if rule == "DISP-PHARMACY-LICENSE":  # an online sale by a shop without the filing
            shop = next(p for p in self.world.pharmacies if not p.online and p.plain)
            outlet = _Outlet(shop, shop.submitter, "online")
        divisible = any(Decimal(i["quantity"]) >= 2 for i in items)
        if (
            rule is None
            and outlet.pharmacy.kind != "platform"
            and divisible
            and rng.random() < 0.04
        ):
            self.split_fill(prescription, outlet)
            return
        reviewed = prescription.signed_at + timedelta(minutes=rng.randint(40, 28 * 60))
        if rule == "DISP-RX-EXPIRED":
            reviewed = prescription.signed_at + timedelta(
                hours=_VALID_HOURS, minutes=rng.randint(20, 180)
            )
        dispensed = reviewed + timedelta(minutes=rng.randint(3, 20))
        if rule == "DISP-REVIEW-ORDER":
            dispensed = reviewed - timedelta(minutes=rng.randint(5, 30))
        quantities = [str(i["quantity"]) for i in items]
        codes = [str(i["drug_code"]) for i in items]
        if rule == "DISP-QUANTITY":
            quantities[0] = str(int(quantities[0]) + rng.randint(1, 2))
        substituted = rule is None and rng.random() < 0.03
        if rule == "DISP-SUBSTITUTE" or substituted:
            at = _substitutable(items)
            if at is None:
                substituted = False
            else:
                codes[at] = SUBSTITUTES[codes[at]]
        link = _link(prescription)
        review = (
            self.bad_review(outlet.pharmacy, reviewed)
            if rule == "DISP-NO-PHARMACIST"
            else self.review(outlet.pharmacy, reviewed)
        )
        record = self.dispensing(
            outlet,
            link,
            prescription.patient,
            [self.item(c, q, dispensed) for c, q in zip(codes, quantities, strict=True)],
            review,
            dispensed,
        )
        if substituted:
            record["substitution_note"] = _SUBSTITUTION_NOTE
        rules = set() if rule is None else {rule}
        realname = rule == "DISP-DELIVERY-REALNAME"  # the delivery's, not the dispensing's
        self.send(outlet, self.prompt(dispensed), record, set() if realname else rules)
        delivered = outlet.channel == "online" and rng.random() < 0.85
        if rule == "DISP-RX-EXPIRED":
            return  # picked up: its records stay within the reach of the rule
        if realname or delivered or rng.random() < 0.1:
            self.deliver(outlet, record, verified=not realname, rules=rules if realname else None)

    def bad_review(self, pharmacy: _Pharmacy, at: datetime) -> dict[str, Any] | None:
        """A review that does not count, each way in turn."""
        way = _NO_PHARMACIST_WAYS[self.injected["DISP-NO-PHARMACIST"] % len(_NO_PHARMACIST_WAYS)]
        if way == "no_review":
            return None
        if way == "rejected":
            return self.review(pharmacy, at, "rejected")
        if way == "off_roster":
            other = next(p for p in self.world.pharmacies if p is not pharmacy and p.plain)
            reviewer = other.pharmacists[0]
        else:
            reviewer = pharmacy.bad[way]
        return {
            "pharmacist_license_no": reviewer.license_no,
            "reviewed_at": _when(at),
            "result": "approved",
        }

    def double_fill(self, prescription: _Prescription) -> None:
        """The same prescription filled in full at two pharmacies on two platforms; the
        first to be dispensed arrives first or, every other time, after the second (sent
        late, 16-17 hours after, so that even a benchmark's six-hour loading window keeps
        it within the 24-hour deadline: no DATA-LATE). The two arrive more than 7 hours
        apart, longer than any loading window (``load_province``'s batches), so the later
        in the ledger is the later sent."""
        rng = self.rng
        first = self.outlet(plain=True)
        second = self.other_outlet(first)
        reversed_order = self.double_fills % 2 == 1
        self.double_fills += 1
        first_at = prescription.signed_at + timedelta(minutes=rng.randint(20, 360))
        if reversed_order:
            second_at = first_at + timedelta(minutes=rng.randint(180, 480))
            first_sent = first_at + timedelta(minutes=rng.randint(16 * 60, 17 * 60))
        else:
            second_at = first_at + timedelta(minutes=rng.randint(540, 1200))
            first_sent = self.prompt(first_at)
        second_sent = second_at + timedelta(minutes=rng.randint(5, 30))
        link = _link(prescription)
        fills = []
        for outlet, dispensed in ((first, first_at), (second, second_at)):
            review = self.review(outlet.pharmacy, dispensed - timedelta(minutes=rng.randint(3, 20)))
            items = self.items_of(prescription, dispensed)
            fills.append(
                self.dispensing(outlet, link, prescription.patient, items, review, dispensed)
            )
        later = 0 if reversed_order else 1
        for n, (outlet, sent) in enumerate(((first, first_sent), (second, second_sent))):
            self.send(outlet, sent, fills[n], {"DISP-DOUBLE-FILL"} if n == later else set())

    def split_fill(self, prescription: _Prescription, outlet: _Outlet) -> None:
        """Part of the prescription now, the rest at another pharmacy a day later: the
        total is what was prescribed, so it is no double fill."""
        rng = self.rng
        link = _link(prescription)
        now_part, rest = [], []
        for i in prescription.record["items"]:
            quantity = int(i["quantity"])
            if quantity >= 2:
                now_part.append((str(i["drug_code"]), str(quantity - 1)))
                rest.append((str(i["drug_code"]), "1"))
            else:
                now_part.append((str(i["drug_code"]), str(quantity)))
        later = self.other_outlet(outlet) if outlet.pharmacy.plain else self.outlet(plain=True)
        at = prescription.signed_at + timedelta(minutes=rng.randint(20, 240))
        for where, part, dispensed in (
            (outlet, now_part, at),
            (later, rest, at + timedelta(hours=rng.randint(20, 26))),
        ):
            items = [self.item(code, quantity, dispensed) for code, quantity in part]
            review = self.review(where.pharmacy, dispensed - timedelta(minutes=rng.randint(3, 20)))
            record = self.dispensing(where, link, prescription.patient, items, review, dispensed)
            self.send(where, self.prompt(dispensed), record, set())

    def early_fill(self, prescription: _Prescription) -> None:
        """Filled minutes after signing through the circulation platform, and reported
        before the hospital has sent the prescription."""
        rng = self.rng
        self.early_fills += 1
        outlets = [o for o, _ in self.world.outlets if o.submitter == CIRCULATION_PLATFORM] or [
            self.outlet(plain=True)
        ]
        outlet = rng.choice(outlets)
        reviewed = prescription.signed_at + timedelta(minutes=rng.randint(3, 8))
        dispensed = reviewed + timedelta(minutes=rng.randint(3, 6))
        link = _link(prescription)
        review = self.review(outlet.pharmacy, reviewed)
        items = self.items_of(prescription, dispensed)
        record = self.dispensing(outlet, link, prescription.patient, items, review, dispensed)
        sent = dispensed + timedelta(minutes=rng.randint(1, 4))
        assert sent < prescription.sent_at - timedelta(minutes=20)
        self.send(outlet, sent, record, set())

    def controlled(self, prescription: _Prescription) -> None:
        """A prescription with a drug never sold online, sold online or shipped, in turn:
        online and delivered, online and picked up in store, in store and delivered."""
        rng = self.rng
        way = self.injected["DISP-CONTROLLED-ONLINE"] % 3
        self.injected["DISP-CONTROLLED-ONLINE"] += 1
        channel = "in_store" if way == 2 else "online"
        outlets = [o for o, _ in self.world.outlets if o.pharmacy.plain and o.channel == channel]
        outlet = rng.choice(outlets)
        reviewed = prescription.signed_at + timedelta(minutes=rng.randint(20, 600))
        dispensed = reviewed + timedelta(minutes=rng.randint(3, 20))
        record = self.dispensing(
            outlet,
            _link(prescription),
            prescription.patient,
            self.items_of(prescription, dispensed),
            self.review(outlet.pharmacy, reviewed),
            dispensed,
        )
        rule = {"DISP-CONTROLLED-ONLINE"}
        self.send(outlet, self.prompt(dispensed), record, rule if channel == "online" else set())
        if way != 1:
            self.deliver(outlet, record, rules=rule)

    # -- sales without a prescription of the province ---------------------------

    def sales(self, customers: Sequence[dict[str, Any]], hospitals: Sequence[str]) -> None:
        rng = self.rng
        sellers = [p for p in self.world.pharmacies if p.kind != "hospital_pharmacy"]
        for day in range(self.days):
            opening = datetime.combine(self.start + timedelta(days=day), time(8, 0), CST)
            for pharmacy in sellers:
                for _ in range(rng.randint(2, 6)):
                    at = opening + timedelta(seconds=rng.randint(0, 14 * 3600))
                    self.sale(pharmacy, at, rng.choice(customers), hospitals)

    def sale(
        self,
        pharmacy: _Pharmacy,
        at: datetime,
        customer: dict[str, Any],
        hospitals: Sequence[str],
    ) -> None:
        rng = self.rng
        rule = None
        if pharmacy.plain:
            # Cold-chain drugs are shipped: only by a pharmacy filed for online sales.
            rule = self.rule_for(
                _SALE_RULES, at, lambda r: pharmacy.online or r != "DISP-COLD-CHAIN"
            )
        online = pharmacy.kind == "platform" or (pharmacy.online and rng.random() < 0.3)
        if rule in ("DISP-COLD-CHAIN", "DISP-NO-RX"):
            online = pharmacy.online
        outlet = _Outlet(pharmacy, pharmacy.submitter, "online" if online else "in_store")
        codes = rng.sample(OTC_DRUGS, rng.randint(1, 2))
        if rule == "DISP-COLD-CHAIN" and "XA07FAB" not in codes:
            codes.append("XA07FAB")
        link = None
        review = None
        if rule == "DISP-NO-RX":
            codes = [rng.choice(("XA10ABA", "XC10AAE", "XA02BCA"))]
        if rule == "DISP-RX-UNKNOWN":  # filled against a prescription never transmitted
            hospital = rng.choice(hospitals)
            self.serials["EXT"] += 1
            link = {
                "institution_code": hospital,
                "record_id": f"{hospital}-EXT{self.serials['EXT']:05d}-RX",
            }
            codes = [rng.choice(DIAGNOSES[rng.choice(sorted(DIAGNOSES))][1])]
        if link is not None or any(DRUGS[c][3] != "otc" for c in codes):
            review = self.review(pharmacy, at - timedelta(minutes=rng.randint(3, 10)))
        items = [self.item(c, str(rng.randint(1, 2)), at) for c in codes]
        record = self.dispensing(outlet, link, customer, items, review, at)
        sent = self.prompt(at)
        if rule == "DATA-LATE":
            sent = at + timedelta(hours=rng.randint(25, 30))
        rules = {rule} if rule in ("DATA-LATE", "DISP-NO-RX", "DISP-RX-UNKNOWN") else set()
        self.send(outlet, sent, record, rules)
        if online and (rule == "DISP-COLD-CHAIN" or rng.random() < 0.8):
            if rule == "DISP-COLD-CHAIN":
                excursion = self.injected["DISP-COLD-CHAIN"] % 2 == 0
                self.deliver(
                    outlet,
                    record,
                    cold_chain=excursion,
                    excursion=excursion,
                    rules={"DISP-COLD-CHAIN"},
                )
            else:
                self.deliver(outlet, record)

    # -- ground truth ----------------------------------------------------------

    def labelled(
        self,
    ) -> tuple[dict[str, list[tuple[datetime, dict[str, Any]]]], list[LabelTriple]]:
        """Each platform's records in sending order, and the labels, pharmacy-wide
        violations added to what each record was given."""
        by_code = {p.code: p for p in self.world.pharmacies}
        transmissions = {}
        labels = []
        for submitter, sent in self.sent.items():
            sent.sort(key=lambda s: s[0])
            for _, record, given in sent:
                rules = set(given)
                pharmacy = by_code[record["institution_code"]]
                if record["type"] == "dispensing":
                    day = datetime.fromisoformat(record["dispensed_at"]).date()
                    if pharmacy.kind == "platform":
                        rules.add("DISP-THIRD-PARTY-SALE")
                    if not pharmacy.files or pharmacy.lapsed_on(day):
                        rules.add("DISP-PHARMACY-LICENSE")
                labels += [(pharmacy.code, record["record_id"], r) for r in sorted(rules)]
            transmissions[submitter] = [(at, record) for at, record, _ in sent]
        return transmissions, labels


def _rid(prescription: _Prescription) -> str:
    return str(prescription.record["record_id"])


def _link(prescription: _Prescription) -> dict[str, str]:
    return {"institution_code": prescription.institution_code, "record_id": _rid(prescription)}


def _substitutable(items: Sequence[Mapping[str, Any]]) -> int | None:
    """The first item with a substitute not prescribed too, if any."""
    codes = [str(i["drug_code"]) for i in items]
    for position, code in enumerate(codes):
        if code in SUBSTITUTES and SUBSTITUTES[code] not in codes:
            return position
    return None


def _customers(rng: random.Random, start: date, count: int) -> list[dict[str, Any]]:
    people = []
    for _ in range(count):
        age = min(90, int(rng.triangular(18, 90, 45)))
        people.append(
            {
                "id_type": "resident_id",
                "id_number": f"3301{rng.randrange(10**13):013d}{rng.choice('0123456789X')}",
                "name": rng.choice(SURNAMES) + "".join(rng.choices(GIVEN_NAMES, k=2)),
                "birth_date": (start - timedelta(days=365 * age + rng.randint(0, 300))).isoformat(),
                "sex": rng.choice(("male", "female")),
            }
        )
    return people


def _prescriptions(
    sent: Mapping[str, Sequence[tuple[datetime, dict[str, Any]]]],
    labels: Sequence[Any],
) -> tuple[list[_Prescription], list[_Prescription]]:
    """The hospitals' prescriptions a pharmacy may fill (no violation of their own but
    their institution's), and those with a banned drug and nothing else wrong."""
    rules: dict[tuple[str, str], set[str]] = collections.defaultdict(set)
    for label in labels:
        if not label.rule.startswith("ORG-"):
            rules[(label.institution_code, label.record_id)].add(label.rule)
    patients = {
        (r["institution_code"], r["record_id"]): r["patient"]
        for items in sent.values()
        for _, r in items
        if r["type"] == "consultation"
    }
    clean, banned = [], []
    for code, items in sent.items():
        for at, record in items:
            if record["type"] != "prescription":
                continue
            patient = patients.get((code, record["consultation_record_id"]))
            broken = rules.get((code, record["record_id"]), set())
            if patient is None or record["review"] is None:
                continue
            found = _Prescription(
                code, record, patient, at, datetime.fromisoformat(record["signed_at"])
            )
            if not broken:
                clean.append(found)
            elif broken == {"RX-BANNED-DRUG"}:
                banned.append(found)
    clean.sort(key=lambda p: (p.signed_at, p.institution_code, _rid(p)))
    banned.sort(key=lambda p: (p.signed_at, p.institution_code, _rid(p)))
    return clean, banned


def generate_pharmacies(  # noqa: PLR0917 - the province's own arguments, named at the call
    seed: int,
    start: date,
    days: int,
    end: date,
    violation_rate: float,
    hospitals: Sequence[tuple[str, str]],
    hospital_records: Mapping[str, Sequence[tuple[datetime, dict[str, Any]]]],
    hospital_labels: Sequence[Any],
) -> PharmacySide:
    """The pharmacy part of a province (see the module): ``hospitals`` are (code, name),
    ``hospital_records`` each hospital's (send time, record), ``hospital_labels`` theirs."""
    generator = _Generator(seed, start, days, end, violation_rate)
    generator.build(hospitals)
    generator.filings(datetime.combine(start - timedelta(days=1), time(9, 5), CST))
    clean, banned = _prescriptions(hospital_records, hospital_labels)
    for prescription in clean:
        generator.fill(prescription)
    for prescription in banned:
        generator.controlled(prescription)
    customers = _customers(generator.rng, start, 40 + 20 * len(hospitals))
    generator.sales(customers, [code for code, _ in hospitals])
    transmissions, labels = generator.labelled()
    world = generator.world
    registry = [
        person.registry_row()
        for pharmacy in world.pharmacies
        for person in [*pharmacy.pharmacists, *pharmacy.bad.values()]
        if person.registered
    ]
    pharmacies = [
        {
            "code": p.code,
            "name": p.name,
            "kind": p.kind,
            "parent_code": p.parent,
            "submitter": p.submitter,
            "files": p.files,
        }
        for p in world.pharmacies
    ]
    return PharmacySide(pharmacies, world.platforms, registry, transmissions, labels)
