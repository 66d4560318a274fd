"""Regulators sign in to the portal through the agency directory (a real slapd)."""

from __future__ import annotations

import re
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from flask.testing import FlaskClient
from sqlalchemy import Engine, select

from supervisor.config import Settings
from supervisor.custody.data_folder import initialise
from supervisor.database import tables
from supervisor.web.app import create_app
from supervisor.web.current import services
from supervisor.web.directory_auth import Identity, LoginRefusedError
from supervisor.web.portal.sessions import LoginThrottle, SignInAttempt
from tests.slapd import Directory

from .agency_directory import BASE, GROUPS, PEOPLE, SERVICE_PASSWORD, directory
from .conftest import Clock

__all__ = ["directory"]  # the fixture, shared

pytestmark = pytest.mark.database


def _settings(tmp_path: Path, database_url: str, served: Directory) -> Settings:
    password_file = tmp_path / "portal-reader.password"
    password_file.write_text(SERVICE_PASSWORD + "\n")
    return Settings(
        data_dir=tmp_path / "var",
        database_url=database_url,
        portal_ldap_url=served.url,
        portal_ldap_users_base=PEOPLE,
        portal_ldap_service_dn=f"cn=portal-reader,{BASE}",
        portal_ldap_service_password_file=str(password_file),
        portal_role_groups=(
            f"regulator=cn=careledger-regulators,{GROUPS}",
            f"supervisor=cn=careledger-supervisors,{GROUPS}",
            f"auditor=cn=careledger-auditors,{GROUPS}",
        ),
        portal_secure_cookies=False,  # the test client speaks plain HTTP
    )


@pytest.fixture
def portal(tmp_path: Path, database_url: str, directory: Directory) -> tuple[FlaskClient, Clock]:
    settings = _settings(tmp_path, database_url, directory)
    initialise(settings)
    clock = Clock()
    return create_app(settings, clock=clock).test_client(), clock


def _csrf(page: bytes) -> str:
    found = re.search(rb'name="csrf_token" value="([^"]+)"', page)
    assert found, page
    return found.group(1).decode()


def _sign_in(client: FlaskClient, username: str, password: str) -> tuple[int, str]:
    token = _csrf(client.get("/portal/login").data)
    answer = client.post(
        "/portal/login", data={"username": username, "password": password, "csrf_token": token}
    )
    return answer.status_code, answer.get_data(as_text=True)


def test_pages_need_a_session_and_sign_in_gives_one(portal: tuple[FlaskClient, Clock]) -> None:
    client, _ = portal
    assert client.get("/portal/").headers["Location"].endswith("/portal/login")
    page = client.get("/portal/login")
    assert page.status_code == 200 and "机构目录" not in page.get_data(as_text=True)
    assert page.headers["X-Frame-Options"] == "DENY"
    assert "frame-ancestors 'none'" in page.headers["Content-Security-Policy"]
    before = client.get_cookie("careledger_session")
    status, _ = _sign_in(client, "liqiang", "qiang-password-2")
    assert status == 302
    after = client.get_cookie("careledger_session")
    assert after is not None and before is not None and after.value != before.value
    assert after.http_only and after.same_site == "Lax"
    home = client.get("/portal/").get_data(as_text=True)
    assert "李强" in home and "监管员" in home and "监管负责人" in home


@pytest.mark.parametrize(
    ("username", "password"),
    [("wangjing", "wrong"), ("chenlei", "lei-password-4"), ("nobody", "nobody-password-5")],
)
def test_refusals_say_the_same_thing(
    portal: tuple[FlaskClient, Clock], username: str, password: str
) -> None:
    client, _ = portal
    status, page = _sign_in(client, username, password)
    assert status == 401
    assert "用户名或密码不正确，或该账号无权登录" in page
    assert client.get("/portal/").status_code == 302


def test_a_form_without_its_token_is_refused(portal: tuple[FlaskClient, Clock]) -> None:
    client, _ = portal
    client.get("/portal/login")
    answer = client.post("/portal/login", data={"username": "wangjing", "password": "x"})
    assert answer.status_code == 400 and "表单已过期" in answer.get_data(as_text=True)
    assert answer.headers["Content-Type"].startswith("text/html")


