"""A prescription filled twice, seen in the browser: Debian's Chromium (driven by Playwright)
on `careledger serve`, signing in through a real slapd. The regulator finds the hospital's
prescription, states a purpose, follows its journey from the record page and sees the
double fill (the rule, both pharmacies on their two platforms, four boxes given against two
prescribed) in Chinese and in English, goes back to it from a dispensing's own page, and
opens a pharmacy's page. axe-core finds no serious or critical violation on any of them."""

from __future__ import annotations

import os
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from supervisor.config import Settings
from supervisor.custody.data_folder import initialise
from supervisor.runtime.services import Services
from supervisor.web.app import create_app
from tests.slapd import Directory
from tests.supervisor.agency_directory import BASE, GROUPS, PEOPLE, SERVICE_PASSWORD, directory
from tests.supervisor.conftest import Clock
from tests.supervisor.test_portal_pharmacy import (
    CHAIN_HQ,
    DRUG_NAME,
    HOSPITAL,
    RETAIL,
    RX_ID,
    STORE,
    PharmacyWorld,
    send_pharmacy_world,
)
from tests.system_tools import unavailable

from .browser_province import CHROMIUM
from .conftest import LiveServer, running_portal
from .test_portal_walk import (
    _AXE_JS,
    _TEXTS_JS,
    AXE_SCRIPT,
    CHROMIUM_ARGS,
    axe_script,
    sign_in,
    text_problems,
)

if TYPE_CHECKING:
    from playwright.sync_api import Page

__all__ = ["axe_script", "directory"]  # the fixtures, shared

pytestmark = pytest.mark.slow

SCREENSHOTS = os.environ.get("CARELEDGER_SCREENSHOTS")


def _portal_env(tmp_path: Path, directory: Directory) -> dict[str, str]:
    password_file = tmp_path / "portal-reader.password"
    password_file.write_text(SERVICE_PASSWORD + "\n")
    return {
        "CARELEDGER_PORTAL_LDAP_URL": directory.url,
        "CARELEDGER_PORTAL_LDAP_USERS_BASE": PEOPLE,
        "CARELEDGER_PORTAL_LDAP_SERVICE_DN": f"cn=portal-reader,{BASE}",
        "CARELEDGER_PORTAL_LDAP_SERVICE_PASSWORD_FILE": str(password_file),
        "CARELEDGER_PORTAL_ROLE_GROUPS": ";".join(
            (
                f"regulator=cn=careledger-regulators,{GROUPS}",
                f"supervisor=cn=careledger-supervisors,{GROUPS}",
                f"auditor=cn=careledger-auditors,{GROUPS}",
            )
        ),
        "CARELEDGER_PORTAL_SECURE_COOKIES": "false",
    }


@pytest.fixture
def pharmacy_server(
    tmp_path: Path, directory: Directory
) -> Iterator[tuple[LiveServer, PharmacyWorld]]:
    """The double-filled prescription sent through the submission API and inspected (five
    days ago, so the server's own clock runs on after it), then served."""
    if not Path(CHROMIUM).exists():
        unavailable("Debian's chromium is required: apt-get install chromium")
    settings = Settings(data_dir=tmp_path / "var")
    initialise(settings)
    clock = Clock(datetime.now(UTC) - timedelta(days=5))
    app = create_app(settings, clock=clock)
    world = send_pharmacy_world(app, clock)
    services: Services = app.extensions["careledger"]
    services.engine.dispose()
    with running_portal(tmp_path, "", _portal_env(tmp_path, directory), initialised=True) as server:
        yield server, world


class _Check:
    """Every problem of every page, listed in one failure at the end."""

    def __init__(self, page: Page, shots: Path) -> None:
        self.page = page
        self.shots = shots
        self.problems: list[str] = []
        self.count = 0

    def page_is_clean(self, label: str, language: str) -> None:
        self.count += 1
        self.page.screenshot(path=str(self.shots / f"{self.count:02d}-{label}.png"), full_page=True)
        expected = "zh-CN" if language == "zh_Hans_CN" else "en"
        if self.page.get_attribute("html", "lang") != expected:
            self.problems.append(f"{label}: not lang={expected}")
        for problem in text_problems(self.page.evaluate(_TEXTS_JS), language):
            self.problems.append(f"{label}: {problem}")
        self.page.add_script_tag(path=str(AXE_SCRIPT))
        for v in self.page.evaluate(_AXE_JS):
            self.problems.append(
                f"{label}: axe {v['impact']} {v['id']} ({v['help']}): " + "; ".join(v["nodes"])
            )


