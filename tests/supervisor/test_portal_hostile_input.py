"""No value a person can put in a portal address gives a server error: every GET route of
the portal, signed in with every role and a stated purpose, fed hostile path segments and
query parameters by Hypothesis. Errors are pages in the reader's language, never JSON."""

from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import quote, urlencode

import pytest
from flask import Flask
from flask.testing import FlaskClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ledger.store import EntryDraft
from supervisor.config import Settings
from supervisor.custody.data_folder import initialise
from supervisor.demo.directory import DemoDirectory, create_demo_accounts
from supervisor.web.app import create_app

from .conftest import Portal
from .test_portal_sign_in import _csrf

pytestmark = pytest.mark.database

#: Every query parameter name a portal view reads, and a few it does not.
PARAMETERS = ("action", "back", "cron", "dataset", "deadline", "ended", "from", "institution",
              "kind", "language", "page", "patient", "period", "practitioner", "rule",
              "severity", "state", "to", "type", "x")  # fmt: skip

SAMPLES = ["0001-01-01", "9999-12-31", "2026-02-30", "-1", "1e309", "NaN", "%00", "\x00",
           "../..", "' OR 1=1 --", "<script>", "𝕏" * 10, "a" * 5000, "/portal/",
           "//evil.example", "99999999999999999999999", "2026-13", "2026-Q5", "zh_Hans_CN",
           "en"]  # fmt: skip
HOSTILE_TEXT = st.one_of(st.text(max_size=40), st.sampled_from(SAMPLES))
HOSTILE_INT = st.one_of(
    st.integers(min_value=0, max_value=10**30), st.sampled_from([0, 2**63 - 1, 2**63, 10**23])
)


def _routes(app: Flask) -> list[tuple[str, list[tuple[str, str]]]]:
    """(rule, [(argument, converter)]) of every GET route of the portal."""
    found = []
    for rule in app.url_map.iter_rules():
        if not rule.endpoint.startswith("portal.") or "GET" not in (rule.methods or ()):
            continue
        if rule.endpoint in ("portal.static", "portal.switch_language"):
            continue
        arguments = re.findall(r"<(?:(\w+):)?(\w+)>", rule.rule)
        found.append((rule.rule, [(name, kind or "string") for kind, name in arguments]))
    return sorted(found)


@pytest.fixture
def signed_in(portal: Portal, tmp_path: Path) -> FlaskClient:
    assert portal.post(portal.envelope(portal.records(40))).status_code == 201
    accounts = create_demo_accounts(portal.settings.data_dir)
    app = create_app(
        portal.settings, clock=portal.clock, sign_in=DemoDirectory(portal.settings.data_dir)
    )
    client = app.test_client()
    token = _csrf(client.get("/portal/login").data)
    answer = client.post(
        "/portal/login",
        data={
            "username": "demo-supervisor",
            "password": accounts["demo-supervisor"],
            "csrf_token": token,
        },
    )
    assert answer.status_code == 302
    purpose = client.get("/portal/purpose")
    client.post(
        "/portal/purpose", data={"csrf_token": _csrf(purpose.data), "purpose": "输入健壮性测试"}
    )
    return client


def test_no_portal_route_gives_a_server_error_for_any_value(signed_in: FlaskClient) -> None:
    routes = _routes(signed_in.application)
    assert len(routes) >= 15  # the walk covers the portal, not a corner of it

    @settings(
        max_examples=250,
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )
    @given(
        route=st.sampled_from(routes),
        segments=st.lists(st.one_of(HOSTILE_TEXT.map(str), HOSTILE_INT), min_size=3, max_size=3),
        query=st.dictionaries(st.sampled_from(PARAMETERS), HOSTILE_TEXT, max_size=4),
    )
    def check(
        route: tuple[str, list[tuple[str, str]]], segments: list[object], query: dict[str, str]
    ) -> None:
        path, arguments = route
        for (name, kind), drawn in zip(arguments, segments, strict=False):
            value = drawn if kind != "int" or isinstance(drawn, int) else len(str(drawn))
            text = quote(str(value), safe="") or "x"
            path = re.sub(rf"<(?:\w+:)?{name}>", lambda _m, t=text: t, path, count=1)
        url = path + ("?" + urlencode(query) if query else "")
        answer = signed_in.get(url)
        assert answer.status_code < 500, (url, answer.status_code)
        if answer.status_code >= 400:
            assert answer.mimetype == "text/html", (url, answer.mimetype)

    check()


