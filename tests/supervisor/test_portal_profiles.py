"""Institution and practitioner pages: who they are in words and by name, volumes, the
roster, and findings by rule linked to a findings list that holds exactly those findings."""

from __future__ import annotations

import html
import re
from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
from flask.testing import FlaskClient
from sqlalchemy import Engine, event, func, select

from ledger.integrity import verify_stored_log
from supervisor.custody.data_folder import initialise
from supervisor.database import tables
from supervisor.demo.province import generate_province
from supervisor.demo.province_files import load_province, write_province
from supervisor.runtime.services import Services
from supervisor.web.app import create_app
from supervisor.web.portal import findings_page as findings_page_module
from supervisor.web.portal.findings_page import PAGE_SIZE, FindingFilter
from supervisor.web.portal.profiles import institution_profile, practitioner_profile
from tests.slapd import Directory

from .agency_directory import directory
from .conftest import Clock
from .test_portal_sign_in import _settings, _sign_in

__all__ = ["directory"]  # the fixture, shared

pytestmark = pytest.mark.database

_r, _f = tables.records.c, tables.findings.c
_SERVICE = ("consultation", "prescription", "charge")
#: The registry's roles and statuses as each language shows them.
_WORDS = {
    "zh": {"physician": "医师", "pharmacist": "药师", "nurse": "护士", "active": "有效",
           "suspended": "暂停", "revoked": "吊销", "expired": "过期"},
    "en": {"physician": "physician", "pharmacist": "pharmacist", "nurse": "nurse",
           "active": "active", "suspended": "suspended", "revoked": "revoked",
           "expired": "expired"},
}  # fmt: skip


@pytest.fixture
def two_institutions(
    tmp_path: Path, database_url: str, directory: Directory
) -> Iterator[tuple[FlaskClient, Services]]:
    """Two institutions' day, violations injected, submitted through the platform API and
    inspected: enough to tell one institution's findings from the other's."""
    settings = _settings(tmp_path, database_url, directory)
    verifier = initialise(settings).log_verifier
    folder = tmp_path / "province"
    province = generate_province(
        institutions=2, days=1, seed=5, violation_rate=0.3, end=date(2026, 11, 1)
    )
    write_province(province, folder)
    report = load_province(folder, settings)
    app = create_app(settings, clock=Clock(report.ended_at + timedelta(days=4)))
    services: Services = app.extensions["careledger"]
    services.inspector.follow()
    yield app.test_client(), services
    assert verifier is not None
    result = verify_stored_log(services.engine, verifier)
    assert result.ok, result.discrepancy


def _english(client: FlaskClient) -> None:
    assert client.get("/portal/language?to=en&back=/portal/").status_code == 302


def _table(page: str, table_id: str) -> list[list[str]]:
    """The body rows of a table, each cell as its raw HTML."""
    found = re.search(rf'<table id="{table_id}">(.*?)</table>', page, re.S)
    assert found, f"no table {table_id}"
    body = found.group(1).split("<tbody>", 1)[1]
    return [re.findall(r"<td>(.*?)</td>", row, re.S) for row in re.findall(r"<tr>(.*?)</tr>", body)]


def _href(cell: str) -> str:
    found = re.search(r'href="([^"]+)"', cell)
    assert found, cell
    return html.unescape(found.group(1))


def _text(cell: str) -> str:
    return html.unescape(re.sub(r"<[^>]+>", "", cell)).strip()


def _fact(page: str, key: str) -> str:
    found = re.search(rf'<dd data-fact="{key}">(.*?)</dd>', page, re.S)
    assert found, f"no fact {key}"
    return found.group(1)


def _listed(client: FlaskClient, href: str) -> tuple[int, set[str], str]:
    """The findings list at ``href``: its total, the finding ids on the page, the page."""
    page = client.get(href).get_data(as_text=True)
    total = re.search(r'id="findings-total">\D*(\d+)', page)
    assert total, page
    ids = set(re.findall(r'href="/portal/findings/([0-9a-f]+)"', page))
    return int(total.group(1)), ids, page


