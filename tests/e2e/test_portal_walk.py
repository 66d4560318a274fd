"""Every portal page a person can reach, in Chinese and in English, for each role: walked in
Debian's Chromium (driven by Playwright) from the overview, following the portal's own
links breadth-first, plus the pages behind the forms used daily (a search with results,
the purpose of access, a report's verification, the search export).

Each page is checked for what a regulator must never see: a server error, an enumeration
value shown as its code (``follow_up``, ``physician``), raw JSON outside the toggle that
holds the sealed record, a time without its zone, English chrome on a Chinese page, a
download that is not the file it says, and accessibility violations axe-core rates
serious or critical. Every problem of every page is listed in one failure.
"""

from __future__ import annotations

import base64
import csv
import io
import os
import re
import shutil
import subprocess
from collections import Counter, deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, urlsplit

import orjson
import pytest

from inspectors.findings import Severity
from inspectors.reference import (
    DATASETS,
    DRUG_CATEGORIES,
    PRACTITIONER_ROLES,
    PRACTITIONER_STATUSES,
)
from supervisor.cases.lifecycle import CASE_ACTIONS
from supervisor.cases.responses import sign_response
from supervisor.client.submit import PlatformKeyFile
from supervisor.config import Settings
from supervisor.inspection.case_grouping import CASE_STATES
from supervisor.inspection.triage import ACTIONS, STATES
from supervisor.intake.platforms import platform_id_for
from supervisor.intake.record_schema import RECORD_TYPES, record_definitions
from supervisor.reporting.computation import KINDS
from supervisor.reporting.verification import VERIFICATION_STEPS
from supervisor.runtime.services import build_services
from supervisor.web.directory_auth import ROLES
from tests.slapd import Directory
from tests.supervisor.agency_directory import directory
from tests.system_tools import unavailable

from .browser_province import CHROMIUM, inspected_province
from .conftest import LiveServer, running_portal

if TYPE_CHECKING:
    from playwright.sync_api import APIResponse, BrowserContext, Page

__all__ = ["directory"]  # the fixture, shared

pytestmark = pytest.mark.slow

CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
]
SCREENSHOTS = os.environ.get("CARELEDGER_SCREENSHOTS")
AXE_FOLDER = Path(__file__).parent / "axe"
AXE_SCRIPT = AXE_FOLDER / "node_modules" / "axe-core" / "axe.min.js"
PURPOSE = "例行检查 2026-301"
LANGUAGES = ("zh_Hans_CN", "en")
#: Pages opened per path, whatever their queries (a list's filters and sort orders).
PER_PATH = 6


# -- what is checked -----------------------------------------------------------------------


def _schema_enums(schema: Any) -> set[str]:
    """Every ``enum`` value anywhere in a JSON schema."""
    found: set[str] = set()
    if isinstance(schema, dict):
        for key, value in schema.items():
            if key == "enum" and isinstance(value, list):
                found.update(v for v in value if isinstance(v, str))
            else:
                found |= _schema_enums(value)
    elif isinstance(schema, list):
        for value in schema:
            found |= _schema_enums(value)
    return found


def enum_vocabulary() -> frozenset[str]:
    """The code's own enumerations, so a new value is covered without editing this test:
    the record schema's (types, visit types, channels, outcomes, payers, id types, sexes,
    review results, delivery methods, institution kinds, roles), the reference data's
    (practitioner roles and statuses, drug categories, datasets), findings' severities,
    triage states and actions, case states and steps, portal roles, report kinds and
    verification steps."""
    words = _schema_enums(record_definitions()) | set(RECORD_TYPES)
    words |= {*PRACTITIONER_ROLES, *PRACTITIONER_STATUSES, *DRUG_CATEGORIES, *DATASETS}
    words |= {s.value for s in Severity} | set(STATES) | set(ACTIONS) | set(ROLES)
    words |= set(CASE_STATES) | set(CASE_ACTIONS)
    words |= set(KINDS) | set(VERIFICATION_STEPS)
    return frozenset(words)