def test_errors_are_pages_in_the_readers_language(signed_in: FlaskClient) -> None:
    missing = signed_in.get("/portal/no/such/page")
    assert missing.status_code == 404 and missing.mimetype == "text/html"
    assert "未找到" in missing.get_data(as_text=True)
    beyond = signed_in.get(f"/portal/records/{10**23}")
    assert beyond.status_code == 404 and beyond.mimetype == "text/html"
    early = signed_in.get("/portal/search?from=0001-01-01&type=consultation")
    assert early.status_code == 200  # the date is named as not understood, nothing breaks
    signed_in.get("/portal/language?to=en&back=/portal/")
    english = signed_in.get("/portal/no/such/page").get_data(as_text=True)
    assert "There is no such page or record" in english
    method = signed_in.put("/portal/")
    assert method.status_code == 405 and method.mimetype == "text/html"


def test_report_files_download_from_a_relative_data_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`careledger serve --demo` runs on ./var-demo: every report link answered 500 when
    the relative folder was resolved against the package instead of the working folder."""
    monkeypatch.chdir(tmp_path)
    settings = Settings(data_dir=Path("var-demo"), portal_secure_cookies=False)
    initialise(settings)
    accounts = create_demo_accounts(settings.data_dir)
    app = create_app(settings, sign_in=DemoDirectory(settings.data_dir))
    services = app.extensions["careledger"]
    services.store.append([EntryDraft("demo.entry", {"n": 1})], now=services.clock())
    report = services.reports.generate("digest", "2026-11-30", requested_by="test").report
    client = app.test_client()
    token = _csrf(client.get("/portal/login").data)
    client.post(
        "/portal/login",
        data={
            "username": "demo-auditor",
            "password": accounts["demo-auditor"],
            "csrf_token": token,
        },
    )
    for kind, mimetype in (("pdf-zh", "application/pdf"), ("pdf-en", "application/pdf"),
                           ("csv", "text/csv"), ("json", "application/json")):  # fmt: skip
        answer = client.get(f"/portal/reports/{report.report_id}/{kind}")
        assert answer.status_code == 200 and answer.mimetype == mimetype, kind
        assert len(answer.data) > 100


def test_the_demo_sign_in_page_shows_the_demo_accounts(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path / "var-demo", portal_secure_cookies=False)
    initialise(settings)
    accounts = create_demo_accounts(settings.data_dir, show_on_sign_in=True)
    app = create_app(settings, sign_in=DemoDirectory(settings.data_dir))
    page = app.test_client().get("/portal/login").get_data(as_text=True)
    assert 'id="demo-accounts"' in page
    for name, password in accounts.items():
        assert name in page and password in page
    # The list of passwords is not an account.
    client = app.test_client()
    token = _csrf(client.get("/portal/login").data)
    refused = client.post(
        "/portal/login", data={"username": "shown", "password": "x", "csrf_token": token}
    )
    assert refused.status_code == 401


def test_control_characters_in_a_form_are_refused_with_a_page(signed_in: FlaskClient) -> None:
    """A NUL in a form field reached PostgreSQL (which refuses NUL in text): a 500."""
    token = _csrf(signed_in.get("/portal/purpose").data)
    answer = signed_in.post("/portal/purpose", data={"csrf_token": token, "purpose": "ab\x00cd"})
    assert answer.status_code == 400 and answer.mimetype == "text/html"
    fine = signed_in.post(
        "/portal/purpose", data={"csrf_token": token, "purpose": "核查\t第二行\r\n第三行"}
    )
    assert fine.status_code == 302  # tabs and line breaks are text


def test_a_non_canonical_leaf_hash_is_refused(signed_in: FlaskClient) -> None:
    stray = "A" * 42 + "B="  # decodes to 32 bytes, but its padding bits are not zero
    answer = signed_in.get(f"/log/proof/inclusion?size=1&leaf_hash={stray}")
    assert answer.status_code == 400
