"""A prescription followed to the patient's door in the portal: the journey page (a double
fill by two pharmacies on two platforms shown as such, every record proved and written to
the access trail), pharmacy profiles, and search by pharmacy and by drug.

The world is sent as platforms send it: signed batches through the submission API, from
a hospital's platform, a retail pharmacy's own platform and a chain's platform authorised
for its store; then the inspector runs past every grace period."""

from __future__ import annotations

import html
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from inspectors.reference import ReferenceSnapshot
from inspectors.reference_files import SourceRow, parse_reference_rows
from ledger.integrity import verify_stored_log
from supervisor.client.submit import PlatformKeyFile, sign_envelope
from supervisor.config import Settings
from supervisor.custody.data_folder import initialise
from supervisor.database import tables
from supervisor.intake.platforms import PlatformRegistry, generate_platform_key
from supervisor.runtime.services import Services
from supervisor.web.app import create_app
from supervisor.web.portal.journey import JourneySource, drug_totals, journey_rows
from supervisor.web.portal.journey import SourceRow as JourneyRecordRow
from supervisor.web.portal.timeline import TimelineRecord
from tests.slapd import Directory

from .agency_directory import directory
from .conftest import Clock
from .test_portal_records import _state_purpose
from .test_portal_sign_in import _csrf, _settings, _sign_in

__all__ = ["PharmacyWorld", "directory", "send_pharmacy_world"]  # fixture and world shared

pytestmark = pytest.mark.database

CST = timezone(timedelta(hours=8))
HOSPITAL, RETAIL, CHAIN_HQ, STORE = "H440100001", "P440100001", "P440100000", "P440100002"
RX_ID = f"{HOSPITAL}-V0001-RX"
DRUG, DRUG_NAME = "D0002", "苯磺酸氨氯地平片"


@dataclass(frozen=True)
class PharmacyWorld:
    """Codes and platforms of the world; ledger indices by record id."""

    platforms: dict[str, str]  # institution code -> the platform that sent its records
    indices: dict[str, int]
    patient_id: str
    seen: datetime  # when the patient saw the doctor; the rest follows in hours


class _Hours:
    """Times of the world, as hours after the consultation (China time)."""

    def __init__(self, seen: datetime) -> None:
        self.seen = seen

    def __call__(self, hours: float) -> str:
        return (self.seen + timedelta(hours=hours)).isoformat()


def _registry() -> list[dict[str, Any]]:
    people = [
        ("DOC001", "林医生", "physician", HOSPITAL),
        ("HPH001", "何药师", "pharmacist", HOSPITAL),
        ("RPH001", "周药师", "pharmacist", RETAIL),
        ("SPH001", "吴药师", "pharmacist", STORE),
    ]
    return parse_reference_rows(
        "registry",
        [
            SourceRow(
                f"row {n}",
                {
                    "license_no": licence,
                    "name": name,
                    "role": role,
                    "status": "active",
                    "valid_from": "2020-01-01",
                    "valid_to": "",
                    "practice_start": "2010-01-01",
                    "primary_institution_code": code,
                    "multi_site_institution_codes": [],
                    "departments": ["INTERNAL"],
                },
            )
            for n, (licence, name, role, code) in enumerate(people, 1)
        ],
    )


def _drugs() -> list[dict[str, Any]]:
    return parse_reference_rows(
        "drugs",
        [
            SourceRow(
                "row 1",
                {
                    "drug_code": DRUG,
                    "drug_name": DRUG_NAME,
                    "category": "rx",
                    "online_prescribable": "true",
                    "max_days_supply": "30",
                },
            )
        ],
    )


def _patient(patient_id: str) -> dict[str, Any]:
    return {
        "id_type": "resident_id",
        "id_number": patient_id,
        "name": "陈晓梅",
        "birth_date": "1968-04-02",
        "sex": "female",
    }