ENUMS = enum_vocabulary()
#: An enumeration value as a word of its own (not part of a code such as ``assessment-2026-10``
#: or a dotted rule id).
_ENUM_WORD = re.compile(
    r"(?<![\w./-])(" + "|".join(sorted(ENUMS, key=len, reverse=True)) + r")(?![\w/-]|\.\w)"
)
_DATE_TIME = re.compile(r"\d{4}-\d{2}-\d{2}[ T]\d{2}:\d{2}")
#: What the portal's ``china_time`` filter appends (北京时间 in Chinese, CST in English); an
#: explicit offset or UTC also says which zone.
_ZONE = re.compile(r"北京时间|\bCST\b|\bUTC\b|[+-]\d{2}:\d{2}\b|\d{2}Z\b")
#: Two or more English words in a row: UI chrome left in English.
_ENGLISH_WORDS = re.compile(
    r"(?<![\w.:/@-])[A-Za-z][a-z]+(?:[,;:]?\s+[A-Za-z][a-z]+)+(?![\w.:/@-]*[\w/@])"
)
#: English runs a Chinese page may show, each with why.
ENGLISH_ALLOWED: dict[str, str] = {
    # None so far: codes, ids, hashes and file names are in <code>, and the language switch
    # and "PDF English" link carry lang="en".
}
#: Text nodes and attributes of every page, with where they sit (run in the page).
_TEXTS_JS = """() => {
  const out = [];
  const where = (el) => ({
    raw: !!el.closest('code, pre, kbd, samp, textarea'),
    details: !!el.closest('details'),
    en: !!el.closest('[lang^="en"]'),
  });
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  for (let n = walker.nextNode(); n; n = walker.nextNode()) {
    const el = n.parentElement;
    if (!el || el.closest('script, style, template, noscript')) continue;
    const text = n.nodeValue.replace(/\\s+/g, ' ').trim();
    if (text) out.push({text, ...where(el)});
  }
  for (const el of document.body.querySelectorAll('[placeholder], [aria-label], [alt], [title]')) {
    for (const name of ['placeholder', 'aria-label', 'alt']) {
      const value = el.getAttribute(name);
      if (value) out.push({text: value.trim(), ...where(el)});
    }
    const title = el.getAttribute('title');  // a <code title=hash> is a code
    if (title && el.tagName !== 'CODE') out.push({text: title.trim(), ...where(el)});
  }
  out.push({text: document.title, raw: false, details: false, en: false});
  return out;
}"""
_LINKS_JS = """() => Array.from(document.querySelectorAll('a[href]'),
  (a) => ({href: a.href, text: a.textContent.replace(/\\s+/g, ' ').trim()}))"""
_AXE_JS = """async () => {
  const result = await axe.run(document, {resultTypes: ['violations']});
  return result.violations
    .filter((v) => v.impact === 'serious' || v.impact === 'critical')
    .map((v) => ({id: v.id, impact: v.impact, help: v.help,
                  nodes: v.nodes.slice(0, 5).map((n) => n.target.join(' '))}));
}"""


def text_problems(texts: list[dict[str, Any]], language: str) -> list[str]:
    """What a reader should not see in a page's text, one line each."""
    problems: list[str] = []
    chinese = language == "zh_Hans_CN"
    for node in texts:
        text: str = node["text"]
        if not node["details"]:
            if text.startswith('{"') or '": "' in text:
                problems.append(f"raw JSON outside the toggle: {text[:90]!r}")
            for moment in _DATE_TIME.finditer(text):
                around = text[max(0, moment.start() - 12) : moment.end() + 16]
                if not _ZONE.search(around):
                    problems.append(f"time without its zone: {around!r}")
        if node["details"] or node["raw"]:
            continue
        for token in _ENUM_WORD.findall(text):
            # In English most values read as themselves ("active"); one with an underscore
            # never does. In Chinese, any of them is a value left untranslated.
            if chinese or "_" in token:
                problems.append(f"enumeration value shown as its code {token!r} in {text[:90]!r}")
        if chinese and not node["en"]:
            for words in _ENGLISH_WORDS.findall(text):
                if words not in ENGLISH_ALLOWED:
                    problems.append(f"English on the Chinese page: {words!r} in {text[:90]!r}")
    return sorted(set(problems))