def test_sign_in_pauses_after_five_failures_from_one_address(
    portal: tuple[FlaskClient, Clock],
) -> None:
    client, clock = portal
    # Guesses at names that do not exist: the directory's own lockout (ppolicy) never sees
    # them, so what pauses the right password below is the portal's throttle alone.
    for guess in range(5):
        assert _sign_in(client, f"ghost{guess}", "guess")[0] == 401
    status, page = _sign_in(client, "wangjing", "jing-password-1")
    assert status == 429 and "登录失败次数过多" in page
    clock.now += timedelta(minutes=16)
    assert _sign_in(client, "wangjing", "jing-password-1")[0] == 302


def test_an_idle_session_ends_and_stays_ended(portal: tuple[FlaskClient, Clock]) -> None:
    client, clock = portal
    assert _sign_in(client, "wangjing", "jing-password-1")[0] == 302
    clock.now += timedelta(minutes=29)
    assert client.get("/portal/").status_code == 200
    clock.now += timedelta(minutes=31)
    answer = client.get("/portal/")
    assert answer.status_code == 302 and "ended=1" in answer.headers["Location"]
    clock.now -= timedelta(minutes=40)  # even were the clock to go back: it is over
    assert client.get("/portal/").status_code == 302


def test_a_busy_session_still_ends_twelve_hours_after_sign_in(
    portal: tuple[FlaskClient, Clock],
) -> None:
    client, clock = portal
    assert _sign_in(client, "wangjing", "jing-password-1")[0] == 302
    for _ in range(71):  # a request every ten minutes: never idle
        clock.now += timedelta(minutes=10)
        assert client.get("/portal/").status_code == 200
    clock.now += timedelta(minutes=11)  # 12 h 1 min after sign-in
    answer = client.get("/portal/")
    assert answer.status_code == 302 and "ended=1" in answer.headers["Location"]


def test_signing_out_makes_a_copied_cookie_worthless(portal: tuple[FlaskClient, Clock]) -> None:
    client, _ = portal
    assert _sign_in(client, "zhaomin", "min-password-3")[0] == 302
    stolen = client.get_cookie("careledger_session")
    assert stolen is not None
    home = client.get("/portal/").data
    assert client.post("/portal/logout", data={"csrf_token": _csrf(home)}).status_code == 302
    assert client.get("/portal/").status_code == 302
    client.set_cookie("careledger_session", stolen.value)
    assert client.get("/portal/").status_code == 302


def test_session_cookies_are_secure_by_default(
    tmp_path: Path, database_url: str, directory: Directory
) -> None:
    settings = replace(_settings(tmp_path, database_url, directory), portal_secure_cookies=True)
    initialise(settings)
    client = create_app(settings).test_client()
    answer = client.get("/portal/login", base_url="https://localhost")
    assert "Secure" in answer.headers["Set-Cookie"]
    assert answer.headers["Strict-Transport-Security"].startswith("max-age=")


def test_chinese_by_default_english_on_request(portal: tuple[FlaskClient, Clock]) -> None:
    client, _ = portal
    chinese = client.get("/portal/login").get_data(as_text=True)
    assert '<html lang="zh-CN">' in chinese and "<h1>登录</h1>" in chinese
    switched = client.get("/portal/language?to=en&back=/portal/login")
    assert switched.headers["Location"].endswith("/portal/login")
    english = client.get("/portal/login").get_data(as_text=True)
    assert '<html lang="en">' in english and "<h1>Sign in</h1>" in english
    status, page = _sign_in(client, "wangjing", "wrong")
    assert status == 401 and "The user name or password is not correct" in page
    # The switch only ever sends people back to a portal page.
    for elsewhere in ("https://evil.example/", "//evil.example/portal/", "/log/checkpoint"):
        answer = client.get("/portal/language", query_string={"to": "en", "back": elsewhere})
        assert answer.headers["Location"].endswith("/portal/")