def _finding_ids(services: Services, *where: object) -> set[str]:
    joined = tables.findings.join(tables.records, _f.record_index == _r.entry_index)
    with services.engine.connect() as connection:
        return set(
            connection.execute(select(_f.finding_id).select_from(joined).where(*where)).scalars()  # type: ignore[arg-type]
        )


def _codes(services: Services) -> list[str]:
    """The hospitals' codes (pharmacies have pages of their own, tested elsewhere)."""
    with services.engine.connect() as connection:
        return list(
            connection.execute(
                select(_r.institution_code)
                .where(_r.record_type.in_(("institution", "consultation")))
                .distinct()
                .order_by(_r.institution_code)
            ).scalars()
        )


def test_an_institution_page_adds_up(two_institutions: tuple[FlaskClient, Services]) -> None:
    client, services = two_institutions
    code = _codes(services)[0]
    reference, _ = services.reference.snapshot()
    profile = institution_profile(services, code, reference)
    assert profile is not None and profile.filing is not None
    assert profile.filing.kind in ("second_name", "standalone", "platform")
    with services.engine.connect() as connection:
        records = connection.execute(
            select(func.count()).where(_r.institution_code == code)
        ).scalar_one()
        service = select(_r.entry_index).where(
            _r.institution_code == code, _r.record_type.in_(_SERVICE)
        )
        total = connection.execute(
            select(func.count()).select_from(service.subquery())
        ).scalar_one()
        flagged = connection.execute(
            select(func.count(func.distinct(_f.record_index))).where(_f.record_index.in_(service))
        ).scalar_one()
        unresolved = connection.execute(
            select(func.count()).where(
                _f.institution_code == code,
                _f.state.in_(("open", "acknowledged", "rectification_ordered")),
            )
        ).scalar_one()
    assert sum(profile.activity.volumes.values()) == records
    assert profile.activity.compliance_rate == round(1 - flagged / total, 4)
    assert profile.activity.unresolved_findings == unresolved > 0
    assert _sign_in(client, "wangjing", "jing-password-1")[0] == 302
    page = client.get(f"/portal/institutions/{code}").get_data(as_text=True)
    shown = re.search(r'id="compliance-rate">合规率: ([0-9.]+)%', page)
    assert shown and abs(float(shown.group(1)) - 100 * profile.activity.compliance_rate) < 0.06
    # The open count leads to exactly the institution's findings still open.
    link = re.search(r'id="profile-unresolved">[^<]*<a href="([^"]+)">(\d+)</a>', page)
    assert link and int(link.group(2)) == unresolved
    listed, _ids, listing = _listed(client, html.unescape(link.group(1)))
    assert listed == unresolved and 'id="findings-active-filters"' in listing


@pytest.mark.parametrize("language", ["zh", "en"])
def test_an_institution_page_names_it_and_its_roster_in_words(
    two_institutions: tuple[FlaskClient, Services], language: str
) -> None:
    client, services = two_institutions
    assert _sign_in(client, "wangjing", "jing-password-1")[0] == 302
    if language == "en":
        _english(client)
    reference, _ = services.reference.snapshot()
    for code in _codes(services):
        profile = institution_profile(services, code, reference)
        assert profile is not None and profile.filing is not None and profile.name
        page = client.get(f"/portal/institutions/{code}").get_data(as_text=True)
        heading = "机构：" if language == "zh" else "Institution: "
        assert f"<h1>{heading}{profile.name} ({code})</h1>" in page
        kinds = {
            "zh": ("实体医疗机构第二名称", "独立设置的互联网医院", "第三方平台"),
            "en": (
                "second name of a physical hospital",
                "standalone internet hospital",
                "third-party platform",
            ),
        }[language]
        shown_kind = _text(_fact(page, "kind"))
        assert (
            shown_kind
            == dict(zip(("second_name", "standalone", "platform"), kinds, strict=True))[
                str(profile.filing.kind)
            ]
        )
        status = _text(_fact(page, "status"))
        assert status == (
            "已备案，执业许可证在有效期内" if language == "zh" else "filed; licence in force"
        )
        if profile.filing.host is not None:
            host = _fact(page, "host")
            assert _href(host) == f"/portal/institutions/{profile.filing.host.code}"
            # The host hospital sends nothing itself, yet its page exists: the registry
            # registers the institution's doctors there.
            host_page = client.get(_href(host))
            assert host_page.status_code == 200
            assert 'id="profile-registered"' in host_page.get_data(as_text=True)
        departments = _text(_fact(page, "departments"))
        assert (
            "心血管内科 (CARDIOLOGY)" if language == "zh" else "cardiology (CARDIOLOGY)"
        ) in departments
        assert "{" not in _text(_fact(page, "filed_at"))
        assert ("北京时间" if language == "zh" else "CST") in _fact(page, "filed_at")
        # The roster: every practitioner filed, by registry name, role and status in words.
        roster = _table(page, "profile-roster")
        assert [_text(cells[1]) for cells in roster] == [m.license_no for m in profile.roster]
        for cells, member in zip(roster, profile.roster, strict=True):
            assert _href(cells[0]) == f"/portal/practitioners/{member.license_no}"
            if member.name is None:
                assert _text(cells[0]) == (
                    "不在现行执业注册信息中"
                    if language == "zh"
                    else "not in the practitioner registry in force"
                )
                continue
            assert _text(cells[0]) == member.name
            assert _text(cells[2]) == _WORDS[language][str(member.role)]
            assert _text(cells[3]) == _WORDS[language][str(member.status)]
        assert {_text(cells[2]) for cells in roster} >= {
            _WORDS[language]["physician"],
            _WORDS[language]["pharmacist"],
        }