def file_problems(kind: str, response: APIResponse, label: str) -> list[str]:
    """A download is the file its link names: a PDF pypdf reads (Chinese in the Chinese one),
    a CSV served as text/csv that the csv module parses, JSON that parses."""
    from pypdf import PdfReader

    body = response.body()
    content_type = response.headers.get("content-type", "")
    problems: list[str] = []
    if kind == "PDF":
        if not body.startswith(b"%PDF"):
            return [f"{label}: not a PDF ({content_type}, starts {body[:20]!r})"]
        text = "".join(page.extract_text() or "" for page in PdfReader(io.BytesIO(body)).pages)
        if "中文" in label and len(re.findall(r"[\u4e00-\u9fff]", text)) < 20:
            problems.append(f"{label}: the Chinese PDF has no Chinese text pypdf can read")
        if len(text.strip()) < 50:
            problems.append(f"{label}: the PDF has no readable text")
    elif kind == "CSV":
        if not content_type.startswith("text/csv"):
            problems.append(f"{label}: served as {content_type!r}, not text/csv")
        try:
            rows = list(csv.reader(io.StringIO(body.decode("utf-8-sig"))))
        except (UnicodeDecodeError, csv.Error) as e:
            return [*problems, f"{label}: not a CSV: {e}"]
        if len(rows) < 2 or len({len(r) for r in rows}) != 1:
            problems.append(
                f"{label}: not a table: {len(rows)} rows, widths { ({len(r) for r in rows}) }"
            )
    elif kind == "JSON":
        try:
            orjson.loads(body)
        except orjson.JSONDecodeError as e:
            problems.append(f"{label}: not JSON ({content_type}): {e}")
    return problems


def pattern_of(url: str) -> str:
    """A page's kind: its path with identifiers (any segment holding a digit) replaced, and
    the names (not values) of its query."""
    parts = urlsplit(url)
    path = "/".join("<id>" if re.search(r"\d", s) else s for s in parts.path.split("/"))
    names = sorted({name for name, _value in parse_qsl(parts.query) if name != "page"})
    paged = "&page" if "page=" in parts.query and "page=1" not in parts.query else ""
    return path + ("?" + "&".join(names) if names else "") + paged


def _kind_of_download(text: str) -> str | None:
    for kind in ("PDF", "CSV", "JSON"):
        if kind in text.upper().split():
            return kind
    return None


# -- the walk ------------------------------------------------------------------------------


