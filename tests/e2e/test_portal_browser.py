"""A regulator's day in headless Chromium (Debian's, driven by Playwright): sign in through a
real slapd, search a patient, open a record and see its proof verified, triage a finding,
find the visit on the access trail, sign out. A screenshot of each page is kept."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest

from tests.slapd import Directory
from tests.supervisor.agency_directory import directory

from .browser_province import CHROMIUM, inspected_province
from .conftest import LiveServer, running_portal

__all__ = ["directory"]  # the fixture, shared

pytestmark = pytest.mark.slow

#: Where screenshots go (CI can keep them): $CARELEDGER_SCREENSHOTS, else the test's folder.
SCREENSHOTS = os.environ.get("CARELEDGER_SCREENSHOTS")


@pytest.fixture
def browser_portal(tmp_path: Path, directory: Directory) -> Iterator[tuple[LiveServer, str]]:
    folder, env = inspected_province(tmp_path, directory)
    patient = orjson.loads((folder / "patients.jsonl").read_text().splitlines()[0])
    with running_portal(tmp_path, "", env, initialised=True) as server:
        yield server, _a_patient_with_records(folder, patient["id_number"])


def _a_patient_with_records(folder: Path, fallback: str) -> str:
    for line in (folder / "records" / "H330100001.jsonl").read_text().splitlines():
        record = orjson.loads(line)["record"]
        if record["type"] == "consultation":
            return str(record["patient"]["id_number"])
    return fallback


def test_a_regulators_day_in_the_browser(
    browser_portal: tuple[LiveServer, str], tmp_path: Path
) -> None:
    from playwright.sync_api import expect, sync_playwright

    server, patient_id = browser_portal
    shots = Path(SCREENSHOTS) if SCREENSHOTS else tmp_path / "screenshots"
    shots.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM,
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-background-networking",
                "--disable-component-update",
            ],
        )
        page = browser.new_page(viewport={"width": 1200, "height": 900})
        try:
            page.goto(f"{server.url}/portal/")
            expect(page.locator("h1")).to_have_text("登录")
            page.screenshot(path=str(shots / "1-sign-in.png"), full_page=True)
            page.fill("#username", "wangjing")
            page.fill("#password", "jing-password-1")
            page.click("main button[type=submit]")
            expect(page.locator("h1")).to_have_text("概览")
            expect(page.locator("#log-status")).to_contain_text("签名与树根均与已存储的账本一致")
            page.screenshot(path=str(shots / "2-dashboard.png"), full_page=True)

            page.click("text=记录检索")
            page.fill("#patient_id", patient_id)
            page.click("main button:has-text('检索')")
            expect(page.locator("h1")).to_have_text("访问目的")
            page.fill("#purpose", "投诉核查 2026-119")
            page.click("main button[type=submit]")
            expect(page.locator("#search-total")).to_contain_text("条记录")
            page.screenshot(path=str(shots / "3-search.png"), full_page=True)

            page.locator("main table tbody a").first.click()  # the record (headers sort)
            expect(page.locator("#proof-status")).to_contain_text("已通过已签名检查点验证")
            expect(page.locator("#access-trail")).to_contain_text("wangjing")
            expect(page.locator("#access-trail")).to_contain_text("投诉核查 2026-119")
            page.screenshot(path=str(shots / "4-record.png"), full_page=True)

            # Findings land as cases: the gravest, oldest first; one step on the case.
            page.click("nav >> text=案件与监管发现")
            page.locator("#cases-table tbody a[href*='/portal/cases/']").first.click()
            expect(page.locator("#case-state")).to_have_text("待处理")
            page.select_option("#case-action", "acknowledge")
            page.click("#case-action-form button[type=submit]")
            expect(page.locator("#case-state")).to_have_text("已确认")
            expect(page.locator("#case-timeline")).to_contain_text("wangjing")
            page.screenshot(path=str(shots / "5-case.png"), full_page=True)
            # One of its findings, triaged on its own page.
            page.locator("#case-findings tbody tr td:first-child a").first.click()
            expect(page.locator("#finding-state")).to_have_text("待处理")
            page.select_option("#action", "acknowledge")
            page.click("text=记录此操作")
            expect(page.locator("#finding-state")).to_have_text("已确认")
            expect(page.locator("#finding-history")).to_contain_text("wangjing")
            page.screenshot(path=str(shots / "6-finding.png"), full_page=True)

            page.click("nav >> text=报告")
            page.select_option("#generate-kind", "assessment")
            page.fill("#generate-period", "2026-10")
            page.click("text=生成并发布")
            expect(page.locator("#reports-message")).to_contain_text("已发布 assessment-2026-10")
            page.locator("#reports-table button:has-text('核验')").first.click()
            # A job: its page shows the progress and refreshes itself until the verdict.
            expect(page.locator("#verification-verdict")).to_contain_text("已核验", timeout=120_000)
            page.screenshot(path=str(shots / "7-report-verified.png"), full_page=True)

            page.click("text=退出登录")
            expect(page.locator("h1")).to_have_text("登录")
            page.goto(f"{server.url}/portal/")
            expect(page.locator("h1")).to_have_text("登录")  # signed out for good
        finally:
            browser.close()
    for name in (
        "1-sign-in",
        "2-dashboard",
        "3-search",
        "4-record",
        "5-case",
        "6-finding",
        "7-report-verified",
    ):
        assert (shots / f"{name}.png").stat().st_size > 10_000
    if SCREENSHOTS is None:
        shutil.copytree(shots, tmp_path / "kept", dirs_exist_ok=True)
