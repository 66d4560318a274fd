"""assessment-v3 on the hand-made world with pharmacies: the methodology is complete and
the default, hospitals come out as version 2 computes them without pharmacies, the
pharmacies are their own section in the data, the CSV and both PDFs, and the report is
reproducible byte for byte."""

from __future__ import annotations

import io
import shutil
import subprocess
from pathlib import Path

import pytest
from pypdf import PdfReader

from reports.assessment_v2 import assess_v2
from reports.assessment_v3 import assess_v3
from reports.exports import ReportBasis, ReportData, report_data
from reports.methodology import (
    KNOWN_PHARMACY_INDICATORS,
    MethodologyError,
    load_methodology,
    methodology_version,
    parse_methodology,
    shipped_versions,
)
from reports.pdf import render_pdf
from reports.periods import parse_period
from reports.spreadsheet import read_table
from tests.system_tools import unavailable

from .pharmacy_world import H1, P1, P2, PL, pharmacy_world

NOVEMBER = parse_period("2026-11")
V3 = methodology_version("assessment-v3")


def _data() -> ReportData:
    basis = ReportBasis("test/log", 60, "ab" * 32, "note\n", {}, V3.version, V3.sha256, 0)
    body = assess_v3(pharmacy_world().facts(), V3, NOVEMBER).document()
    return report_data("assessment", NOVEMBER.key, basis, body, V3.version)


def _pdf(data: ReportData, language: str) -> bytes:
    return render_pdf(data.document, language, data_sha256=data.data_sha256, methodology=V3)


def test_new_assessments_use_v3_and_the_older_stay_selectable() -> None:
    assert shipped_versions() == ("assessment-v1", "assessment-v2", "assessment-v3")
    assert load_methodology().version == "assessment-v3"
    assert methodology_version("assessment-v2").pharmacy is None
    assert _data().report_id == "assessment-2026-11-v3-at-60"


def test_v3_keeps_v2_for_hospitals_and_writes_down_every_pharmacy_indicator() -> None:
    v2 = methodology_version("assessment-v2")
    assert (V3.indicators, V3.veto_rules, V3.case_penalty) == (
        v2.indicators,
        v2.veto_rules,
        v2.case_penalty,
    )
    rules = V3.pharmacy
    assert rules is not None
    assert set(rules.veto_rules) == {
        "DISP-THIRD-PARTY-SALE",
        "DISP-PHARMACY-LICENSE",
        "DISP-CONTROLLED-ONLINE",
    }
    assert rules.charged_rules == ("DISP-DOUBLE-FILL",)
    assert {s.id for s in rules.indicators} == set(KNOWN_PHARMACY_INDICATORS)
    assert sum(s.weight for s in rules.indicators) == 100
    for spec in rules.indicators:
        assert spec.direction in ("up", "down", "none")
        for part in ("definition", "numerator", "denominator", "source"):
            assert spec.said(part, "en") and spec.said(part, "zh") != spec.said(part, "en")
    # Indicators the computation does not know are refused, not ignored.
    with pytest.raises(MethodologyError, match="unknown indicator"):
        parse_methodology(V3.text.replace('id = "cold_chain_compliance"', 'id = "ice"').encode())


def test_hospitals_are_assessed_as_v2_without_the_pharmacies_cases() -> None:
    world = pharmacy_world()
    facts = world.facts()
    v3 = assess_v3(facts, V3, NOVEMBER).document()
    # v2 lists the pharmacies among the hospitals, with no data of theirs (and PL unvetoed).
    v2 = assess_v2(facts, methodology_version("assessment-v2"), NOVEMBER).document()
    assert [i["institution_code"] for i in v2["institutions"]] == [H1, P1, P2, PL]
    assert [i["institution_code"] for i in v3["institutions"]] == [H1]
    hospital_v3, hospital_v2 = v3["institutions"][0], v2["institutions"][0]
    assert hospital_v3 == hospital_v2
    assert hospital_v3["score"] == 61.9
    assert [p["institution_code"] for p in v3["pharmacy_assessment"]["pharmacies"]] == [P2, P1, PL]