@dataclass
class Walk:
    """One person's walk through the portal in one language."""

    base: str
    user: str
    language: str
    context: BrowserContext
    page: Page
    shots: Path
    per_pattern: int
    #: (kind of page, problem) -> an address where it shows
    problems: dict[tuple[str, str], str] = field(default_factory=dict)
    visited: Counter[str] = field(default_factory=Counter)
    per_path: Counter[str] = field(default_factory=Counter)
    seen: set[str] = field(default_factory=set)
    queue: deque[tuple[str, str]] = field(default_factory=deque)
    downloads: dict[str, str] = field(default_factory=dict)
    shot: int = 0
    #: Kinds of page checked (their patterns), whether reached by a link or a form.
    checked: set[str] = field(default_factory=set)

    def problem(self, where: str, what: str) -> None:
        shown = urlsplit(self.page.url)
        address = shown.path + ("?" + shown.query if shown.query else "")
        self.problems.setdefault((where, what), address)

    def enqueue(self, url: str, text: str = "") -> None:
        parts = urlsplit(url)
        if parts.netloc != urlsplit(self.base).netloc or not parts.path.startswith("/portal/"):
            return
        if parts.path in ("/portal/language", "/portal/logout") or parts.path.startswith(
            "/portal/static/"
        ):
            return
        address = parts.path + ("?" + parts.query if parts.query else "")
        if address in self.seen:
            return
        kind = _kind_of_download(text)
        if kind is not None:
            self.downloads[address] = f"{kind} {text}"
            self.seen.add(address)
            return
        pattern = pattern_of(address)
        path = pattern.split("?")[0]
        if self.visited[pattern] >= self.per_pattern or self.per_path[path] >= PER_PATH:
            return
        self.visited[pattern] += 1
        self.per_path[path] += 1
        self.seen.add(address)
        self.queue.append((address, pattern))

    def go(self, address: str) -> int:
        """Open ``address`` as a click on a portal link does (same-origin navigation: the
        portal asks before a look it records when one comes from elsewhere); the status of
        the first response (before redirects) is returned."""
        url = self.base + address
        with self.page.expect_navigation(wait_until="load", timeout=60_000) as navigation:
            self.page.evaluate("(u) => { window.location.assign(u); }", url)
        response = navigation.value
        first = response.request.redirected_from if response is not None else None
        while first is not None and first.redirected_from is not None:
            first = first.redirected_from
        if first is not None:
            answered = first.response()
            return answered.status if answered is not None else 0
        return response.status if response is not None else 0

    def check_page(self, label: str) -> None:
        """Everything checked on the page now shown; its links are queued."""
        page = self.page
        shown = urlsplit(page.url)
        where = label
        self.checked.add(pattern_of(page.url))
        self.shot += 1
        slug = re.sub(r"[^a-z0-9]+", "-", shown.path.lower()).strip("-")[:60]
        name = f"{self.user}-{self.language}-{self.shot:03d}-{slug}.png"
        page.screenshot(path=str(self.shots / name), full_page=True)
        lang = page.get_attribute("html", "lang") or ""
        expected = "zh-CN" if self.language == "zh_Hans_CN" else "en"
        if lang != expected:
            self.problem(where, f"<html lang={lang!r}>, expected {expected!r}")
        for text in text_problems(page.evaluate(_TEXTS_JS), self.language):
            self.problem(where, text)
        page.add_script_tag(path=str(AXE_SCRIPT))
        for violation in page.evaluate(_AXE_JS):
            self.problem(
                where,
                f"axe {violation['impact']} {violation['id']} ({violation['help']}): "
                + "; ".join(violation["nodes"]),
            )
        for link in page.evaluate(_LINKS_JS):
            self.enqueue(link["href"], link["text"])

    def visit(self, address: str, label: str) -> None:
        status = self.go(address)
        if status >= 500:
            self.problem(address, f"answered {status}")
        if urlsplit(self.page.url).path == "/portal/purpose":
            self.check_page("purpose of access")
            self.state_purpose()
        self.check_page(label)

    def state_purpose(self) -> None:
        self.page.fill("#purpose", PURPOSE)
        with self.page.expect_navigation(wait_until="load"):
            self.page.click("main button[type=submit]")

    def fetch_downloads(self) -> None:
        for address, label in sorted(self.downloads.items()):
            response = self.context.request.get(self.base + address)
            if response.status >= 500:
                self.problem(address, f"answered {response.status}")
                continue
            if response.status != 200:
                self.problem(address, f"download answered {response.status}")
                continue
            for problem in file_problems(label.split()[0], response, label):
                self.problem(address, problem)

    def walk(self) -> None:
        while self.queue:
            address, pattern = self.queue.popleft()
            self.visit(address, pattern)
        self.fetch_downloads()


def sign_in(page: Page, base: str, user: str, password: str) -> None:
    page.goto(f"{base}/portal/login")
    page.fill("#username", user)
    page.fill("#password", password)
    with page.expect_navigation(wait_until="load"):
        page.click("main button[type=submit]")
    assert urlsplit(page.url).path == "/portal/", f"{user} did not sign in: {page.url}"