def test_each_rule_opens_the_institutions_findings_of_that_rule_only(
    two_institutions: tuple[FlaskClient, Services],
) -> None:
    client, services = two_institutions
    assert _sign_in(client, "zhaomin", "min-password-3")[0] == 302
    codes = _codes(services)
    assert len(codes) == 2
    for code in codes:
        page = client.get(f"/portal/institutions/{code}").get_data(as_text=True)
        rows = _table(page, "profile-rules")
        assert rows
        for rule_cell, title_cell, count_cell in rows:
            rule = _text(rule_cell)
            assert _text(title_cell) and _text(title_cell) != rule
            href = _href(count_cell)
            assert parse_qs(urlsplit(href).query) == {"rule": [rule], "institution": [code]}
            expected = _finding_ids(services, _f.rule_id == rule, _f.institution_code == code)
            total, ids, _page = _listed(client, href)
            assert total == int(_text(count_cell)) == len(expected)
            assert ids <= expected and len(ids) == min(len(expected), PAGE_SIZE)
            # The other institution's findings of the same rule exist and are left out.
            assert not ids & _finding_ids(services, _f.rule_id == rule, _f.institution_code != code)


@pytest.mark.parametrize("language", ["zh", "en"])
def test_a_practitioner_page_names_them_and_their_institutions(
    two_institutions: tuple[FlaskClient, Services], language: str
) -> None:
    client, services = two_institutions
    with services.engine.connect() as connection:
        licence, count = connection.execute(
            select(_r.practitioner_license_no, func.count())
            .where(_r.record_type == "consultation")
            .group_by(_r.practitioner_license_no)
            .order_by(func.count().desc(), _r.practitioner_license_no)
            .limit(1)
        ).one()
    reference, _ = services.reference.snapshot()
    profile = practitioner_profile(services, licence, reference)
    assert profile is not None and profile.entry is not None and profile.primary is not None
    assert profile.activity.volumes["consultation"] == count
    assert _sign_in(client, "zhaomin", "min-password-3")[0] == 302
    if language == "en":
        _english(client)
    page = client.get(f"/portal/practitioners/{licence}").get_data(as_text=True)
    heading = "执业人员：" if language == "zh" else "Practitioner: "
    assert f"<h1>{heading}{profile.entry.name} ({licence})</h1>" in page
    assert _text(_fact(page, "role")) == _WORDS[language]["physician"]
    assert _text(_fact(page, "status")) == _WORDS[language]["active"]
    validity = _text(_fact(page, "validity"))
    assert profile.entry.valid_from.isoformat() in validity
    assert _text(_fact(page, "practice_start")) == profile.entry.practice_start.isoformat()
    primary = _fact(page, "primary_institution")
    assert _href(primary) == f"/portal/institutions/{profile.primary.code}"
    for site in profile.multi_site:
        assert f'href="/portal/institutions/{site.code}"' in _fact(page, "multi_site")
        if site.name:
            assert site.name in _fact(page, "multi_site")
    departments = _text(_fact(page, "departments"))
    for department in profile.entry.departments:  # by name, the code beside it
        named_department = re.search(rf"(?:^|, )([^,(]+) \({department}\)", departments)
        assert named_department, departments
        assert re.search(r"[\u4e00-\u9fff]", named_department.group(1)) or language == "en"
    named = re.search(r'<ul id="profile-institutions">(.*?)</ul>', page, re.S)
    assert named
    for institution in profile.institutions:
        assert institution.name and f"{institution.name} ({institution.code})" in named.group(1)
        assert f'href="/portal/institutions/{institution.code}"' in named.group(1)
    assert ">physician<" not in page or language == "en"


