"""Record search: by institution, type, rule and dates for everyone; by patient ID (through its
pseudonym, and on the access trail) for regulators only; CSV export on the trail too."""

from __future__ import annotations

import csv
import io
from datetime import date
from typing import Any

import orjson
from flask.testing import FlaskClient
from sqlalchemy import func, select

from ledger.leaf import decode_leaf
from supervisor.custody.payload_keys import SALT_SIZE
from supervisor.database import tables
from supervisor.runtime.services import Services
from supervisor.web.portal import search as search_module

from .agency_directory import directory
from .test_portal_records import _consultation_index, _state_purpose, province_portal
from .test_portal_sign_in import _sign_in

__all__ = ["directory", "province_portal"]  # the fixtures, shared


def _count(services: Services, *conditions: Any) -> int:
    with services.engine.connect() as connection:
        return int(
            connection.execute(
                select(func.count()).select_from(tables.records).where(*conditions)
            ).scalar_one()
        )


def test_search_by_type_and_rule_with_pages(
    province_portal: tuple[FlaskClient, FlaskClient, Services],
) -> None:
    _, auditor, services = province_portal
    assert _sign_in(auditor, "zhaomin", "min-password-3")[0] == 302
    page = auditor.get("/portal/search").get_data(as_text=True)
    assert 'name="patient_id"' not in page  # auditors do not search by patient
    consultations = _count(services, tables.records.c.record_type == "consultation")
    page = auditor.get("/portal/search?type=consultation").get_data(as_text=True)
    assert f"共 {consultations} 条记录" in page
    everything = _count(services)
    pages = -(-everything // 50)
    assert pages >= 3
    page = auditor.get("/portal/search?from=2026-01-01").get_data(as_text=True)
    assert f"共 {everything} 条记录" in page and f"第 1 页，共 {pages} 页" in page
    follow = page.split('rel="next" href="')[1].split('"')[0].replace("&amp;", "&")
    assert f"第 2 页，共 {pages} 页" in auditor.get(follow).get_data(as_text=True)
    with services.engine.connect() as connection:
        flagged = connection.execute(
            select(func.count(func.distinct(tables.findings.c.record_index))).where(
                tables.findings.c.rule_id == "DATA-LATE"
            )
        ).scalar_one()
    page = auditor.get("/portal/search?rule=DATA-LATE&from=2026-10-01&to=2026-11-30").get_data(
        as_text=True
    )
    assert f"共 {flagged} 条记录" in page
    page = auditor.get("/portal/search?from=yesterday&type=nonsense").get_data(as_text=True)
    assert "以下检索条件无法识别，已忽略：type, from" in page
    assert auditor.get("/portal/search?patient_id=330100").status_code == 403


def test_a_search_counts_up_to_its_limit_and_still_pages_the_newest(
    province_portal: tuple[FlaskClient, FlaskClient, Services], monkeypatch: Any
) -> None:
    """Past the count limit the page says "more than", pages stop at the limit, and the rows
    are still the newest matches; below it the count is exact (the test above)."""
    _, auditor, services = province_portal
    everything = _count(services)
    assert everything > 120
    monkeypatch.setattr(search_module, "COUNT_LIMIT", 100)
    assert _sign_in(auditor, "zhaomin", "min-password-3")[0] == 302
    page = auditor.get("/portal/search?from=2026-01-01").get_data(as_text=True)
    assert "超过 100 条记录" in page and "第 1 页，共 2 页以上" in page
    with services.engine.connect() as connection:
        newest = (
            connection.execute(
                select(tables.records.c.entry_index).order_by(tables.records.c.entry_index.desc())
            )
            .scalars()
            .all()
        )
    assert f'href="/portal/records/{newest[0]}"' in page
    last = auditor.get("/portal/search?from=2026-01-01&page=9").get_data(as_text=True)
    assert "第 2 页，共 2 页以上" in last and 'rel="next"' not in last
    assert f'href="/portal/records/{newest[50]}"' in last
    assert f'href="/portal/records/{newest[100]}"' not in last
    result = search_module.search_records(
        services.engine, search_module.RecordQuery(occurred_from=date(2026, 1, 1)), None,
        count_limit=everything,
    )  # fmt: skip
    assert (result.total, result.more) == (everything, False)


def test_a_patient_search_goes_through_the_pseudonym_and_onto_the_trail(
    province_portal: tuple[FlaskClient, FlaskClient, Services],
) -> None:
    client, _, services = province_portal
    index = _consultation_index(services)
    sealed = services.store.entry(index).payload or b""
    patient_id = orjson.loads(services.keys.open(sealed)[SALT_SIZE:])["patient"]["id_number"]
    assert _sign_in(client, "wangjing", "jing-password-1")[0] == 302
    size = services.store.head().size
    page = _state_purpose(client, f"/portal/search?patient_id={patient_id}", "投诉核查 2026-118")
    assert f'href="/portal/records/{index}"' in page
    pseudonym = services.keys.pseudonym("patient", patient_id)
    assert _count(services, tables.records.c.patient_pseudonym == pseudonym) > 0
    searched = services.store.entry(size)
    assert searched.type == "access.searched_patient"
    assert patient_id not in searched.leaf.decode() and pseudonym not in searched.leaf.decode()
    with services.engine.connect() as connection:
        (event,) = connection.execute(
            select(tables.access_events).where(tables.access_events.c.entry_index == size)
        ).all()
    assert event.patient_pseudonym == pseudonym and event.purpose == "投诉核查 2026-118"
    assert patient_id not in str(event)  # the number itself is stored nowhere
    listing = client.get(f"/portal/patients/{pseudonym}/access").get_data(as_text=True)
    assert "投诉核查 2026-118" in listing
    # The export is on the trail too, and is the same records as CSV.
    exported = client.get(f"/portal/search/export?patient_id={patient_id}")
    assert exported.status_code == 200 and exported.mimetype == "text/csv"
    text = exported.get_data(as_text=True)
    assert text.startswith("\ufeff")
    rows = list(csv.DictReader(io.StringIO(text.lstrip("\ufeff"))))
    assert str(index) in {r["entry_index"] for r in rows}
    last = services.store.entry(services.store.head().size - 1)
    assert last.type == "access.exported"
    assert decode_leaf(last.leaf).statement["action"] == "exported"
