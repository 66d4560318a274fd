"""Assessment v2 on the demo province (6 institutions, 7 days, seed 1, 5% violations, as
``careledger demo`` builds it): vetoed institutions are not rated and say why, the ones
with injected institution-level violations never rank above a rated one, the spread of
rated scores is stated in every file, and the score discriminates where v1 did not."""

from __future__ import annotations

import collections
import io
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

import orjson
import pytest
from pypdf import PdfReader

from reports.methodology import load_methodology, methodology_version
from reports.spreadsheet import read_table
from supervisor.cases.service import CaseFilter
from supervisor.config import Settings
from supervisor.custody.data_folder import initialise
from supervisor.demo.province import Label, generate_province
from supervisor.demo.province_files import load_province, read_labels, write_province
from supervisor.reporting.service import Generated
from supervisor.runtime.services import Services, build_services
from tests.conftest import empty_database

pytestmark = pytest.mark.database

END = date(2026, 11, 20)
PERIOD = "2026-11"
VETO_RULES = {"ORG-UNKNOWN", "ORG-LICENSE", "RX-BANNED-DRUG", "CRED-UNREGISTERED"}


@dataclass
class Demo:
    services: Services
    labels: list[Label]
    v2: Generated
    v1: Generated

    def document(self, generated: Generated) -> dict[str, Any]:
        path = self.services.reports.file_path(generated.report.report_id, "json")
        return orjson.loads(path.read_bytes())  # type: ignore[no-any-return]

    def rules_of(self, code: str) -> set[str]:
        return {label.rule for label in self.labels if label.institution_code == code}


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def demo(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Demo]:
    root = tmp_path_factory.mktemp("demo")
    urls = empty_database(request.param, root)
    folder = root / "province"
    write_province(
        generate_province(institutions=6, days=7, seed=1, violation_rate=0.05, end=END), folder
    )
    settings = Settings(data_dir=root / "var", database_url=next(urls))
    initialise(settings)
    loaded = load_province(folder, settings, over_http=False)
    later = loaded.ended_at + timedelta(days=4)  # past every grace deadline
    services = build_services(settings, lambda: later)
    services.inspector.follow()
    v2 = services.reports.generate("assessment", PERIOD, requested_by="test")
    v1 = services.reports.generate(
        "assessment", PERIOD, requested_by="test", methodology=methodology_version("assessment-v1")
    )
    yield Demo(services, read_labels(folder), v2, v1)
    services.engine.dispose()
    for _ in urls:  # drop the PostgreSQL schema
        pass


def test_new_assessments_are_v3_and_v1_stays_selectable(demo: Demo) -> None:
    # assessment-v3 assesses hospitals as v2 (pharmacies apart): what this file tests.
    assert load_methodology().version == "assessment-v3"
    assert demo.document(demo.v2)["basis"]["methodology"]["version"] == "assessment-v3"
    assert demo.document(demo.v1)["basis"]["methodology"]["version"] == "assessment-v1"
    # Same checkpoint, different methodologies: two reports, neither replacing the other.
    assert demo.v2.report.tree_size == demo.v1.report.tree_size - 1
    assert demo.v2.report.report_id == f"assessment-2026-11-v3-at-{demo.v2.report.tree_size}"
    assert demo.v1.report.report_id == f"assessment-2026-11-at-{demo.v1.report.tree_size}"


def test_vetoed_institutions_are_not_rated_and_say_which_cases_vetoed_them(demo: Demo) -> None:
    institutions = demo.document(demo.v2)["assessment"]["institutions"]
    assert len(institutions) == 6
    vetoed = 0
    for item in institutions:
        injected = demo.rules_of(item["institution_code"]) & VETO_RULES
        if not injected:
            assert item["rating"] == "rated" and item["score"] is not None
            assert item["veto"] == []
            continue
        vetoed += 1
        assert item["rating"] == "vetoed"
        assert item["score"] is None and item["rank"] is None and not item["ranked"]
        assert {v["rule"] for v in item["veto"]} == injected
        # The case ids are the portal's: the same grouping replayed from the ledger.
        for rule in injected:
            cases = demo.services.cases.list_cases(
                CaseFilter(rule=rule, institution=item["institution_code"])
            )
            named = {v["case_id"] for v in item["veto"] if v["rule"] == rule}
            assert named == {c.case_id for c in cases}
    assert vetoed == 4, "two institution-wide violators, and banned drugs or unregistered doctors"
    pdf = _text(demo, demo.v2, "zh")
    assert "不予评级" in pdf and "一票否决" in pdf
    for item in institutions:
        for veto in item["veto"]:
            assert veto["case_id"] in pdf