def test_each_rule_opens_the_practitioners_findings_of_that_rule_only(
    two_institutions: tuple[FlaskClient, Services],
) -> None:
    client, services = two_institutions
    with services.engine.connect() as connection:
        flagged = list(
            connection.execute(
                select(_r.practitioner_license_no)
                .select_from(
                    tables.findings.join(tables.records, _f.record_index == _r.entry_index)
                )
                .where(_r.practitioner_license_no.is_not(None))
                .group_by(_r.practitioner_license_no)
                .order_by(func.count().desc(), _r.practitioner_license_no)
                .limit(3)
            ).scalars()
        )
    assert flagged
    assert _sign_in(client, "wangjing", "jing-password-1")[0] == 302
    for licence in flagged:
        page = client.get(f"/portal/practitioners/{licence}").get_data(as_text=True)
        rows = _table(page, "profile-rules")
        assert rows
        for rule_cell, _title, count_cell in rows:
            rule = _text(rule_cell)
            href = _href(count_cell)
            assert parse_qs(urlsplit(href).query) == {"rule": [rule], "practitioner": [licence]}
            expected = _finding_ids(
                services, _f.rule_id == rule, _r.practitioner_license_no == licence
            )
            total, ids, listing = _listed(client, href)
            assert total == int(_text(count_cell)) == len(expected)
            assert ids <= expected and len(ids) == min(len(expected), PAGE_SIZE)
            # Shown as a filter, and kept when the form is sent again.
            active = re.search(r'id="findings-active-filters">(.*?)</p>', listing, re.S)
            assert active and f'href="/portal/practitioners/{licence}"' in active.group(1)
            assert f'<input type="hidden" name="practitioner" value="{licence}">' in listing
        everything = _finding_ids(services, _r.practitioner_license_no == licence)
        all_link = re.search(
            r'id="profile-unresolved">.*?<a href="([^"]+)">[^<]*</a></p>', page, re.S
        )
        assert all_link
        total, ids, _listing = _listed(client, html.unescape(all_link.group(1)))
        assert total == len(everything) and ids <= everything


