"""Pharmacy reports on a real ledger: the double-fill world of the journey tests (a
hospital's prescription filled in full at a retail pharmacy in store and at a chain's
store online, sent by three platforms through the submission API, inspected past every
grace period). The default assessment is v3 with the pharmacies in their own section,
the default digest carries the drugs section, both verify and regenerate byte for byte,
version 2 stays selectable, and the drug catalogue they read is checked against its
leaf like every other byte of the basis."""

from __future__ import annotations

import io
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
import pytest
from pypdf import PdfReader
from sqlalchemy import select, update

from ledger import schema as ledger_schema
from ledger.integrity import verify_stored_log
from ledger.note import Verifier
from reports.methodology import methodology_version
from supervisor.config import Settings
from supervisor.custody.data_folder import initialise
from supervisor.reporting.service import Generated
from supervisor.runtime.services import Services
from supervisor.web.app import create_app
from tests.supervisor.conftest import Clock
from tests.supervisor.test_portal_pharmacy import (
    CHAIN_HQ,
    HOSPITAL,
    RETAIL,
    STORE,
    PharmacyWorld,
    send_pharmacy_world,
)
from tests.tampering import take_down_ledger_guards

pytestmark = pytest.mark.database


@dataclass
class Ledger:
    services: Services
    world: PharmacyWorld
    verifier: Verifier


@pytest.fixture
def ledger(tmp_path: Path, database_url: str) -> Iterator[Ledger]:
    settings = Settings(data_dir=tmp_path / "var", database_url=database_url)
    verifier = initialise(settings).log_verifier
    assert verifier is not None
    clock = Clock()
    app = create_app(settings, clock=clock)
    world = send_pharmacy_world(app, clock)
    services: Services = app.extensions["careledger"]
    yield Ledger(services, world, verifier)
    result = verify_stored_log(services.engine, verifier)
    assert result.ok, result.discrepancy
    services.engine.dispose()


def _files(services: Services, generated: Generated) -> dict[str, bytes]:
    return {
        kind: services.reports.file_path(generated.report.report_id, kind).read_bytes()
        for kind in ("json", "csv", "pdf-zh", "pdf-en")
    }


def _text(pdf: bytes) -> str:
    return "\n".join(page.extract_text() for page in PdfReader(io.BytesIO(pdf)).pages)


def _by_code(items: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {item["institution_code"]: item for item in items}


def _indicator(item: dict[str, Any], indicator_id: str) -> tuple[Any, Any, Any]:
    found = next(i for i in item["indicators"] if i["id"] == indicator_id)
    return found["numerator"], found["denominator"], found["value"]


def test_the_assessment_rates_pharmacies_apart_and_names_the_double_fill(ledger: Ledger) -> None:
    reports = ledger.services.reports
    generated = reports.generate("assessment", "2026-11", requested_by="test")
    files = _files(ledger.services, generated)
    document = orjson.loads(files["json"])
    assert document["basis"]["methodology"]["version"] == "assessment-v3"
    assert "drugs" in document["basis"]["reference_versions"]
    body = document["assessment"]
    assert [i["institution_code"] for i in body["institutions"]] == [HOSPITAL]
    pharmacies = _by_code(body["pharmacy_assessment"]["pharmacies"])
    assert set(pharmacies) == {RETAIL, STORE, CHAIN_HQ}
    store, retail = pharmacies[STORE], pharmacies[RETAIL]
    assert (store["name"], store["kind"], store["parent_code"]) == (
        "百济连锁药房二店",
        "chain_store",
        CHAIN_HQ,
    )
    # The store's online fill came second in the ledger: the double fill is its case.
    assert _indicator(store, "double_fill_cases")[2] == "1"
    assert _indicator(retail, "double_fill_cases")[2] == "0"
    (fill,) = store["double_fills"]
    assert fill["pharmacies"] == sorted([RETAIL, STORE]) and fill["dispensings"] == 2
    assert fill["prescription"]["institution_code"] == HOSPITAL
    assert "DISP-DOUBLE-FILL" in {c["rule"] for c in store["cases"]}
    # Both reviews approved by the pharmacy's own rostered, registered pharmacist.
    for item in (store, retail):
        assert _indicator(item, "pharmacy_review_rate") == ("1", 1, "1")
    assert _indicator(store, "delivery_verification") == ("1", 1, "1")
    assert _indicator(store, "cold_chain_compliance") == (None, 0, None)
    text = _text(files["pdf-zh"])
    assert "药店综合排名" in text and "百济连锁药房二店" in text and "重复调配明细" in text
    # Verified against the ledger, and the same bytes when computed again.
    for kind in ("json", "pdf-zh", "pdf-en"):
        assert reports.verify(files[kind]).ok, kind
    again = reports.compute("assessment", "2026-11", at_size=generated.report.tree_size)
    assert again.data.json_bytes == files["json"] and again.data.csv_bytes == files["csv"]
    assert again.pdfs["zh"] == files["pdf-zh"] and again.pdfs["en"] == files["pdf-en"]
    # Version 2 stays selectable on the same ledger, and verifies as itself.
    v2 = reports.generate(
        "assessment",
        "2026-11",
        requested_by="test",
        methodology=methodology_version("assessment-v2"),
    )
    assert v2.report.report_id.startswith("assessment-2026-11-v2-at-")
    assert reports.verify(_files(ledger.services, v2)["json"]).ok


def test_the_digest_of_the_inspection_day_lists_the_double_fill(ledger: Ledger) -> None:
    reports = ledger.services.reports
    generated = reports.generate("digest", "2026-11-27", requested_by="test")
    files = _files(ledger.services, generated)
    body = orjson.loads(files["json"])["digest"]
    assert body["edition"] == "digest-v3"
    drugs = body["drugs"]
    assert drugs["new_findings"]["by_rule"].get("DISP-DOUBLE-FILL") == 1
    (fill,) = drugs["double_fills"]
    assert fill["institution_code"] == STORE and fill["pharmacies"] == sorted([RETAIL, STORE])
    assert fill["pharmacy_names"] == ["康宁大药房", "百济连锁药房二店"]
    text = _text(files["pdf-zh"])
    assert "药品调配与配送" in text and "康宁大药房" in text
    for kind in ("json", "pdf-zh"):
        assert reports.verify(files[kind]).ok, kind


def test_an_altered_drug_catalogue_breaks_the_basis(ledger: Ledger) -> None:
    reports = ledger.services.reports
    generated = reports.generate("assessment", "2026-11", requested_by="test")
    data = _files(ledger.services, generated)["json"]
    e = ledger_schema.entries
    with ledger.services.engine.connect() as connection:
        index, payload = connection.execute(
            select(e.c.idx, e.c.payload).where(e.c.type == "reference.drugs")
        ).one()
    rows = orjson.loads(payload)
    rows[0]["category"] = "otc"  # the prescription drug made free to sell
    with ledger.services.engine.begin() as connection:
        take_down_ledger_guards(connection)
        connection.execute(update(e).where(e.c.idx == index).values(payload=orjson.dumps(rows)))
    try:
        result = reports.verify(data)
        assert not result.ok
        failed = result.checks[-1]
        assert failed.name == "recomputed" and f"entry {index}" in failed.detail
        assert "reference data does not match" in failed.detail
    finally:
        with ledger.services.engine.begin() as connection:
            take_down_ledger_guards(connection)
            connection.execute(update(e).where(e.c.idx == index).values(payload=payload))