def search_forms(walk: Walk, institution: str, patient_id: str | None) -> None:
    """A search by institution (results with record, institution and practitioner links),
    a patient's search (through the purpose page), and the search's CSV export."""
    page = walk.page
    walk.visit("/portal/search", "search form")
    page.fill("#institution", institution)
    with page.expect_navigation(wait_until="load"):
        page.click("form[role=search] button[type=submit]")
    walk.check_page("search by institution")
    export = page.locator("form[action$='/search/export']")
    if export.count() == 0:
        walk.problem("search by institution", "no results, so no export form")
    else:
        fields = export.first.evaluate(
            "(f) => Object.fromEntries(Array.from(f.querySelectorAll('input[type=hidden]'),"
            " (i) => [i.name, i.value]))"
        )
        response = walk.context.request.post(walk.base + "/portal/search/export", form=fields)
        if urlsplit(response.url).path == "/portal/purpose":
            walk.problem("search export", "asked for a purpose, no file")
        elif response.status != 200:
            walk.problem("search export", f"answered {response.status}")
        else:
            for problem in file_problems("CSV", response, "search export CSV"):
                walk.problem("search export", problem)
    if patient_id is None:
        return
    walk.go("/portal/search")
    page.fill("#patient_id", patient_id)
    with page.expect_navigation(wait_until="load"):
        page.click("form[role=search] button[type=submit]")
    if urlsplit(page.url).path == "/portal/purpose":
        walk.check_page("purpose of access")
        walk.state_purpose()
    walk.check_page("search for a patient")


def verify_a_report(walk: Walk) -> None:
    """A report's verification: the job's page while it runs, then the verdict."""
    page = walk.page
    walk.go("/portal/reports")
    button = page.locator("#reports-table form button[type=submit]")
    if button.count() == 0:
        walk.problem("reports", "no published report to verify")
        return
    with page.expect_navigation(wait_until="load"):
        button.first.click()
    if page.locator("#job-progress").count():
        walk.check_page("report verification running")
    page.wait_for_selector("#verification-verdict, #job-failed", timeout=120_000)
    page.wait_for_load_state("load")
    walk.check_page("report verification")


ERROR_ADDRESSES = {
    "/portal/no-such-page": 404,
    "/portal/records/999999999": 404,
    "/portal/findings/no-such-finding": 404,
}


def error_pages(walk: Walk) -> None:
    for address, status in ERROR_ADDRESSES.items():
        answered = walk.go(address)
        if urlsplit(walk.page.url).path == "/portal/purpose":
            walk.state_purpose()
            answered = walk.go(address)
        if answered != status:
            walk.problem(address, f"answered {answered}, expected {status}")
        walk.check_page(f"error {status}")


@dataclass(frozen=True)
class Person:
    user: str
    password: str
    #: Instances of each kind of page to open (records, findings, profiles...).
    per_pattern: int
    sees_patients: bool


PEOPLE_WALKED = (
    Person("wangjing", "jing-password-1", 3, True),  # regulator
    Person("liqiang", "qiang-password-2", 2, True),  # regulator and supervisor
    Person("zhaomin", "min-password-3", 2, False),  # auditor
)
#: Kinds of page the walk must have reached, or it walked too little to prove anything.
MUST_REACH = {
    "wangjing": (
        "/portal/",
        "/portal/cases",
        "/portal/cases/<id>",
        "/portal/findings",
        "/portal/findings/<id>",
        "/portal/records/<id>",
        "/portal/institutions/<id>",
        "/portal/practitioners/<id>",
        "/portal/prescriptions/<id>/<id>/journey",
        "/portal/pharmacies/<id>",
        "/portal/patients/<id>/access",
        "/portal/reports",
        "/portal/schedules",
        "/portal/search?institution",
    ),
    "liqiang": ("/portal/reference", "/portal/reference/<id>/diff"),
    "zhaomin": ("/portal/reports", "/portal/findings/<id>", "/portal/cases", "/portal/cases/<id>"),
}