def _hospital_records(_at: _Hours, patient_id: str) -> list[dict[str, Any]]:
    visit = f"{HOSPITAL}-V0001"
    return [
        {
            "type": "consultation",
            "record_id": visit,
            "institution_code": HOSPITAL,
            "occurred_at": _at(0),
            "patient": _patient(patient_id),
            "practitioner_license_no": "DOC001",
            "department_code": "INTERNAL",
            "started_at": _at(0),
            "ended_at": _at(0.2),
            "channel": "video",
            "visit_type": "follow_up",
            "prior_diagnosis": {
                "document_type": "outpatient_record",
                "icd10": "I10",
                "institution_code": HOSPITAL,
                "date": "2026-06-01",
            },
            "diagnoses": ["I10"],
            "realname_verified_at": _at(-0.01),
            "consent_at": _at(-0.005),
            "guardian_present": None,
            "outcome": "completed",
            "satisfaction": 5,
        },
        {
            "type": "prescription",
            "record_id": RX_ID,
            "institution_code": HOSPITAL,
            "occurred_at": _at(0.25),
            "consultation_record_id": visit,
            "prescriber_license_no": "DOC001",
            "signed_at": _at(0.25),
            "items": [
                {
                    "drug_code": DRUG,
                    "drug_name": DRUG_NAME,
                    "quantity": "2",
                    "unit": "盒",
                    "days_supply": 28,
                    "unit_price": "18.20",
                }
            ],
            "review": {
                "pharmacist_license_no": "HPH001",
                "reviewed_at": _at(0.4),
                "result": "approved",
            },
            "dispensed_at": None,
            "delivery": None,
        },
    ]


def _pharmacy_filing(
    _at: _Hours, code: str, name: str, kind: str, parent: str | None, roster: list[str]
) -> Any:
    return {
        "type": "pharmacy",
        "record_id": f"{code}-FILING-1",
        "institution_code": code,
        "occurred_at": _at(-24),
        "name": name,
        "kind": kind,
        "license_no": f"YUE-AA-{code[-4:]}",
        "license_valid_until": "2029-12-31",
        "gsp_valid_until": "2028-06-30",
        "online_sales_filed": True,
        "physical_address": "广州市越秀区中山五路 1 号",
        "region_code": "440104",
        "parent_code": parent,
        "pharmacists": roster,
    }


def _dispensing(
    _at: _Hours, code: str, pharmacist: str, channel: str, hours: float, patient_id: str
) -> dict[str, Any]:
    """``code`` dispenses the whole prescription ``hours`` after the consultation."""
    return {
        "type": "dispensing",
        "record_id": f"{code}-D0001",
        "institution_code": code,
        "occurred_at": _at(hours),
        "prescription": {"institution_code": HOSPITAL, "record_id": RX_ID},
        "patient": _patient(patient_id),
        "channel": channel,
        "pharmacist_review": {
            "pharmacist_license_no": pharmacist,
            "reviewed_at": _at(hours - 0.1),
            "result": "approved",
        },
        "items": [
            {
                "drug_code": DRUG,
                "drug_name": DRUG_NAME,
                "quantity": "2",
                "unit": "盒",
                "unit_price": "18.20",
                "batch_no": "B2026-07",
                "expiry_date": "2028-07-01",
            }
        ],
        "dispensed_at": _at(hours),
        "payer": "self",
        "insurance_amount": "0.00",
        "substitution_note": None,
    }


def _register(services: Services, code: str, name: str, now: datetime) -> tuple[str, Any]:
    seed, public_key = generate_platform_key()
    platform_id, _key_id = PlatformRegistry(services.store).register(
        code, name, public_key, now=now
    )
    return platform_id, PlatformKeyFile(seed)