def test_the_same_facts_give_the_same_bytes() -> None:
    first, second = _data(), _data()
    assert first.json_bytes == second.json_bytes and first.csv_bytes == second.csv_bytes
    for language in ("zh", "en"):
        assert _pdf(first, language) == _pdf(second, language)


def test_the_csv_says_whose_row_it_is_with_each_sides_spread() -> None:
    rows = read_table(_data().csv_bytes.decode("utf-8-sig"))
    assert {r["section"] for r in rows} == {"institution", "pharmacy"}
    pharmacy = [r for r in rows if r["section"] == "pharmacy"]
    review = next(
        r
        for r in pharmacy
        if r["institution_code"] == P1 and r["indicator"] == "pharmacy_review_rate"
    )
    assert (review["numerator"], review["denominator"], review["value"]) == ("3", "4", "0.75")
    vetoed = next(r for r in pharmacy if r["institution_code"] == PL)
    assert vetoed["rating"] == "vetoed" and "DISP-THIRD-PARTY-SALE:" in vetoed["veto"]
    spread = {r["indicator"]: r["value"] for r in pharmacy if r["institution_code"] == "*"}
    assert spread["spread_range"] == "10.53"


def _pages(pdf: bytes) -> list[str]:
    return [page.extract_text() for page in PdfReader(io.BytesIO(pdf)).pages]


def test_the_chinese_pdf_explains_and_shows_the_pharmacies() -> None:
    data = _data()
    pages = _pages(_pdf(data, "zh"))
    text = "\n".join(pages)
    summary = next(p for p in pages if "药店考核总体情况" in p)
    assert "参评药店数" in summary and "10.53" in summary
    ranking = next(p for p in pages if "药店综合排名" in p)
    for name in ("仁心连锁二店", "康民大药房", "速药平台"):
        assert name in ranking
    assert "不予评级" in ranking and "药店一票否决" in ranking
    pl = next(p for p in data.document["assessment"]["pharmacy_assessment"]["pharmacies"]
              if p["institution_code"] == PL)  # fmt: skip
    for veto in pl["veto"]:
        assert veto["case_id"] in ranking
    methodology = next(p for p in pages if "药店考核指标" in p)
    explained = (
        "药师审方率", "冷链配送合规率", "配送实名签收率", "重复调配案件数", "数据来源", "数据口径",
        "DISP-THIRD-PARTY-SALE", "第三方平台直接销售药品",
    )  # fmt: skip
    for words in explained:
        assert words in methodology, words
    p2 = next(p for p in pages if "药店考核明细" in p and "仁心连锁二店（P-CHAIN2）" in p)
    assert "重复调配明细" in p2 and "康民大药房" in p2 and "DISP-DOUBLE-FILL" in p2
    assert "全省中位数" in p2 and "79.28" in p2
    assert all(f"共 {len(pages)} 页" in page for page in pages)
    assert "互联网医院绩效考核报告" in pages[0] and "assessment-v3" in text
    english = "\n".join(_pages(_pdf(data, "en")))
    assert "Pharmacy ranking" in english and "Cold-chain compliance" in english


def test_a_pharmacy_page_renders_as_an_image(tmp_path: Path) -> None:
    if shutil.which("pdftoppm") is None:
        unavailable("pdftoppm is missing: apt-get install poppler-utils")
    pdf_bytes = _pdf(_data(), "zh")
    page = next(n for n, text in enumerate(_pages(pdf_bytes), 1) if "药店考核明细" in text)
    pdf = tmp_path / "v3.pdf"
    pdf.write_bytes(pdf_bytes)
    subprocess.run(
        ["pdftoppm", "-png", "-r", "70", "-f", str(page), "-l", str(page), "-singlefile",
         str(pdf), str(tmp_path / "page")],
        check=True,
    )  # fmt: skip
    png = (tmp_path / "page.png").read_bytes()
    assert png.startswith(b"\x89PNG") and len(png) > 20_000  # drawn, not blank