def test_the_filters_are_kept_from_page_to_page(
    two_institutions: tuple[FlaskClient, Services], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Walking the pages of a filtered list by its Next links shows every finding of the
    filter once and nothing else (a finding a page here, so a small province pages)."""
    client, services = two_institutions
    monkeypatch.setattr(findings_page_module, "PAGE_SIZE", 1)
    assert _sign_in(client, "wangjing", "jing-password-1")[0] == 302
    code = _codes(services)[0]
    with services.engine.connect() as connection:
        licence = connection.execute(
            select(_r.practitioner_license_no)
            .select_from(tables.findings.join(tables.records, _f.record_index == _r.entry_index))
            .where(_r.practitioner_license_no.is_not(None))
            .group_by(_r.practitioner_license_no)
            .order_by(func.count().desc(), _r.practitioner_license_no)
            .limit(1)
        ).scalar_one()
    unresolved = _f.state.in_(("open", "acknowledged", "rectification_ordered"))
    for start, query, expected in (
        (
            f"/portal/findings?institution={code}&unresolved=1",
            {"institution": [code], "unresolved": ["1"]},
            _finding_ids(services, _f.institution_code == code, unresolved),
        ),
        (
            f"/portal/findings?practitioner={licence}",
            {"practitioner": [licence]},
            _finding_ids(services, _r.practitioner_license_no == licence),
        ),
    ):
        assert len(expected) > 1, "the province is too small to page"
        seen: list[str] = []
        href: str | None = start
        pages = 0
        while href is not None:
            total, ids, page = _listed(client, href)
            assert total == len(expected) and len(ids) == 1
            seen += sorted(ids)
            pages += 1
            following = re.search(r'<a rel="next" href="([^"]+)"', page)
            href = html.unescape(following.group(1)) if following else None
            if href is not None:
                assert parse_qs(urlsplit(href).query) == {**query, "page": [str(pages + 1)]}
        assert len(seen) == len(set(seen)) and set(seen) == expected
        assert pages == len(expected)
    wanted = FindingFilter.from_args({"practitioner": " 1033 ", "unresolved": "1", "page": "3"})
    assert wanted.link_args(page=4) == {"practitioner": "1033", "unresolved": 1, "page": 4}
    assert wanted.hidden_args() == {"practitioner": "1033", "unresolved": 1}


@pytest.mark.parametrize("language", ["zh", "en"])
def test_an_unknown_code_is_a_404_page(
    two_institutions: tuple[FlaskClient, Services], language: str
) -> None:
    client, _services = two_institutions
    assert _sign_in(client, "wangjing", "jing-password-1")[0] == 302
    if language == "en":
        _english(client)
    for path, words in (
        (
            "/portal/institutions/H999",
            ("业务记录和执业注册信息中均无该机构", "nor the practitioner registry know"),
        ),
        (
            "/portal/practitioners/X0000",
            ("注册信息和业务记录中均无此执业人员", "No such practitioner"),
        ),
    ):
        answer = client.get(path)
        assert answer.status_code == 404
        assert words[0 if language == "zh" else 1] in answer.get_data(as_text=True)


def test_the_pages_read_by_index_only(
    two_institutions: tuple[FlaskClient, Services],
) -> None:
    """No page here scans the records or the findings: at a million records a scan is a
    minute; these pages are counted per institution or practitioner."""
    client, services = two_institutions
    engine: Engine = services.engine
    code = _codes(services)[0]
    with engine.connect() as connection:
        licence = connection.execute(
            select(_r.practitioner_license_no).where(_r.record_type == "consultation").limit(1)
        ).scalar_one()
    statements: list[tuple[str, object]] = []

    def seen(
        _conn: object, _cursor: object, statement: str, parameters: object, *_: object
    ) -> None:
        statements.append((statement, parameters))

    assert _sign_in(client, "wangjing", "jing-password-1")[0] == 302
    event.listen(engine, "before_cursor_execute", seen)
    try:
        for path in (
            f"/portal/institutions/{code}",
            f"/portal/practitioners/{licence}",
        ):
            assert client.get(path).status_code == 200
        profile_statements = list(statements)
        statements.clear()
        assert client.get(f"/portal/findings?practitioner={licence}").status_code == 200
        filter_statements = [s for s in statements if "practitioner_license_no" in s[0]]
    finally:
        event.remove(engine, "before_cursor_execute", seen)
    checked = [
        s
        for s in profile_statements + filter_statements
        if s[0].lstrip().startswith("SELECT") and re.search(r"\b(records|findings)\b", s[0])
    ]
    assert len(checked) >= 8
    sqlite = engine.dialect.name == "sqlite"
    with engine.connect() as connection:
        if not sqlite:
            # A table this small is cheaper to scan; forbid it, so a plan that still scans
            # has no index to use.
            connection.exec_driver_sql("SET enable_seqscan = off")
        for statement, parameters in checked:
            explain = "EXPLAIN QUERY PLAN " if sqlite else "EXPLAIN "
            plan = connection.exec_driver_sql(explain + statement, parameters)  # type: ignore[arg-type]
            steps = [str(row[-1]) for row in plan]
            full = r"SCAN (records|findings)\b" if sqlite else r".*Seq Scan on (records|findings)\b"
            assert not [s for s in steps if re.match(full, s)], (statement, steps)