def send_pharmacy_world(
    app: Flask, clock: Clock, patient_id: str = "440104196804020048"
) -> PharmacyWorld:
    """The hospital's prescription dispensed in full twice: in store at a retail pharmacy
    (its own platform) and online at a chain's store (the chain's platform), which delivers
    it. The patient is seen a day before ``clock``'s time, everything is sent then through
    the submission API, and the inspector runs four days later (past every grace period:
    ``clock`` is left there)."""
    services: Services = app.extensions["careledger"]
    client = app.test_client()
    now = clock.now
    _at = _Hours((now - timedelta(days=1)).astimezone(CST).replace(microsecond=0))
    services.reference.import_rows("registry", _registry(), source="test", now=now)
    services.reference.import_rows("drugs", _drugs(), source="test", now=now)
    hospital = _register(services, HOSPITAL, "越秀互联网医院", now)
    retail = _register(services, RETAIL, "康宁大药房", now)
    chain = _register(services, CHAIN_HQ, "百济连锁药房总部", now)
    PlatformRegistry(services.store).authorise(chain[0], STORE, now=now)
    batches: list[tuple[tuple[str, Any], list[dict[str, Any]]]] = [
        (hospital, _hospital_records(_at, patient_id)),
        (
            retail,
            [
                _pharmacy_filing(_at, RETAIL, "康宁大药房", "retail", None, ["RPH001"]),
                _dispensing(_at, RETAIL, "RPH001", "in_store", 2, patient_id),
            ],
        ),
        (
            chain,
            [
                _pharmacy_filing(_at, CHAIN_HQ, "百济连锁药房总部", "retail", None, []),
                _pharmacy_filing(
                    _at, STORE, "百济连锁药房二店", "chain_store", CHAIN_HQ, ["SPH001"]
                ),
                _dispensing(_at, STORE, "SPH001", "online", 5, patient_id),
                {
                    "type": "delivery",
                    "record_id": f"{STORE}-S0001",
                    "institution_code": STORE,
                    "occurred_at": _at(6),
                    "dispensing_record_id": f"{STORE}-D0001",
                    "carrier": "顺丰速运",
                    "cold_chain": False,
                    "shipped_at": _at(6),
                    "delivered_at": _at(20),
                    "recipient_verified_at": _at(20),
                    "temperature_excursion": None,
                },
            ],
        ),
    ]
    for n, ((platform_id, key), records) in enumerate(batches, 1):
        envelope = sign_envelope(
            platform_id=platform_id,
            key=key,
            batch_id=f"pharmacy-world-{n}",
            created_at=now.astimezone(CST),
            records=records,
        )
        answer = client.post("/api/v1/batches", json=envelope)
        assert answer.status_code in (200, 201), answer.get_data(as_text=True)
    clock.now = now + timedelta(days=4)
    services.inspector.follow()
    with services.engine.connect() as connection:
        indices = {
            key: value
            for key, value in connection.execute(
                select(tables.records.c.record_id, tables.records.c.entry_index)
            )
        }
    return PharmacyWorld(
        {HOSPITAL: hospital[0], RETAIL: retail[0], STORE: chain[0], CHAIN_HQ: chain[0]},
        indices,
        patient_id,
        _at.seen,
    )


@dataclass
class Portal:
    client: FlaskClient
    auditor: FlaskClient
    services: Services
    world: PharmacyWorld
    clock: Clock


@pytest.fixture
def pharmacy_portal(tmp_path: Path, database_url: str, directory: Directory) -> Iterator[Portal]:
    settings: Settings = _settings(tmp_path, database_url, directory)
    verifier = initialise(settings).log_verifier
    clock = Clock()
    app = create_app(settings, clock=clock)
    world = send_pharmacy_world(app, clock)
    services: Services = app.extensions["careledger"]
    yield Portal(app.test_client(), app.test_client(), services, world, clock)
    assert verifier is not None
    result = verify_stored_log(services.engine, verifier)
    assert result.ok, result.discrepancy
    services.engine.dispose()


def _journey_path() -> str:
    return f"/portal/prescriptions/{HOSPITAL}/{RX_ID}/journey"


def _english(client: FlaskClient) -> None:
    client.get("/portal/language?to=en&back=/portal/")


def _journey_rows(page: str) -> list[str]:
    table = re.search(r'<table id="journey">(.*?)</table>', page, re.S)
    assert table, "no journey table on the page"
    body = table.group(1).split("<tbody>")[1]
    return [html.unescape(r) for r in re.findall(r"<tr.*?</tr>", body, re.S)]