# -- the portal ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Province:
    server: LiveServer
    institution: str
    patient_id: str


@pytest.fixture
def axe_script() -> Path:
    """axe-core from npm (tests/e2e/axe/package-lock.json), installed on first use."""
    if not AXE_SCRIPT.exists():
        if shutil.which("npm") is None:
            unavailable("npm is required to install axe-core: apt-get install npm")
        done = subprocess.run(
            ["npm", "ci", "--prefix", str(AXE_FOLDER), "--no-audit", "--no-fund"],
            capture_output=True,
            text=True,
            timeout=600,
            check=False,
        )
        if done.returncode != 0 or not AXE_SCRIPT.exists():
            pytest.fail(
                f"axe-core is missing and `npm ci --prefix {AXE_FOLDER}` failed:\n{done.stderr}"
            )
    return AXE_SCRIPT


def answered_notice(data_dir: Path) -> None:
    """The gravest case gets a notice and the institution's answer, so a case page shows
    both (the notice's PDF and JSON among the downloads) and the review form."""
    services = build_services(Settings(data_dir=data_dir))
    try:
        keys = data_dir / "platform-keys"
        # A case of an institution that has a platform of its own (a chain store's case is
        # answered by its chain's platform, whose key is filed under the chain's code).
        gravest = next(
            c
            for c in services.cases.list_cases()
            if c.severity == "high" and (keys / f"{c.institution_code}.key").exists()
        )
        today = datetime.now(UTC).astimezone(timezone(timedelta(hours=8))).date()
        notice_id = services.cases.order_rectification(
            gravest.case_id,
            deadline=today + timedelta(days=15),
            text="规范执业注册管理，提交整改报告",
            username="wangjing",
            roles=frozenset({"regulator"}),
        )
        code = gravest.institution_code
        seed = (data_dir / "platform-keys" / f"{code}.key").read_text()
        key = PlatformKeyFile(base64.b64decode(seed))
        envelope = {
            "platform_id": platform_id_for(code),
            "key_id": key.key_id,
            "notice_id": notice_id,
            "response_id": "walk-response-1",
            "created_at": datetime.now(UTC).isoformat(),
            "kind": "rectified",
            "statement": "已完成整改，附整改报告",
            "attachments": [{"name": "整改报告.pdf", "sha256": "ab" * 32, "size": 20480}],
        }
        services.cases.respond(sign_response(key.seed, envelope))
    finally:
        services.engine.dispose()


@pytest.fixture
def province(tmp_path: Path, directory: Directory) -> Iterator[Province]:
    """The demo province served with the agency directory, a second registry version (so a
    reference change has a page), a published assessment (so reports have files) and a
    case with a notice and its answer."""
    folder, env = inspected_province(tmp_path, directory)
    answered_notice(tmp_path / "var")
    records = [
        orjson.loads(line)["record"]
        for path in sorted((folder / "records").glob("*.jsonl"))
        for line in path.read_text().splitlines()
    ]
    consultation = next(r for r in records if r["type"] == "consultation")
    registry = (folder / "registry.csv").read_text().splitlines()
    changed = [registry[0], registry[1].replace(",active,", ",suspended,", 1), *registry[2:]]
    (tmp_path / "registry-v2.csv").write_text("\n".join(changed) + "\n")
    with running_portal(tmp_path, "", env, initialised=True) as server:
        server.careledger("reference", "import", "registry", str(tmp_path / "registry-v2.csv"))
        server.careledger("report", "generate", "--kind", "assessment", "--period", "2026-10")
        yield Province(
            server, consultation["institution_code"], consultation["patient"]["id_number"]
        )