def test_institution_level_violators_never_rank_above_a_rated_institution(demo: Demo) -> None:
    institutions = demo.document(demo.v2)["assessment"]["institutions"]
    violators = {
        item["institution_code"]
        for item in institutions
        if demo.rules_of(item["institution_code"]) & {"ORG-UNKNOWN", "ORG-LICENSE"}
    }
    assert len(violators) == 2
    positions = {item["institution_code"]: n for n, item in enumerate(institutions)}
    rated = [item for item in institutions if item["rating"] == "rated"]
    assert rated and all(item["ranked"] for item in rated)
    for code in violators:
        assert all(positions[code] > positions[item["institution_code"]] for item in rated)
    # v1 ranked the unfiled institution 2nd of 6.
    v1 = demo.document(demo.v1)["assessment"]["institutions"]
    unfiled = next(c for c in violators if "ORG-UNKNOWN" in demo.rules_of(c))
    assert next(i["rank"] for i in v1 if i["institution_code"] == unfiled) == 2


def test_institution_level_problems_cost_once_per_case(demo: Demo) -> None:
    institutions = demo.document(demo.v2)["assessment"]["institutions"]
    unfiled = next(i for i in institutions if "ORG-UNKNOWN" in demo.rules_of(i["institution_code"]))
    records = collections.Counter(
        label.rule for label in demo.labels if label.institution_code == unfiled["institution_code"]
    )
    assert records["ORG-UNKNOWN"] > 800
    (case,) = [c for c in unfiled["cases"] if c["rule"] == "ORG-UNKNOWN"]
    # One high-severity case open 7 days of a 30-day cap: 3 x (1 + 7/30), not 816 of anything.
    assert case["days_open"] == 7 + (30 - END.day) + 1
    assert float(case["points"]) == round(3 * (1 + min(case["days_open"], 30) / 30), 2)


def test_the_spread_of_rated_scores_is_stated_and_discriminates(demo: Demo) -> None:
    body = demo.document(demo.v2)["assessment"]
    scores = [float(i["score"]) for i in body["institutions"] if i["score"] is not None]
    spread = body["province"]["spread"]
    assert spread["rated"] == len(scores) == 2
    assert float(spread["max"]) == max(scores) and float(spread["min"]) == min(scores)
    assert float(spread["range"]) == round(max(scores) - min(scores), 2)
    v1 = [float(i["score"]) for i in demo.document(demo.v1)["assessment"]["institutions"]]
    assert max(v1) - min(v1) < 1, "v1: all six within a point"
    assert float(spread["range"]) > 10 * (max(v1) - min(v1))
    # The CSV carries it as province rows, the PDF on its summary page.
    path = demo.services.reports.file_path(demo.v2.report.report_id, "csv")
    rows = read_table(path.read_bytes().decode("utf-8-sig"))
    stated = {
        r["indicator"]: r["value"]
        for r in rows
        if r["institution_code"] == "*" and r["section"] == "institution"
    }
    assert stated["spread_range"] == spread["range"]
    assert stated["spread_stdev"] == spread["stdev"]
    summary = _text(demo, demo.v2, "zh")
    assert "得分极差" in summary and spread["range"] in summary and spread["stdev"] in summary
    assert "Score range" in _text(demo, demo.v2, "en")


def test_both_editions_verify(demo: Demo) -> None:
    for generated in (demo.v1, demo.v2):
        for file_kind in ("json", "pdf-zh", "pdf-en"):
            path = demo.services.reports.file_path(generated.report.report_id, file_kind)
            result = demo.services.reports.verify(path.read_bytes())
            assert result.ok, result.document()


def _text(demo: Demo, generated: Generated, language: str) -> str:
    path = demo.services.reports.file_path(generated.report.report_id, f"pdf-{language}")
    return "\n".join(p.extract_text() for p in PdfReader(io.BytesIO(path.read_bytes())).pages)