def test_the_journey_shows_every_record_and_the_double_fill(pharmacy_portal: Portal) -> None:
    client, services, world = (
        pharmacy_portal.client,
        pharmacy_portal.services,
        pharmacy_portal.world,
    )
    assert _sign_in(client, "wangjing", "jing-password-1")[0] == 302
    _english(client)
    size = services.store.head().size
    page = _state_purpose(client, _journey_path(), "Complaint 2026-88: a prescription filled twice")
    rows = _journey_rows(page)
    text = "\n".join(rows)
    shown = {
        f"{HOSPITAL}-V0001",
        RX_ID,
        f"{RETAIL}-D0001",
        f"{STORE}-D0001",
        f"{STORE}-S0001",
    }
    # Every record is linked to its own page; times in China time, oldest first.
    for record_id in shown:
        assert f'href="/portal/records/{world.indices[record_id]}"' in text, record_id
    times = re.findall(r"<td>(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d) CST</td>", text)
    assert len(times) == len(rows) and times == sorted(times)
    # What happened, who did it, where and through which platform.
    assert "Consultation started" in text and "Prescription signed" in text
    assert "Pharmacist review: approved" in text and "何药师 (HPH001)" in text
    retail_row = next(r for r in rows if f"{RETAIL}-D0001" in r and "Dispensed" in r)
    assert "in store" in retail_row and "周药师 (RPH001)" in retail_row
    assert f"康宁大药房 ({RETAIL})" in retail_row and world.platforms[RETAIL] in retail_row
    store_row = next(r for r in rows if f"{STORE}-D0001" in r and "Dispensed" in r)
    assert "online" in store_row and world.platforms[STORE] in store_row
    assert f"{DRUG_NAME} ×2盒" in store_row
    assert any("Shipped by 顺丰速运, not cold chain" in r for r in rows)
    assert any("Delivered to the recipient" in r for r in rows)
    assert any("Recipient's identity verified" in r for r in rows)
    # Each record carries its proof badge once, proved against the signed checkpoint.
    assert text.count("✓ proved") == len(shown) and "✗" not in text
    # The double fill: named by its rule, with both pharmacies, and the totals against
    # what was prescribed.
    banner = re.search(r'<section id="double-fill-1".*?</section>', page, re.S)
    assert banner, "no double-fill banner"
    assert "DISP-DOUBLE-FILL" in banner.group(0)
    assert f'href="/portal/pharmacies/{RETAIL}"' in banner.group(0)
    assert f'href="/portal/pharmacies/{STORE}"' in banner.group(0)
    totals = re.search(r'<table id="journey-totals">(.*?)</table>', page, re.S)
    assert totals
    cells = [html.unescape(c) for c in re.findall(r"<td>(.*?)</td>", totals.group(1), re.S)]
    assert "2盒" in cells[1] and cells[2].startswith("4盒") and "more than prescribed" in cells[2]
    # The finding lies on the dispensing later in the ledger, and is linked from its row.
    with services.engine.connect() as connection:
        finding = connection.execute(
            select(tables.findings.c.finding_id, tables.findings.c.record_id).where(
                tables.findings.c.rule_id == "DISP-DOUBLE-FILL"
            )
        ).one()
    assert finding.record_id == f"{STORE}-D0001"
    assert f'href="/portal/findings/{finding.finding_id}"' in store_row
    # Every record shown was written to the access trail before the page, in this name.
    events = services.access.events()
    looked = {e.subject_index for e in events if e.entry_index >= size}
    assert looked == {world.indices[r] for r in shown}
    assert all(e.username == "wangjing" for e in events if e.entry_index >= size)
    record_page = client.get(f"/portal/records/{world.indices[f'{STORE}-S0001']}")
    assert "Complaint 2026-88" in record_page.get_data(as_text=True)


def test_the_journey_is_reached_from_the_prescription_and_each_dispensing(
    pharmacy_portal: Portal,
) -> None:
    client, world = pharmacy_portal.client, pharmacy_portal.world
    assert _sign_in(client, "wangjing", "jing-password-1")[0] == 302
    _state_purpose(client, f"/portal/records/{world.indices[RX_ID]}", "核查重复调配线索")
    for record_id in (RX_ID, f"{RETAIL}-D0001", f"{STORE}-D0001"):
        page = client.get(f"/portal/records/{world.indices[record_id]}").get_data(as_text=True)
        link = re.search(r'<p id="journey-link"><a href="([^"]+)"', page)
        assert link and html.unescape(link.group(1)) == _journey_path(), record_id