def test_every_portal_page_in_both_languages_for_every_role(
    province: Province, axe_script: Path, tmp_path: Path
) -> None:
    from playwright.sync_api import sync_playwright

    shots = Path(SCREENSHOTS) if SCREENSHOTS else tmp_path / "screenshots"
    shots.mkdir(parents=True, exist_ok=True)
    base = province.server.url
    #: (kind of page, problem) -> who saw it, and one address where it shows
    found: dict[tuple[str, str], tuple[set[str], str]] = {}
    reached: dict[str, set[str]] = {}
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            for person in PEOPLE_WALKED:
                # The portal forbids inline scripts; axe is injected as one.
                context = browser.new_context(
                    viewport={"width": 1200, "height": 900}, bypass_csp=True
                )
                page = context.new_page()
                sign_in(page, base, person.user, person.password)
                for language in LANGUAGES:
                    page.goto(f"{base}/portal/language?to={language}&back=/portal/")
                    walk = Walk(
                        base, person.user, language, context, page, shots, person.per_pattern
                    )
                    walk.enqueue(base + "/portal/")
                    walk.walk()
                    # The per-finding list, linked from the case queue: the overview's
                    # filtered links to it may use up its path's quota first.
                    walk.visit("/portal/findings", "/portal/findings")
                    search_forms(
                        walk,
                        province.institution,
                        province.patient_id if person.sees_patients else None,
                    )
                    walk.walk()
                    verify_a_report(walk)
                    error_pages(walk)
                    walk.walk()
                    if not any("/notices/" in address for address in walk.downloads):
                        walk.problem("case pages", "no notice's PDF or JSON was reached")
                    for key, address in walk.problems.items():
                        found.setdefault(key, (set(), address))[0].add(f"{person.user} {language}")
                    reached.setdefault(person.user, set()).update(walk.checked)
                context.close()
        finally:
            browser.close()
    problems = [
        f"{where}: {what}\n    seen by {', '.join(sorted(who))}, e.g. at {address}"
        for (where, what), (who, address) in found.items()
    ]
    for user, patterns in MUST_REACH.items():
        missing = sorted(set(patterns) - reached.get(user, set()))
        if missing:
            problems.append(f"[{user}] the walk never reached: {', '.join(missing)}")
    listed = sorted(set(problems))
    (shots / "problems.txt").write_text("\n".join(listed) + "\n")
    assert not listed, f"{len(listed)} problems on the portal's pages:\n" + "\n".join(listed)


def test_the_page_checks_catch_what_they_look_for() -> None:
    """The walk's checks, on text a page could show: each kind of problem is caught, and
    what a correct page shows is not."""

    def node(text: str, **where: bool) -> dict[str, Any]:
        return {"text": text, "raw": False, "details": False, "en": False, **where}

    bad = [
        node("就诊类型：follow_up"),
        node("执业类别 physician"),
        node('{"visit_type": "follow_up"}', raw=True),
        node("2026-10-31 18:16"),
        node("Received, newest first"),
    ]
    found = text_problems(bad, "zh_Hans_CN")
    assert any("'follow_up'" in p for p in found)
    assert any("'physician'" in p for p in found)
    assert any("raw JSON" in p for p in found)
    assert any("time without its zone" in p for p in found)
    assert any("English on the Chinese page" in p for p in found)
    assert any("'follow_up'" in p for p in text_problems([node("visit follow_up")], "en"))
    good = [
        node("就诊类型：复诊"),
        node("2026-10-31 18:16 北京时间"),
        node("2026-10-31 18:16 CST"),
        node("assessment-2026-10-at-196"),
        node("CRED-ROLE"),
        node("文件 registry-v2.csv"),
        node("careledger report verify x.pdf", raw=True),
        node('{"visit_type": "follow_up"}', raw=True, details=True),
        node("English", en=True),
        node("PDF 中文"),
    ]
    assert text_problems(good, "zh_Hans_CN") == []
    assert text_problems([node("active"), node("Performance assessment")], "en") == []
    assert pattern_of("http://x/portal/records/17") == "/portal/records/<id>"
    assert pattern_of("http://x/portal/findings?rule=A&page=2") == "/portal/findings?rule&page"