def test_the_compiled_chinese_catalogue_matches_its_source() -> None:
    """Every message of the source is compiled, with the same translation.

    Compared message by message, not byte by byte: the compiled header names the
    Babel version that compiled it, which says nothing about the translations.
    """
    from babel.messages.mofile import read_mo
    from babel.messages.pofile import read_po

    folder = Path(__file__).resolve().parents[2] / "supervisor/web/portal/translations"
    messages = folder / "zh_Hans_CN" / "LC_MESSAGES"
    with (messages / "messages.po").open("rb") as source:
        catalog = read_po(source)
    assert all(m.string for m in catalog if m.id), "every message has a Chinese translation"
    with (messages / "messages.mo").open("rb") as compiled_file:
        compiled = read_mo(compiled_file)

    def translations(messages: Any) -> dict[Any, Any]:
        return {m.id: m.string for m in messages if m.id and not m.fuzzy}

    assert translations(compiled) == translations(catalog), (
        "run: pybabel compile -d supervisor/web/portal/translations"
    )


def test_the_findings_queue_filters_and_pages(portal: tuple[FlaskClient, Clock]) -> None:
    from inspectors.findings import Severity

    client, clock = portal
    app_services = client.application.extensions["careledger"]
    with app_services.engine.begin() as connection:
        from supervisor.database import tables

        connection.execute(
            tables.findings.insert(),
            [
                {
                    "finding_id": f"{n:032x}",
                    "entry_index": 1000 + n,
                    "rule_id": "RX-DAYS" if n % 3 else "RX-BANNED-DRUG",
                    "severity": Severity.MEDIUM.value if n % 3 else Severity.HIGH.value,
                    "institution_code": f"H33010000{n % 2 + 1}",
                    "record_index": n,
                    "record_id": f"V{n:05d}-RX",
                    "related_indices": "",
                    "found_at": clock.now,
                }
                for n in range(120)
            ],
        )
    assert client.get("/portal/findings").status_code == 302  # signed in only
    assert _sign_in(client, "zhaomin", "min-password-3")[0] == 302  # an auditor may look
    page = client.get("/portal/findings").get_data(as_text=True)
    assert "共 120 条监管发现" in page and "第 1 页，共 3 页" in page
    high = client.get("/portal/findings?severity=high&institution=H330100001").get_data(
        as_text=True
    )
    # n % 3 == 0 and n even: 0, 6, ..., 114 -> 20 findings
    assert "共 20 条监管发现" in high and "RX-DAYS</td>" not in high
    beyond = client.get("/portal/findings?page=99&rule=RX-DAYS").get_data(as_text=True)
    assert "第 2 页，共 2 页" in beyond  # 80 findings: the last page, not an empty one
    junk = client.get("/portal/findings?page=abc&rule=%3Cscript%3E").get_data(as_text=True)
    assert "<script>" not in junk and "共 0 条监管发现" in junk


# -- Behind a proxy: the throttle counts real addresses and real people ----------------


@pytest.fixture
def proxied(tmp_path: Path, database_url: str, directory: Directory) -> FlaskClient:
    """The portal as deployed behind one nginx: trusted_proxy_hops = 1."""
    settings = replace(_settings(tmp_path, database_url, directory), trusted_proxy_hops=1)
    initialise(settings)
    return create_app(settings, clock=Clock()).test_client()


def _from(client: FlaskClient, address: str, username: str, password: str) -> int:
    """A sign-in whose real client address the proxy (127.0.0.1) forwards."""
    headers = {"X-Forwarded-For": address}
    page = client.get("/portal/login", headers=headers).data
    answer = client.post(
        "/portal/login",
        data={"username": username, "password": password, "csrf_token": _csrf(page)},
        headers=headers,
    )
    return answer.status_code


def test_five_failures_from_one_address_never_stop_a_sign_in_from_another(
    proxied: FlaskClient,
) -> None:
    # Every request reaches the app from the proxy's 127.0.0.1, as behind nginx.
    for guess in range(5):
        assert _from(proxied, "127.0.0.2", f"ghost{guess}", "guess") == 401
    assert _from(proxied, "127.0.0.2", "liqiang", "qiang-password-2") == 429
    assert _from(proxied, "127.0.0.3", "liqiang", "qiang-password-2") == 302