def test_the_journey_asks_for_a_purpose_and_asks_again_from_elsewhere(
    pharmacy_portal: Portal,
) -> None:
    client, services = pharmacy_portal.client, pharmacy_portal.services
    assert _sign_in(client, "wangjing", "jing-password-1")[0] == 302
    size = services.store.head().size
    asked = client.get(_journey_path())
    assert asked.status_code == 302 and "/portal/purpose" in asked.headers["Location"]
    assert services.store.head().size == size  # no purpose, nothing shown, nothing written
    _state_purpose(client, _journey_path(), "核查重复调配线索")
    written = services.store.head().size
    # A link from another site: the portal asks, and writes nothing until it is confirmed.
    elsewhere = client.get(_journey_path(), headers={"Sec-Fetch-Site": "cross-site"})
    assert elsewhere.status_code == 200 and 'id="confirm-cross-site"' in elsewhere.get_data(
        as_text=True
    )
    assert services.store.head().size == written
    confirmed = client.post(_journey_path(), data={"csrf_token": _csrf(elsewhere.data)})
    assert confirmed.status_code == 200 and 'id="journey"' in confirmed.get_data(as_text=True)
    assert client.post(_journey_path(), data={}).status_code == 400  # no token, no look
    missing = client.get(f"/portal/prescriptions/{HOSPITAL}/NO-SUCH-RX/journey")
    assert missing.status_code == 404


def test_an_auditor_reads_the_journey_without_the_patient(pharmacy_portal: Portal) -> None:
    auditor, world = pharmacy_portal.auditor, pharmacy_portal.world
    assert _sign_in(auditor, "zhaomin", "min-password-3")[0] == 302
    page = _state_purpose(auditor, _journey_path(), "年度账本审计")
    assert "DISP-DOUBLE-FILL" in page
    assert world.patient_id not in page and "陈晓梅" not in page
    assert "/portal/patients/" not in page


def test_a_pharmacy_profile_shows_its_filing_roster_volumes_and_findings(
    pharmacy_portal: Portal,
) -> None:
    client, world, clock = pharmacy_portal.client, pharmacy_portal.world, pharmacy_portal.clock
    assert _sign_in(client, "wangjing", "jing-password-1")[0] == 302
    _english(client)
    page = html.unescape(client.get(f"/portal/pharmacies/{STORE}").get_data(as_text=True))

    def fact(key: str) -> str:
        found = re.search(rf'<dd data-fact="{key}">(.*?)</dd>', page, re.S)
        assert found, key
        return re.sub(r"<[^>]+>", "", found.group(1))

    assert "百济连锁药房二店" in fact("name")
    assert fact("kind") == "chain pharmacy store"
    assert fact("license_valid_until") == "2029-12-31 (in force)"
    assert fact("gsp_valid_until") == "2028-06-30 (in force)"
    assert fact("online_sales_filed") == "filed"
    assert f"百济连锁药房总部 ({CHAIN_HQ})" in fact("parent")
    assert f'href="/portal/pharmacies/{CHAIN_HQ}"' in page
    assert world.platforms[STORE] in fact("platforms")
    roster = re.search(r'<table id="profile-roster">(.*?)</table>', page, re.S)
    assert roster and "吴药师" in roster.group(1) and "SPH001" in roster.group(1)
    assert "active" in roster.group(1)
    # This month's dispensing (online) and delivery.
    month = (world.seen + timedelta(hours=5)).strftime("%Y-%m")
    volume = re.search(rf"<tr><th scope=\"row\">{month}</th>(.*?)</tr>", page)
    assert volume
    assert re.findall(r"<td>(\d+)</td>", volume.group(1)) == ["1", "1", "0", "0", "1"]
    assert clock.now.astimezone(CST).strftime("%Y-%m") in page
    # Its findings link to the findings list filtered to it.
    assert "DISP-DOUBLE-FILL" in page
    assert (
        f"/portal/findings?rule=DISP-DOUBLE-FILL&amp;institution={STORE}"
        in html.escape(page, quote=False)
        or f"/portal/findings?rule=DISP-DOUBLE-FILL&institution={STORE}" in page
    )
    # The headquarters lists its store; an institution link to a pharmacy lands here.
    headquarters = client.get(f"/portal/pharmacies/{CHAIN_HQ}").get_data(as_text=True)
    stores = re.search(r'<dd data-fact="stores">(.*?)</dd>', headquarters, re.S)
    assert stores and f'href="/portal/pharmacies/{STORE}"' in stores.group(1)
    moved = client.get(f"/portal/institutions/{RETAIL}")
    assert moved.status_code == 302 and moved.headers["Location"].endswith(
        f"/portal/pharmacies/{RETAIL}"
    )
    assert client.get(f"/portal/institutions/{HOSPITAL}").status_code == 200
    assert client.get("/portal/pharmacies/NO-SUCH-CODE").status_code == 404


