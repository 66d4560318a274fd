"""Record search: by institution, type, rule and dates for everyone; by patient ID (through its
pseudonym, and on the access trail) for regulators only; CSV export on the trail too."""

from __future__ import annotations

import csv
import io
import logging
import re
from datetime import date, datetime, timedelta, timezone
from typing import Any

import orjson
import pytest
from flask.testing import FlaskClient
from sqlalchemy import func, select

from ledger.leaf import decode_leaf
from reports.spreadsheet import read_table
from supervisor.custody.payload_keys import SALT_SIZE
from supervisor.database import tables
from supervisor.runtime.services import Services
from supervisor.web.portal import search as search_module

from .agency_directory import directory
from .test_portal_records import _consultation_index, _state_purpose, province_portal
from .test_portal_sign_in import _csrf, _sign_in

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
    assert "以下检索条件无法识别，已忽略：记录类型、起" in page  # by the names the form uses
    assert auditor.get("/portal/search?patient_id=330100").status_code == 400  # never in a URL
    assert auditor.get(f"/portal/search?patient={'ab' * 32}").status_code == 403


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
    pseudonym = services.keys.pseudonym("patient", patient_id)
    _state_purpose(client, f"/portal/search?patient={pseudonym}", "投诉核查 2026-118")
    size = services.store.head().size
    token = _csrf(client.get("/portal/search").data)
    posted = client.post("/portal/search", data={"patient_id": patient_id, "csrf_token": token})
    assert posted.status_code == 303 and patient_id not in posted.headers["Location"]
    assert posted.headers["Location"] == f"/portal/search?patient={pseudonym}"
    page = client.get(posted.headers["Location"]).get_data(as_text=True)
    assert f'href="/portal/records/{index}"' in page and patient_id not in page
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
    exported = client.post(
        "/portal/search/export", data={"patient": pseudonym, "csrf_token": token}
    )
    assert exported.status_code == 200 and exported.mimetype == "text/csv"
    text = exported.get_data(as_text=True)
    assert text.startswith("\ufeff")
    rows = read_table(text)
    assert str(index) in {r["entry_index"] for r in rows}
    last = services.store.entry(services.store.head().size - 1)
    assert last.type == "access.exported"
    assert decode_leaf(last.leaf).statement["action"] == "exported"


def test_a_patient_id_number_never_appears_in_a_url_a_redirect_or_a_log_line(
    province_portal: tuple[FlaskClient, FlaskClient, Services],
    caplog: pytest.LogCaptureFixture,
) -> None:
    client, _, services = province_portal
    index = _consultation_index(services)
    sealed = services.store.entry(index).payload or b""
    patient_id = orjson.loads(services.keys.open(sealed)[SALT_SIZE:])["patient"]["id_number"]
    assert _sign_in(client, "wangjing", "jing-password-1")[0] == 302
    caplog.set_level(logging.DEBUG)
    seen: list[str] = []  # every URL, redirect and page the regulator's browser would get
    token = _csrf(client.get("/portal/search").data)
    # Before a purpose is stated: to the purpose page, and back to the empty form.
    first = client.post("/portal/search", data={"patient_id": patient_id, "csrf_token": token})
    seen += [first.headers["Location"], first.get_data(as_text=True)]
    assert first.status_code == 302 and "/portal/purpose" in first.headers["Location"]
    purpose = client.get(first.headers["Location"])
    seen.append(purpose.get_data(as_text=True))
    stated = client.post(
        "/portal/purpose",
        data={"csrf_token": _csrf(purpose.data), "purpose": "投诉核查 2026-119", "back": "/x"},
    )
    seen.append(stated.headers["Location"])
    answer = client.post("/portal/search", data={"patient_id": patient_id, "csrf_token": token})
    seen.append(answer.headers["Location"])
    page = client.get(answer.headers["Location"])
    seen += [page.request.url, page.get_data(as_text=True)]
    paging = re.findall(r'href="([^"]+)"', page.get_data(as_text=True))
    seen += paging
    assert patient_id not in "\n".join(seen)
    assert all(patient_id not in record.getMessage() for record in caplog.records)
    assert all(patient_id not in str(record.__dict__) for record in caplog.records)
    # Typed into an address by hand: refused, and nothing is looked up or recorded.
    size = services.store.head().size
    assert client.get(f"/portal/search?patient_id={patient_id}").status_code == 400
    assert services.store.head().size == size