def test_without_trusted_hops_a_forwarded_header_is_the_clients_own_claim(
    portal: tuple[FlaskClient, Clock],
) -> None:
    client, _ = portal
    # trusted_proxy_hops = 0: a guesser cannot escape the throttle by inventing addresses.
    for guess in range(5):
        assert _from(client, f"127.0.0.{10 + guess}", f"ghost{guess}", "guess") == 401
    assert _from(client, "127.0.0.99", "liqiang", "qiang-password-2") == 429


def test_the_session_holds_the_directorys_name_not_what_was_typed(
    portal: tuple[FlaskClient, Clock],
) -> None:
    client, _ = portal
    assert _sign_in(client, "LiQiang", "qiang-password-2")[0] == 302
    with client.application.app_context():
        engine = services().engine
    with engine.connect() as connection:
        names = connection.execute(select(tables.portal_sessions.c.username)).scalars().all()
    assert names == ["liqiang"]


def test_case_variants_of_a_name_are_one_person_in_the_throttle(engine: Engine) -> None:
    clock = Clock()
    throttle = LoginThrottle(engine, clock, max_failures=3, identity_factor=1)
    spellings = (("127.0.0.2", "ALICE"), ("127.0.0.3", "ａｌｉｃｅ"), ("127.0.0.4", "Alice "))
    for address, typed in spellings:  # fullwidth letters: LDAP finds alice with them too
        attempt = throttle.begin(typed, address)
        assert isinstance(attempt, SignInAttempt)
        throttle.refused(attempt, None)
    assert isinstance(throttle.begin("aLiCe", "127.0.0.5"), timedelta)
    # The directory's own name counts too: a refusal it names is counted under it.
    attempt = throttle.begin("li.qiang", "127.0.0.6")
    assert isinstance(attempt, SignInAttempt)
    throttle.refused(attempt, "LIQIANG")
    for address in ("127.0.0.7", "127.0.0.8"):
        again = throttle.begin("liqiang", address)
        assert isinstance(again, SignInAttempt)
        throttle.refused(again, "liqiang")
    assert isinstance(throttle.begin("LiQiang", "127.0.0.9"), timedelta)


class _SlowRefusal:
    """A directory that takes a while to say no: parallel guesses overlap in it."""

    is_demo = False

    def __init__(self) -> None:
        self.asked = 0
        self._lock = threading.Lock()

    def authenticate(self, username: str, password: str) -> Identity:
        with self._lock:
            self.asked += 1
        time.sleep(0.3)
        raise LoginRefusedError("slow no", username)


def test_parallel_guesses_cannot_all_pass_the_check_before_one_is_recorded(
    tmp_path: Path, database_url: str
) -> None:
    settings = Settings(
        data_dir=tmp_path / "var", database_url=database_url, portal_secure_cookies=False
    )
    initialise(settings)
    directory = _SlowRefusal()
    app = create_app(settings, clock=Clock(), sign_in=directory)

    def guess(n: int) -> int:
        client = app.test_client()
        status, _ = _sign_in(client, f"ghost{n}", "guess")
        return status

    with ThreadPoolExecutor(max_workers=10) as pool:
        statuses = list(pool.map(guess, range(10)))
    assert statuses.count(401) == 5 and statuses.count(429) == 5
    assert directory.asked == 5


def test_a_signed_in_action_needs_this_sessions_own_token(
    portal: tuple[FlaskClient, Clock], tmp_path: Path
) -> None:
    client, _ = portal
    assert _sign_in(client, "wangjing", "jing-password-1")[0] == 302
    other = client.application.test_client()
    assert _sign_in(other, "liqiang", "qiang-password-2")[0] == 302
    theirs = _csrf(other.get("/portal/").data)
    mine = _csrf(client.get("/portal/").data)
    assert theirs != mine
    for wrong in (theirs, "x", mine[:-1], mine + "x", " " + mine):
        refused = client.post("/portal/logout", data={"csrf_token": wrong})
        assert refused.status_code == 400, wrong
        assert client.get("/portal/").status_code == 200  # still signed in
    assert client.post("/portal/logout", data={"csrf_token": mine}).status_code == 302
    assert client.get("/portal/").status_code == 302