def _found(client: FlaskClient, **query: str) -> set[str]:
    page = client.get("/portal/search", query_string=query).get_data(as_text=True)
    return set(re.findall(r'<a href="/portal/records/\d+">([^<]+)</a>', page))


def test_search_by_pharmacy_and_by_drug(pharmacy_portal: Portal) -> None:
    client = pharmacy_portal.client
    assert _sign_in(client, "wangjing", "jing-password-1")[0] == 302
    # A pharmacy: its own records, and the prescription it dispensed (a hospital's record).
    assert _found(client, pharmacy=STORE) == {
        f"{STORE}-FILING-1",
        f"{STORE}-D0001",
        f"{STORE}-S0001",
        RX_ID,
    }
    assert _found(client, pharmacy=RETAIL, type="prescription") == {RX_ID}
    assert _found(client, pharmacy=STORE, type="delivery") == {f"{STORE}-S0001"}
    # A drug: the prescription and both dispensings naming it.
    assert _found(client, drug=DRUG) == {RX_ID, f"{RETAIL}-D0001", f"{STORE}-D0001"}
    assert _found(client, drug=DRUG, institution=RETAIL) == {f"{RETAIL}-D0001"}
    assert _found(client, drug="D9999") == set()
    assert _found(client, type="dispensing") == {f"{RETAIL}-D0001", f"{STORE}-D0001"}
    # The export carries both filters.
    page = client.get("/portal/search", query_string={"drug": DRUG, "pharmacy": RETAIL})
    text = page.get_data(as_text=True)
    assert 'name="drug" value="D0002"' in text and f'name="pharmacy" value="{RETAIL}"' in text


def _item(index: int, kind: str, record: dict[str, Any]) -> TimelineRecord:
    return TimelineRecord(
        index,
        record["record_id"],
        kind,
        datetime(2026, 10, 1, 1, 0, tzinfo=UTC),
        record,
        (),
        True,
        ReferenceSnapshot(),
    )


def _source_row(index: int, kind: str, code: str, record_id: str, amends: str | None = None) -> Any:
    return JourneyRecordRow(
        index, record_id, kind, datetime(2026, 10, 1, 1, 0, tzinfo=UTC), code, f"PLT-{code}",
        amends, None, None,
    )  # fmt: skip


def test_a_corrected_dispensing_counts_once_as_corrected() -> None:
    """Totals against the prescription: a pharmacy's correction replaces its dispensing, a
    second pharmacy's fill adds to it, and a drug never prescribed is prescribed 0."""
    given = {"drug_code": DRUG, "drug_name": DRUG_NAME, "unit": "盒"}
    records = [
        _item(1, "prescription", {"record_id": "RX", "items": [{**given, "quantity": "2"}]}),
        _item(2, "dispensing", {"record_id": "A1", "items": [{**given, "quantity": "3"}]}),
        _item(3, "dispensing", {"record_id": "A2", "items": [{**given, "quantity": "1"}]}),
        _item(
            4,
            "dispensing",
            {
                "record_id": "B1",
                "items": [
                    {**given, "quantity": "1.5"},
                    {"drug_code": "D0009", "drug_name": "替代药", "unit": "盒", "quantity": "1"},
                ],
            },
        ),
    ]
    source = JourneySource(
        HOSPITAL,
        "RX",
        (
            _source_row(1, "prescription", HOSPITAL, "RX"),
            _source_row(2, "dispensing", RETAIL, "A1"),
            _source_row(3, "dispensing", RETAIL, "A2", amends="A1"),
            _source_row(4, "dispensing", STORE, "B1"),
        ),
        True,
        {},
        {},
        {},
    )
    totals = {t.drug_code: t for t in drug_totals(source, records)}
    assert (totals[DRUG].prescribed, totals[DRUG].dispensed) == (Decimal(2), Decimal("2.5"))
    assert totals[DRUG].dispensings == 2 and totals[DRUG].exceeded
    assert (totals["D0009"].prescribed, totals["D0009"].exceeded) == (Decimal(0), True)
    rows = journey_rows(source, records, lambda text: text, {})
    assert [r.superseded for r in rows if r.record_type == "dispensing"] == [True, False, False]