def test_a_cross_site_navigation_appends_nothing_and_asks_first(
    province_portal: tuple[FlaskClient, FlaskClient, Services],
) -> None:
    client, _, services = province_portal
    index = _consultation_index(services)
    assert _sign_in(client, "wangjing", "jing-password-1")[0] == 302
    _state_purpose(client, f"/portal/records/{index}", "跨站测试")
    pseudonym = services.keys.pseudonym("patient", "330100199001011234")
    for path in (f"/portal/records/{index}", f"/portal/search?patient={pseudonym}"):
        for headers in (
            {"Sec-Fetch-Site": "cross-site"},
            {"Sec-Fetch-Site": "same-site"},
            {"Sec-Fetch-Site": "none"},  # a link in a mail or chat application
            {"Referer": "https://evil.example/page"},  # an older browser, no Sec-Fetch-*
        ):
            size = services.store.head().size
            asked = client.get(path, headers=headers)
            assert asked.status_code == 200 and 'id="confirm-cross-site"' in asked.get_data(
                as_text=True
            ), (path, headers)
            assert services.store.head().size == size, (path, headers)
        # The confirmation is a deliberate, same-origin form with the session's token.
        page = client.get(path, headers={"Sec-Fetch-Site": "cross-site"}).get_data(as_text=True)
        form = page[page.index('id="confirm-cross-site"') :]
        action = re.search(r'<form method="post" action="([^"]+)"', form)
        fields = dict(re.findall(r'name="([^"]+)" value="([^"]*)"', form[: form.index("</form>")]))
        assert action
        size = services.store.head().size
        confirmed = client.post(action.group(1), data=fields, follow_redirects=True)
        assert confirmed.status_code == 200
        assert services.store.head().size == size + 1
    # From the portal itself: no question asked.
    for site in ("same-origin",):
        size = services.store.head().size
        shown = client.get(f"/portal/records/{index}", headers={"Sec-Fetch-Site": site})
        assert 'id="record-content"' in shown.get_data(as_text=True)
        assert services.store.head().size == size + 1


def test_times_are_shown_and_exported_in_china_standard_time(
    province_portal: tuple[FlaskClient, FlaskClient, Services],
) -> None:
    _, auditor, services = province_portal
    assert _sign_in(auditor, "zhaomin", "min-password-3")[0] == 302
    _state_purpose(auditor, f"/portal/records/{_consultation_index(services)}", "时间测试")
    page = auditor.get("/portal/search?type=consultation").get_data(as_text=True)
    assert " UTC" not in page
    shown = re.findall(r"(\d{4}-\d\d-\d\d \d\d:\d\d) 北京时间", page)
    assert shown
    with services.engine.connect() as connection:
        newest = connection.execute(
            select(tables.records.c.occurred_at)
            .where(tables.records.c.record_type == "consultation")
            .order_by(tables.records.c.entry_index.desc())
            .limit(1)
        ).scalar_one()
    in_china = tables.read_time(newest).astimezone(timezone(timedelta(hours=8)))
    assert in_china.strftime("%Y-%m-%d %H:%M") in shown
    token = _csrf(auditor.get("/portal/search").data)
    exported = auditor.post(
        "/portal/search/export", data={"type": "consultation", "csrf_token": token}
    ).get_data(as_text=True)
    assert "+08:00" in exported and "+00:00" not in exported


def _listed(page: str) -> list[int]:
    """The ledger indices of the result rows, in the order the page lists them."""
    body = page[page.index("<tbody>") : page.index("</tbody>")]
    return [int(i) for i in re.findall(r'<tr><td><a href="/portal/records/(\d+)"', body)]


def _expected_order(services: Services, sort: str) -> list[int]:
    """Every record's ledger index in ``sort``'s order, worked out here from the rows: by
    occurred time (ties by index), or received, the ledger's own order."""
    r = tables.records.c
    with services.engine.connect() as connection:
        rows = connection.execute(select(r.entry_index, r.occurred_at, r.received_at)).all()
    column, direction = sort.split("_")
    keyed = [
        ((tables.read_time(occurred), index) if column == "occurred" else (index,), index)
        for index, occurred, _ in rows
    ]
    ordered = [index for _, index in sorted(keyed, reverse=direction == "desc")]
    if column == "received":  # the ledger's order is the order of the received times too
        received = {index: tables.read_time(at) for index, _, at in rows}
        times = [received[i] for i in ordered]
        assert times == sorted(times, reverse=direction == "desc")
    return ordered


