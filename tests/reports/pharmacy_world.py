"""A hand-made province with pharmacies, for report tests: a hospital's prescriptions,
three pharmacies (one a platform selling in its own name), their dispensings and
deliveries, and the DISP findings the inspector would find on them, placed in cases
as the portal places them. Every number the tests expect is worked out in comments."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from inspectors.grouping import case_id_of
from reports.facts import LedgerFacts

from .ledger_world import World

H1 = "H-4401"
P1, P2, PL = "P-RETAIL", "P-CHAIN2", "P-PLATFORM"
NOVEMBER_FOUND = "2026-11-25T10:00:00+08:00"

#: The drug catalogue: amoxicillin and insulin need a prescription, insulin travels cold,
#: vitamin C is over the counter, diazepam is psychotropic (special management).
CATALOGUE: list[dict[str, Any]] = [
    {"drug_code": "AMX", "drug_name": "阿莫西林胶囊", "category": "antibiotic",
     "online_prescribable": True, "max_days_supply": 7, "cold_chain": False},
    {"drug_code": "DZP", "drug_name": "地西泮片", "category": "psychotropic",
     "online_prescribable": False, "max_days_supply": 7, "cold_chain": False},
    {"drug_code": "INS", "drug_name": "胰岛素注射液", "category": "chronic",
     "online_prescribable": True, "max_days_supply": 30, "cold_chain": True},
    {"drug_code": "VITC", "drug_name": "维生素C片", "category": "otc",
     "online_prescribable": True, "max_days_supply": None, "cold_chain": False},
]  # fmt: skip


class PharmacyWorld(World):
    """``World`` with pharmacy filings, dispensings, deliveries and findings in cases."""

    def __init__(self) -> None:
        super().__init__()
        self.cases: dict[str, int] = {}  # case key -> generation

    def catalogue(self, rows: list[dict[str, Any]]) -> None:
        self.builder.add_drug_catalogue(self._take(), rows)

    def pharmacy(
        self, code: str, name: str, kind: str, roster: tuple[str, ...], parent: str | None = None
    ) -> None:
        self._add(
            f"{code}-filing",
            {
                "type": "pharmacy",
                "record_id": f"{code}-filing",
                "institution_code": code,
                "occurred_at": "2026-10-01T09:00:00+08:00",
                "name": name,
                "kind": kind,
                "license_no": f"LIC-{code}",
                "license_valid_until": "2028-12-31",
                "gsp_valid_until": "2028-12-31",
                "online_sales_filed": True,
                "physical_address": "广州市越秀区",
                "region_code": "440104",
                "parent_code": parent,
                "pharmacists": list(roster),
            },
        )

    def rx(self, rid: str, at: str, drug: str = "AMX") -> None:
        self._add(
            rid,
            {
                "type": "prescription",
                "record_id": rid,
                "institution_code": H1,
                "occurred_at": at,
                "signed_at": at,
                "prescriber_license_no": "D1",
                "items": [{"drug_code": drug, "quantity": "1", "unit_price": "20.00"}],
                "review": {
                    "pharmacist_license_no": "HP1",
                    "reviewed_at": at,
                    "result": "approved",
                },
            },
        )

    def dispensing(
        self,
        rid: str,
        code: str,
        at: str,
        drug: str,
        *,
        rx: str | None,
        reviewer: str | None,
        result: str = "approved",
        channel: str = "in_store",
        amends: str | None = None,
    ) -> None:
        record: dict[str, Any] = {
            "type": "dispensing",
            "record_id": rid,
            "institution_code": code,
            "occurred_at": at,
            "prescription": None if rx is None else {"institution_code": H1, "record_id": rx},
            "patient": {
                "id_type": "resident_id",
                "id_number": "pseudonym",
                "name": "患者",
                "birth_date": "1980-01-01",
                "sex": "female",
            },
            "channel": channel,
            "pharmacist_review": None
            if reviewer is None
            else {"pharmacist_license_no": reviewer, "reviewed_at": at, "result": result},
            "items": [
                {
                    "drug_code": drug,
                    "drug_name": drug,
                    "quantity": "1",
                    "unit": "盒",
                    "unit_price": "20.00",
                    "batch_no": "B1",
                    "expiry_date": "2028-01-01",
                }
            ],
            "dispensed_at": at,
            "payer": "self",
            "insurance_amount": "0.00",
            "substitution_note": None,
        }
        if amends is not None:
            record["amends"] = amends
        self._add(rid, record)

    def delivery(
        self,
        rid: str,
        code: str,
        dispensing: str,
        at: str,
        *,
        cold_chain: bool = False,
        delivered: bool = True,
        verified: bool = True,
        excursion: bool | None = None,
    ) -> None:
        self._add(
            rid,
            {
                "type": "delivery",
                "record_id": rid,
                "institution_code": code,
                "occurred_at": at,
                "dispensing_record_id": dispensing,
                "carrier": "顺丰",
                "cold_chain": cold_chain,
                "shipped_at": at,
                "delivered_at": at if delivered else None,
                "recipient_verified_at": at if verified and delivered else None,
                "temperature_excursion": excursion,
            },
        )

    def case_finding(
        self,
        fid: str,
        rule: str,
        on: str,
        code: str,
        found_at: str = NOVEMBER_FOUND,
        *,
        severity: str = "high",
        grouping: str = "month",
        related: tuple[str, ...] = (),
    ) -> str:
        """A finding in the case its key names (generation 1); returns the case id."""
        part = "" if grouping == "institution" else "m:2026-11"
        key = f"{rule}|{code}|{part}"
        self.cases.setdefault(key, 1)
        case_id = case_id_of(key, self.cases[key])
        self._take()
        self.builder.add_finding(
            {
                "finding_id": fid,
                "rule": rule,
                "severity": severity,
                "institution_code": code,
                "record_index": self.index_of[on],
                "related_indices": [self.index_of[r] for r in related],
                "record_id": on,
                "case_key": key,
            },
            datetime.fromisoformat(found_at),
            case_id=case_id,
            case_key=key,
        )
        return case_id

    def case_event(
        self,
        case_id: str,
        action: str,
        state_after: str,
        at: str,
        *,
        notice_id: str | None = None,
        deadline: str | None = None,
        response_id: str | None = None,
    ) -> None:
        self._take()
        statement: dict[str, Any] = {
            "case_id": case_id,
            "action": action,
            "state_after": state_after,
        }
        if notice_id is not None:
            statement["notice_id"] = notice_id
        if response_id is not None:
            statement["response_id"] = response_id
        self.builder.add_case_event(statement, {"deadline": deadline}, datetime.fromisoformat(at))

    def response(self, notice_id: str, response_id: str, at: str) -> None:
        self._take()
        self.builder.add_notice_response(
            {"notice_id": notice_id, "response_id": response_id, "kind": "rectified"},
            datetime.fromisoformat(at),
        )


def pharmacy_world(*, with_catalogue: bool = True) -> PharmacyWorld:
    """November 2026. Expected, per pharmacy (see the test for the arithmetic):

    P1 (retail): 5 dispensings; review 3/4 (d3 is OTC without prescription, d4 reviewed by
    a pharmacist not on its roster); cold chain 0/1 (insulin shipped without cold chain);
    delivery verification 2/3 (v3 carries an OTC sale, v5 unverified); compliance 4/5.
    P2 (chain store): the second fill of RX-A (double fill with P1's d1); review 2/2.
    PL (platform): sells in its own name (vetoed) and sold diazepam online.
    """
    w = PharmacyWorld()
    if with_catalogue:
        w.catalogue(CATALOGUE)
    w.institution(H1, "甲互联网医院", "standalone")
    w.practitioner("D1", "张医生")
    w.pharmacy(P1, "康民大药房", "retail", ("PH1",))
    w.pharmacy(P2, "仁心连锁二店", "chain_store", ("PH2",), parent="P-CHAIN")
    w.pharmacy(PL, "速药平台", "platform", ("PH3",))
    for n, drug in enumerate(("AMX", "INS", "AMX", "AMX", "INS", "AMX", "DZP"), start=1):
        w.rx(f"RX-{'ABCDEFG'[n - 1]}", f"2026-11-0{n}T08:00:00+08:00", drug)
    day = "2026-11-{:02d}T10:00:00+08:00".format
    # P1
    w.dispensing("d1", P1, day(2), "AMX", rx="RX-A", reviewer="PH1")
    w.delivery("v1", P1, "d1", day(2))
    w.dispensing("d2", P1, day(3), "INS", rx="RX-B", reviewer="PH1")
    w.delivery("v2", P1, "d2", day(3), cold_chain=False)
    w.dispensing("d3", P1, day(4), "VITC", rx=None, reviewer=None)
    w.delivery("v3", P1, "d3", day(4), verified=False)
    w.dispensing("d4", P1, day(5), "AMX", rx="RX-C", reviewer="PH-STRANGER")
    w.dispensing("d5", P1, day(6), "AMX", rx="RX-D", reviewer="PH1")
    w.delivery("v5", P1, "d5", day(6), verified=False)
    # P2: RX-A again (its fill at P1 came first in the ledger), and insulin kept cold.
    w.dispensing("e1", P2, day(10), "AMX", rx="RX-A", reviewer="PH2")
    w.dispensing("e2", P2, day(11), "INS", rx="RX-E", reviewer="PH2")
    w.delivery("w2", P2, "e2", day(11), cold_chain=True, excursion=False)
    # PL: the platform sells as a seller, diazepam online among it.
    w.dispensing("f1", PL, day(12), "AMX", rx="RX-F", reviewer="PH3", channel="online")
    w.dispensing("f2", PL, day(13), "DZP", rx="RX-G", reviewer="PH3", channel="online")
    w.delivery("x2", PL, "f2", day(13))
    # October: one clean over-the-counter sale at P1 (the trend's previous point).
    w.dispensing("d0", P1, "2026-10-20T10:00:00+08:00", "VITC", rx=None, reviewer=None)
    # The findings the inspector writes.
    cold = w.case_finding("g-cold", "DISP-COLD-CHAIN", "v2", P1)
    w.case_finding("g-realname", "DISP-DELIVERY-REALNAME", "v5", P1, severity="medium")
    w.case_finding("g-nopharm", "DISP-NO-PHARMACIST", "d4", P1)
    w.case_finding("g-double", "DISP-DOUBLE-FILL", "e1", P2, related=("d1", "e1", "RX-A"))
    w.case_finding("g-3p-1", "DISP-THIRD-PARTY-SALE", "f1", PL, grouping="institution")
    w.case_finding("g-3p-2", "DISP-THIRD-PARTY-SALE", "f2", PL, grouping="institution")
    w.case_finding("g-ctrl-d", "DISP-CONTROLLED-ONLINE", "f2", PL)
    w.case_finding("g-ctrl-x", "DISP-CONTROLLED-ONLINE", "x2", PL)
    # A hospital finding in a case, so the hospital section has something to carry.
    rx_case = w.case_finding("g-rx", "RX-NO-REVIEW", "RX-A", H1, severity="medium")
    # Notices: P1 answers the cold-chain notice in time and is accepted (met, 1 of 1);
    # the hospital leaves its notice unanswered (0 of 1).
    at = "2026-11-{:02d}T15:00:00+08:00".format
    w.case_event(cold, "order_rectification", "rectification_ordered", at(25),
                 notice_id="N-cold", deadline="2026-11-28")  # fmt: skip
    w.response("N-cold", "R-cold", at(27))
    w.case_event(cold, "accept", "closed", at(28), response_id="R-cold")
    w.case_event(rx_case, "order_rectification", "rectification_ordered", at(25),
                 notice_id="N-rx", deadline="2026-11-26")  # fmt: skip
    return w


def facts_of(world: World) -> LedgerFacts:
    return world.facts()
