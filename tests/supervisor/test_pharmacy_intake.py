"""Pharmacies submit like hospitals: platforms authorised for several institutions (each
authorisation and its revocation a ledger entry), record schema version 2 beside an
unchanged version 1, and the inspector following a prescription to every pharmacy that
filled it, whichever platform sent the fill and in whichever order they arrived."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import pytest
from click.testing import CliRunner
from sqlalchemy import select

from ledger import schema as ledger_schema
from supervisor.cli import cli
from supervisor.client.submit import PlatformKeyFile, sign_envelope
from supervisor.database import tables
from supervisor.intake.platforms import PlatformRegistry, generate_platform_key
from supervisor.runtime.projections import rebuild_projections

from .conftest import CST, INSTITUTION, Portal

pytestmark = pytest.mark.database

CHAIN_HQ = "D3301C0001"
STORE = "D3301C0002"
OTHER_STORE = "D3301C0003"
CIRCULATION = "D3301R0001"
PHARMACY = "D3301P0001"


@dataclass
class Sender:
    """A platform as the tests drive it: its id and key, batches it signed."""

    portal: Portal
    platform_id: str
    key: PlatformKeyFile
    sent: int = 0

    def post(self, records: list[dict[str, Any]]) -> Any:
        self.sent += 1
        envelope = sign_envelope(
            platform_id=self.platform_id,
            key=self.key,
            batch_id=f"{self.platform_id}-{self.sent}",
            created_at=self.portal.clock.now.astimezone(CST),
            records=records,
        )
        return self.portal.post(envelope)


def _platform(portal: Portal, code: str, name: str) -> Sender:
    seed, public_key = generate_platform_key()
    registry = PlatformRegistry(portal.services.store)
    platform_id, _ = registry.register(code, name, public_key, now=portal.clock.now)
    return Sender(portal, platform_id, PlatformKeyFile(seed))


def _at(portal: Portal, hours: float) -> str:
    return (portal.clock.now - timedelta(hours=hours)).astimezone(CST).isoformat()


def _pharmacy(portal: Portal, code: str, record_id: str = "") -> dict[str, Any]:
    return {
        "type": "pharmacy",
        "record_id": record_id or f"{code}-FILING",
        "institution_code": code,
        "occurred_at": _at(portal, 30),
        "name": "仁和大药房",
        "kind": "retail",
        "license_no": f"ZJAA{code[-4:]}",
        "license_valid_until": "2030-12-31",
        "gsp_valid_until": "2030-12-31",
        "online_sales_filed": True,
        "physical_address": "杭州市西湖区文三路1号",
        "region_code": "330106",
        "parent_code": None,
        "pharmacists": ["PH-0001"],
    }


def _patient() -> dict[str, Any]:
    return {
        "id_type": "resident_id",
        "id_number": "330106199001010000",
        "name": "张三",
        "birth_date": "1990-01-01",
        "sex": "male",
    }


def _prescription(portal: Portal, record_id: str) -> dict[str, Any]:
    return {
        "type": "prescription",
        "record_id": record_id,
        "institution_code": INSTITUTION,
        "occurred_at": _at(portal, 20),
        "consultation_record_id": f"{record_id}-VISIT",
        "prescriber_license_no": "MD-0001",
        "signed_at": _at(portal, 20),
        "items": [
            {
                "drug_code": "XA10BAE001",
                "drug_name": "二甲双胍片",
                "quantity": "2",
                "unit": "盒",
                "days_supply": 7,
                "unit_price": "12.50",
            }
        ],
        "review": {
            "pharmacist_license_no": "PH-0009",
            "reviewed_at": _at(portal, 19.9),
            "result": "approved",
        },
        "dispensed_at": None,
        "delivery": None,
    }


def _dispensing(
    portal: Portal, code: str, record_id: str, prescription_id: str | None, quantity: str = "2"
) -> dict[str, Any]:
    return {
        "type": "dispensing",
        "record_id": record_id,
        "institution_code": code,
        "occurred_at": _at(portal, 10),
        "prescription": None
        if prescription_id is None
        else {"institution_code": INSTITUTION, "record_id": prescription_id},
        "patient": _patient(),
        "channel": "in_store",
        "pharmacist_review": {
            "pharmacist_license_no": "PH-0001",
            "reviewed_at": _at(portal, 10.5),
            "result": "approved",
        },
        "items": [
            {
                "drug_code": "XA10BAE001",
                "drug_name": "二甲双胍片",
                "quantity": quantity,
                "unit": "盒",
                "unit_price": "12.50",
                "batch_no": "B20260901",
                "expiry_date": "2028-08-31",
            }
        ],
        "dispensed_at": _at(portal, 10),
        "payer": "self",
        "insurance_amount": "0",
        "substitution_note": None,
    }


def _delivery(portal: Portal, code: str, dispensing_id: str) -> dict[str, Any]:
    return {
        "type": "delivery",
        "record_id": f"{dispensing_id}-DELIVERY",
        "institution_code": code,
        "occurred_at": _at(portal, 9),
        "dispensing_record_id": dispensing_id,
        "carrier": "顺丰速运",
        "cold_chain": False,
        "shipped_at": _at(portal, 9),
        "delivered_at": _at(portal, 5),
        "recipient_verified_at": _at(portal, 5),
        "temperature_excursion": None,
    }


def _entry_types(portal: Portal) -> list[str]:
    with portal.services.engine.connect() as connection:
        return list(
            connection.execute(
                select(ledger_schema.entries.c.type).order_by(ledger_schema.entries.c.idx)
            ).scalars()
        )


def _authorisations(portal: Portal) -> list[tuple[str, str, bool]]:
    with portal.services.engine.connect() as connection:
        rows = connection.execute(select(tables.platform_institutions))
        return sorted((r.platform_id, r.institution_code, r.revoked_index is None) for r in rows)


def test_a_chain_submits_for_its_stores_only_while_authorised(portal: Portal) -> None:
    chain = _platform(portal, CHAIN_HQ, "仁和连锁总部")
    env = {"CARELEDGER_DATA_DIR": str(portal.settings.data_dir)}
    if portal.settings.database_url:
        env["CARELEDGER_DATABASE_URL"] = portal.settings.database_url
    runner = CliRunner()
    done = runner.invoke(
        cli,
        ["platform", "authorise", "--platform", chain.platform_id, "--institution", STORE],
        env=env,
    )
    assert done.exit_code == 0, done.output
    assert f"authorised: {chain.platform_id} for {STORE}" in done.output
    assert _entry_types(portal)[-1] == "platform.authorised"
    again = runner.invoke(
        cli,
        ["platform", "authorise", "--platform", chain.platform_id, "--institution", STORE],
        env=env,
    )
    assert again.exit_code != 0 and "already" in again.output
    # Its own code and the store's, in one batch.
    assert chain.post([_pharmacy(portal, CHAIN_HQ), _pharmacy(portal, STORE)]).status_code == 201
    refused = chain.post([_pharmacy(portal, OTHER_STORE)])
    assert refused.status_code == 403
    problem = refused.get_json()
    assert problem["type"].endswith("/wrong-institution")
    assert OTHER_STORE in problem["detail"] and "platform authorise" in problem["detail"]
    # Each problem names the refused code only, not every code the platform may send.
    assert problem["errors"][0]["detail"] == (
        f"platform {chain.platform_id} is not authorised for {OTHER_STORE}"
    )
    assert problem["errors"][0]["pointer"] == "/records/0/institution_code"
    # Revoked: refused from then on; what was accepted stays.
    size = portal.log_size()
    done = runner.invoke(
        cli,
        [
            "platform",
            "revoke-authorisation",
            "--platform",
            chain.platform_id,
            "--institution",
            STORE,
            "--reason",
            "门店转让",
        ],
        env=env,
    )
    assert done.exit_code == 0, done.output
    assert portal.log_size() == size + 1
    assert _entry_types(portal)[-1] == "platform.authorisation_revoked"
    late = chain.post([_pharmacy(portal, STORE, "S-FILING-2")])
    assert late.status_code == 403
    assert chain.post([_pharmacy(portal, CHAIN_HQ, "HQ-FILING-2")]).status_code == 201
    listed = runner.invoke(
        cli, ["platform", "authorisations", "--platform", chain.platform_id], env=env
    )
    assert '"institution_code":"D3301C0002"' in listed.output and '"active":false' in listed.output
    not_held = runner.invoke(
        cli,
        [
            "platform",
            "revoke-authorisation",
            "--platform",
            chain.platform_id,
            "--institution",
            OTHER_STORE,
            "--reason",
            "x",
        ],
        env=env,
    )
    assert not_held.exit_code != 0 and "no authorisation" in not_held.output
    # Record ids are unique per institution: two stores may use the same id.
    done = runner.invoke(
        cli,
        ["platform", "authorise", "--platform", chain.platform_id, "--institution", STORE],
        env=env,
    )
    assert done.exit_code == 0, done.output
    same_id = [_pharmacy(portal, CHAIN_HQ, "F-1"), _pharmacy(portal, STORE, "F-1")]
    assert chain.post(same_id).status_code == 201
    before = _authorisations(portal)
    # Authorised again: the revoked period stays on record beside the current one.
    assert [a for a in before if a[1] == STORE] == [
        (chain.platform_id, STORE, False),
        (chain.platform_id, STORE, True),
    ]
    listed = runner.invoke(
        cli, ["platform", "authorisations", "--platform", chain.platform_id], env=env
    )
    assert listed.output.count(STORE) == 2
    rebuild_projections(portal.services.engine, portal.services.keys, lambda index: index + 1)
    assert _authorisations(portal) == before


def test_version_two_records_are_accepted_and_version_one_is_unchanged(portal: Portal) -> None:
    pharmacy = _platform(portal, PHARMACY, "西湖大药房")
    hospital_batch = [_prescription(portal, "RX-1")]
    assert portal.post(portal.envelope(hospital_batch)).status_code == 201
    records = [
        _pharmacy(portal, PHARMACY),
        _dispensing(portal, PHARMACY, "D-1", "RX-1"),
        _delivery(portal, PHARMACY, "D-1"),
    ]
    assert pharmacy.post(records).status_code == 201
    with portal.services.engine.connect() as connection:
        fills = list(connection.execute(select(tables.prescription_fills)))
        drugs = sorted(connection.execute(select(tables.record_drugs.c.drug_code)).scalars().all())
        delivery = connection.execute(
            select(tables.records).where(tables.records.c.record_type == "delivery")
        ).one()
    assert [
        (f.prescription_institution_code, f.prescription_record_id, f.pharmacy_code) for f in fills
    ] == [(INSTITUTION, "RX-1", PHARMACY)]
    assert drugs == ["XA10BAE001", "XA10BAE001"], "the prescription's and the dispensing's"
    assert delivery.consultation_record_id == "D-1", "a delivery is linked to its dispensing"
    bad = _dispensing(portal, PHARMACY, "D-2", "RX-1")
    bad["channel"] = "vending_machine"
    refused = pharmacy.post([bad])
    assert refused.status_code == 422
    assert refused.get_json()["errors"][0]["pointer"] == "/records/0/channel"


@dataclass
class Province:
    portal: Portal
    circulation: Sender
    chain: Sender

    def inspect(self, *, days: float = 0) -> None:
        services = self.portal.services
        later = self.portal.clock.now + timedelta(days=days)
        services.inspector.clock = lambda: later
        services.inspector.follow()

    def findings(self, rule: str) -> list[Any]:
        with self.portal.services.engine.connect() as connection:
            return list(
                connection.execute(select(tables.findings).where(tables.findings.c.rule_id == rule))
            )


@pytest.fixture
def province(portal: Portal) -> Iterator[Province]:
    """Two platforms: a circulation platform serving one pharmacy, a chain with a store."""
    circulation = _platform(portal, CIRCULATION, "处方流转平台")
    chain = _platform(portal, CHAIN_HQ, "连锁总部")
    registry = PlatformRegistry(portal.services.store)
    registry.authorise(circulation.platform_id, PHARMACY, now=portal.clock.now)
    registry.authorise(chain.platform_id, STORE, now=portal.clock.now)
    assert circulation.post([_pharmacy(portal, PHARMACY)]).status_code == 201
    assert chain.post([_pharmacy(portal, STORE)]).status_code == 201
    yield Province(portal, circulation, chain)


def _received(portal: Portal, record_id: str) -> int:
    with portal.services.engine.connect() as connection:
        return int(
            connection.execute(
                select(tables.records.c.entry_index).where(tables.records.c.record_id == record_id)
            ).scalar_one()
        )


@pytest.mark.parametrize("order", ["pharmacy_first", "store_first"])
def test_a_prescription_filled_at_two_pharmacies_on_two_platforms_is_a_double_fill(
    province: Province, order: str
) -> None:
    portal = province.portal
    assert portal.post(portal.envelope([_prescription(portal, "RX-9")])).status_code == 201
    province.inspect()
    first, second = (
        (province.circulation, PHARMACY),
        (province.chain, STORE),
    )
    if order == "store_first":
        first, second = second, first
    assert first[0].post([_dispensing(portal, first[1], "FILL-A", "RX-9")]).status_code == 201
    province.inspect()
    assert province.findings("DISP-DOUBLE-FILL") == [], "one fill is no double fill"
    portal.clock.now += timedelta(minutes=5)
    assert second[0].post([_dispensing(portal, second[1], "FILL-B", "RX-9")]).status_code == 201
    province.inspect()
    (finding,) = province.findings("DISP-DOUBLE-FILL")
    assert (finding.institution_code, finding.record_id) == (second[1], "FILL-B")
    related = {int(i) for i in finding.related_indices.split(",")}
    assert {_received(portal, "FILL-A"), _received(portal, "RX-9")} <= related
    document = portal.services.inspector.open_finding(
        *_leaf_and_payload(portal, finding.entry_index)
    )
    named = str(document["evidence"])
    assert "FILL-A" in named and "FILL-B" in named and PHARMACY in named and STORE in named
    # The notice reaches the platform that submits for the pharmacy, not only a platform
    # registered under the pharmacy's own code.
    cases = portal.services.cases
    notice_id = cases.order_rectification(
        finding.case_id,
        deadline=(portal.clock.now + timedelta(days=20)).date(),
        text="核销处方，追回重复调配药品",
        username="wangjing",
        roles=frozenset({"regulator"}),
    )
    sender = second[0]
    listed, _ = cases.notices_for(sender.platform_id)
    assert [n["notice_id"] for n in listed] == [notice_id]
    assert cases.notice_for(sender.platform_id, notice_id) is not None
    bystander = first[0]
    assert cases.notice_for(bystander.platform_id, notice_id) is None


def test_a_split_fill_and_a_corrected_fill_are_not_double_fills(province: Province) -> None:
    portal = province.portal
    assert portal.post(portal.envelope([_prescription(portal, "RX-7")])).status_code == 201
    half = _dispensing(portal, PHARMACY, "HALF-1", "RX-7", quantity="1")
    assert province.circulation.post([half]).status_code == 201
    other = _dispensing(portal, STORE, "HALF-2", "RX-7", quantity="1")
    assert province.chain.post([other]).status_code == 201
    corrected = {
        **_dispensing(portal, STORE, "HALF-2-FIX", "RX-7", quantity="1"),
        "amends": "HALF-2",
    }
    assert province.chain.post([corrected]).status_code == 201
    province.inspect()
    assert province.findings("DISP-DOUBLE-FILL") == []


def test_a_dispensing_waits_for_its_prescription_and_reports_one_that_never_came(
    province: Province,
) -> None:
    portal = province.portal
    early = _dispensing(portal, PHARMACY, "EARLY-1", "RX-LATE")
    lost = _dispensing(portal, PHARMACY, "LOST-1", "RX-NEVER")
    assert province.circulation.post([early, lost]).status_code == 201
    province.inspect()
    assert province.findings("DISP-RX-UNKNOWN") == [], "both wait within the grace period"
    with portal.services.engine.connect() as connection:
        waiting = connection.execute(select(tables.inspection_pending)).all()
    assert {(w.institution_code, w.waiting_for) for w in waiting} >= {
        (INSTITUTION, "RX-LATE"),
        (INSTITUTION, "RX-NEVER"),
    }
    portal.clock.now += timedelta(hours=2)
    assert portal.post(portal.envelope([_prescription(portal, "RX-LATE")])).status_code == 201
    province.inspect()
    with portal.services.engine.connect() as connection:
        still = {w.waiting_for for w in connection.execute(select(tables.inspection_pending))}
    assert "RX-LATE" not in still, "the prescription's arrival resolves the dispensing"
    province.inspect(days=4)
    unknown = province.findings("DISP-RX-UNKNOWN")
    assert [(f.institution_code, f.record_id) for f in unknown] == [(PHARMACY, "LOST-1")]


def _leaf_and_payload(portal: Portal, index: int) -> tuple[bytes, bytes]:
    entries = ledger_schema.entries.c
    with portal.services.engine.connect() as connection:
        row = connection.execute(
            select(entries.leaf, entries.payload).where(entries.idx == index)
        ).one()
    return row.leaf, row.payload


def test_a_typo_fixed_by_the_first_filler_does_not_make_it_the_second(
    province: Province,
) -> None:
    portal = province.portal
    assert portal.post(portal.envelope([_prescription(portal, "RX-5")])).status_code == 201
    first = _dispensing(portal, PHARMACY, "P-FILL", "RX-5")
    assert province.circulation.post([first]).status_code == 201
    portal.clock.now += timedelta(minutes=5)
    assert province.chain.post([_dispensing(portal, STORE, "S-FILL", "RX-5")]).status_code == 201
    portal.clock.now += timedelta(minutes=5)
    fixed = {**first, "record_id": "P-FILL-FIX", "amends": "P-FILL"}
    fixed["items"] = [{**first["items"][0], "batch_no": "B20260902"}]
    assert province.circulation.post([fixed]).status_code == 201
    province.inspect()
    found = province.findings("DISP-DOUBLE-FILL")
    assert [(f.institution_code, f.record_id) for f in found] == [(STORE, "S-FILL")]


def test_a_dispensing_is_judged_as_soon_as_all_it_waits_for_has_come(portal: Portal) -> None:
    """Its prescription first, then its pharmacy's filing: the filing's arrival decides it,
    not the end of the grace period."""
    circulation = _platform(portal, CIRCULATION, "处方流转平台")
    PlatformRegistry(portal.services.store).authorise(
        circulation.platform_id, PHARMACY, now=portal.clock.now
    )
    province = Province(portal, circulation, circulation)
    assert circulation.post([_dispensing(portal, PHARMACY, "W-1", "RX-W")]).status_code == 201
    province.inspect()
    assert portal.post(portal.envelope([_prescription(portal, "RX-W")])).status_code == 201
    province.inspect()
    with portal.services.engine.connect() as connection:
        waiting = {
            (w.institution_code, w.waiting_for)
            for w in connection.execute(select(tables.inspection_pending))
        }
    assert (PHARMACY, None) in waiting, "it now waits for the pharmacy's filing"
    assert circulation.post([_pharmacy(portal, PHARMACY)]).status_code == 201
    province.inspect()
    with portal.services.engine.connect() as connection:
        left = {w.entry_index for w in connection.execute(select(tables.inspection_pending))}
    assert _received(portal, "W-1") not in left


def test_a_corrected_prescription_is_one_prescription_to_fill(province: Province) -> None:
    """The hospital corrects RX-A (two boxes) as RX-A-FIX (four): a pharmacy filling the old
    id is judged by the correction, and fills of either id count together."""
    portal = province.portal
    original = _prescription(portal, "RX-A")
    assert portal.post(portal.envelope([original])).status_code == 201
    fixed = {**original, "record_id": "RX-A-FIX", "amends": "RX-A"}
    fixed["items"] = [{**original["items"][0], "quantity": "4"}]
    assert portal.post(portal.envelope([fixed])).status_code == 201
    old_id = _dispensing(portal, PHARMACY, "A-1", "RX-A", quantity="3")
    assert province.circulation.post([old_id]).status_code == 201
    province.inspect()
    assert province.findings("DISP-QUANTITY") == [], "three of the corrected four"
    portal.clock.now += timedelta(minutes=5)
    new_id = _dispensing(portal, STORE, "A-2", "RX-A-FIX", quantity="2")
    assert province.chain.post([new_id]).status_code == 201
    province.inspect()
    found = province.findings("DISP-DOUBLE-FILL")
    assert [(f.institution_code, f.record_id) for f in found] == [(STORE, "A-2")]