def test_results_sort_by_the_time_the_regulator_chooses_and_paging_keeps_it(
    province_portal: tuple[FlaskClient, FlaskClient, Services],
) -> None:
    _, auditor, services = province_portal
    assert _sign_in(auditor, "zhaomin", "min-password-3")[0] == 302
    orders = {sort: _expected_order(services, sort) for sort in search_module.SORTS}
    # The data tells the two times apart: a record is often sent after later ones happened.
    assert orders["occurred_desc"][:100] != orders["received_desc"][:100]
    for sort, expected in orders.items():
        page = auditor.get(f"/portal/search?from=2026-01-01&sort={sort}").get_data(as_text=True)
        assert _listed(page) == expected[:50], sort
        assert f'<option value="{sort}" selected>' in page
        column, direction = sort.split("_")
        aria = "descending" if direction == "desc" else "ascending"
        assert re.search(f'<th scope="col" id="sort-{column}" aria-sort="{aria}">', page), sort
        other = "received" if column == "occurred" else "occurred"
        assert re.search(f'<th scope="col" id="sort-{other}">', page), sort  # no aria-sort
        follow = page.split('rel="next" href="')[1].split('"')[0].replace("&amp;", "&")
        assert f"sort={sort}" in follow or sort == search_module.DEFAULT_SORT
        assert _listed(auditor.get(follow).get_data(as_text=True)) == expected[50:100], sort
    # The default is the newest received; the column heading turns it round.
    page = auditor.get("/portal/search?from=2026-01-01").get_data(as_text=True)
    assert _listed(page) == orders["received_desc"][:50]
    heading = re.search(r'id="sort-received" aria-sort="descending"><a href="([^"]+)"', page)
    assert heading and "sort=received_asc" in heading.group(1)
    flipped = auditor.get(heading.group(1).replace("&amp;", "&")).get_data(as_text=True)
    assert _listed(flipped) == orders["received_asc"][:50]
    heading = re.search(r'id="sort-occurred"><a href="([^"]+)"', page)
    assert heading and "sort=occurred_desc" in heading.group(1)
    # The form keeps the order through its post-redirect-get.
    token = _csrf(auditor.get("/portal/search").data)
    posted = auditor.post(
        "/portal/search",
        data={"from": "2026-01-01", "sort": "occurred_asc", "csrf_token": token},
    )
    assert posted.status_code == 303 and "sort=occurred_asc" in posted.headers["Location"]
    # An order nobody offers: the default order, and the page says the field was left out.
    odd = auditor.get("/portal/search?from=2026-01-01&sort=amount_desc%27--")
    assert odd.status_code == 200
    text = odd.get_data(as_text=True)
    assert text.split("已忽略：")[1].split("<")[0] == "排序"  # the field by its name
    assert _listed(text) == orders["received_desc"][:50]


def test_the_export_keeps_the_order_with_bilingual_headers_and_china_times(
    province_portal: tuple[FlaskClient, FlaskClient, Services],
) -> None:
    _, auditor, services = province_portal
    assert _sign_in(auditor, "zhaomin", "min-password-3")[0] == 302
    _state_purpose(auditor, f"/portal/records/{_consultation_index(services)}", "导出测试")
    token = _csrf(auditor.get("/portal/search").data)
    r = tables.records.c
    with services.engine.connect() as connection:
        times = {
            index: (tables.read_time(occurred), tables.read_time(received))
            for index, occurred, received in connection.execute(
                select(r.entry_index, r.occurred_at, r.received_at)
            )
        }
    for sort in ("occurred_asc", "received_desc"):
        exported = auditor.post(
            "/portal/search/export",
            data={"from": "2026-01-01", "sort": sort, "csrf_token": token},
        ).get_data(as_text=True)
        header = next(csv.reader(io.StringIO(exported.lstrip("\ufeff"))))
        assert header[0] == "账本序号 / entry_index"
        assert header[-2:] == [
            "发生时间（北京时间） / occurred_at",
            "接收时间（北京时间） / received_at",
        ]
        rows = read_table(exported)
        assert [int(row["entry_index"]) for row in rows] == _expected_order(services, sort)
        for row in rows:
            occurred, received = times[int(row["entry_index"])]
            for text, moment in ((row["occurred_at"], occurred), (row["received_at"], received)):
                assert text.endswith("+08:00"), text
                assert datetime.fromisoformat(text) == moment  # the same instant, China clock


def test_a_query_keeps_its_order_in_its_address_and_refuses_an_unknown_one() -> None:
    query, problems = search_module.RecordQuery.from_args(
        {"institution": "H1", "sort": "occurred_asc", "page": "3"}
    )
    assert problems == [] and query.sort == "occurred_asc"
    assert query.to_args() == {"institution": "H1", "sort": "occurred_asc"}
    assert query.to_args(page=4)["page"] == "4" and query.to_args(page=4)["sort"] == "occurred_asc"
    assert "sort" not in query.to_args(sort=search_module.DEFAULT_SORT)
    assert search_module.RecordQuery.from_args(query.to_args())[0] == query.__class__(
        institution="H1", sort="occurred_asc"
    )
    assert search_module.RecordQuery.from_args({"sort": ["x"]})[0].sort == "received_desc"
    with pytest.raises(ValueError, match="unknown sort"):
        search_module.RecordQuery(sort="entry_index")