def _click(page: Page, selector: str) -> None:
    with page.expect_navigation(wait_until="load"):
        page.click(selector)


def test_a_double_fill_on_the_journey_page_in_both_languages(
    pharmacy_server: tuple[LiveServer, PharmacyWorld], axe_script: Path, tmp_path: Path
) -> None:
    from playwright.sync_api import expect, sync_playwright

    server, world = pharmacy_server
    shots = Path(SCREENSHOTS) if SCREENSHOTS else tmp_path / "screenshots"
    shots.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        # The portal forbids inline scripts; axe is injected as one.
        context = browser.new_context(viewport={"width": 1280, "height": 900}, bypass_csp=True)
        page = context.new_page()
        check = _Check(page, shots)
        try:
            sign_in(page, server.url, "wangjing", "jing-password-1")
            # The hospital's prescription, found by search, its purpose stated.
            _click(page, "header a[href='/portal/search']")
            page.fill("#institution", HOSPITAL)
            page.select_option("#type", "prescription")
            _click(page, "form[role=search] button[type=submit]")
            _click(page, f"main table a:text-is('{RX_ID}')")
            expect(page.locator("#purpose")).to_be_visible()
            page.fill("#purpose", "投诉核查 2026-88：处方重复调配")
            _click(page, "main button[type=submit]")
            expect(page.locator("#record-fields")).to_be_visible()

            # Its journey, in Chinese: the double fill named, both pharmacies, the totals.
            _click(page, "#journey-link a")
            banner = page.locator("#double-fill-1")
            expect(banner).to_contain_text("DISP-DOUBLE-FILL")
            expect(banner).to_contain_text("重复调配")
            expect(banner).to_contain_text(f"康宁大药房 ({RETAIL})")
            expect(banner).to_contain_text(f"百济连锁药房二店 ({STORE})")
            expect(banner).to_contain_text(world.platforms[RETAIL])
            expect(banner).to_contain_text(world.platforms[STORE])
            totals = page.locator("#journey-totals tbody tr")
            expect(totals).to_have_count(1)
            expect(totals.first).to_contain_text(DRUG_NAME)
            expect(totals.first.locator("td").nth(1)).to_have_text("2盒")
            expect(totals.first.locator("td").nth(2)).to_contain_text("4盒")
            expect(totals.first.locator("td").nth(2)).to_contain_text("超出处方数量")
            rows = page.locator("#journey tbody tr")
            expect(rows.filter(has_text="DISP-DOUBLE-FILL")).to_have_count(1)
            expect(rows.filter(has_text="已证明")).to_have_count(5)  # each record, once
            expect(page.locator("#journey")).to_contain_text("北京时间")
            check.page_is_clean("journey-zh", "zh_Hans_CN")

            # The same page in English.
            _click(page, "header a[lang=en]")
            expect(page.locator("h1")).to_contain_text(f"Prescription journey {RX_ID}")
            expect(banner).to_contain_text("Filled more than once")
            expect(banner).to_contain_text("Dispensed by 2 pharmacies together")
            expect(totals.first.locator("td").nth(2)).to_contain_text("more than prescribed")
            expect(rows.filter(has_text="✓ proved")).to_have_count(5)
            expect(page.locator("#journey")).to_contain_text("CST")
            check.page_is_clean("journey-en", "en")

            # Back to it from a dispensing's own page (the retail pharmacy's fill).
            _click(page, f"#journey a:text-is('dispensing {RETAIL}-D0001')")
            expect(page.locator("#ledger-index")).to_have_text(
                str(world.indices[f"{RETAIL}-D0001"])
            )
            _click(page, "#journey-link a")
            expect(page.locator("#double-fill-1")).to_be_visible()

            # The chain store's page: its filing, its headquarters, its findings.
            _click(page, f"#double-fill-1 a[href='/portal/pharmacies/{STORE}']")
            expect(page.locator("[data-fact=parent]")).to_contain_text(CHAIN_HQ)
            expect(page.locator("#profile-rules")).to_contain_text("DISP-DOUBLE-FILL")
            check.page_is_clean("pharmacy-en", "en")
            _click(page, "header a[lang=zh-CN]")
            expect(page.locator("[data-fact=online_sales_filed]")).to_have_text("已备案")
            check.page_is_clean("pharmacy-zh", "zh_Hans_CN")
        finally:
            context.close()
            browser.close()
    assert not check.problems, "\n".join(check.problems)
