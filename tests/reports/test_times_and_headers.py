"""Report files speak China Standard Time and name their columns in Chinese and machine names:
the CSV headers read back by name, and the PDFs, read back with pypdf, mark every period and
date as 北京时间 (CST, UTC+08:00) and print no UTC time."""

from __future__ import annotations

import io
import re
from datetime import UTC, datetime

import pytest
from pypdf import PdfReader

from reports.assessment import assess
from reports.digest import digest
from reports.exports import ReportBasis, ReportData, report_data
from reports.methodology import Methodology
from reports.pdf import render_pdf
from reports.periods import Period
from reports.spreadsheet import china_time_text, machine_name, read_table

from .test_assessment import OCTOBER, methodology_ranking_everyone, october_world
from .test_digest import DAY, busy_world

BASIS = ReportBasis("test/log", 10, "ab" * 32, "note\n", {}, None, None, 0)
#: A time on some clock other than China's: UTC (+00:00, Z, "UTC") or any other offset.
NOT_CHINA_TIME = re.compile(
    r"\d\d:\d\d(?::\d\d(?:\.\d+)?)?\s*(?:Z\b|UTC(?!\+08:00)|[+-](?!08:00)\d\d:\d\d)"
)


def _digest_data() -> ReportData:
    return report_data("digest", DAY.key, BASIS, digest(busy_world().facts(), DAY).document())


def _assessment_data() -> tuple[ReportData, Methodology]:
    methodology = methodology_ranking_everyone()
    assessment = assess(october_world().facts(), methodology, OCTOBER)  # type: ignore[arg-type]
    basis = ReportBasis("test/log", 10, "ab" * 32, "note\n", {}, "assessment-v1", "00" * 32, 0)
    return report_data("assessment", OCTOBER.key, basis, assessment.document()), methodology  # type: ignore[return-value]


def _pages(pdf: bytes) -> list[str]:
    return [page.extract_text() for page in PdfReader(io.BytesIO(pdf)).pages]


def test_csv_headers_are_chinese_and_machine_names_and_read_back_by_name() -> None:
    data, _ = _assessment_data()
    text = data.csv_bytes.decode("utf-8-sig")
    header = text.splitlines()[0].split(",")
    assert header[:3] == [
        "考核周期（北京时间） / period",
        "排名 / rank",
        "机构编码 / institution_code",
    ]
    rows = read_table(text)
    institutions = data.document["assessment"]["institutions"]
    assert {row["institution_code"] for row in rows} == {
        i["institution_code"] for i in institutions
    }
    assert {row["period"] for row in rows} == {"2026-10"}
    digest_rows = read_table(_digest_data().csv_bytes.decode("utf-8"))  # BOM and all
    assert set(digest_rows[0]) == {"period", "section", "position", "subject", "details"}
    overdue = [r for r in digest_rows if r["section"] == "overdue_rectifications"]
    assert (
        overdue
        and overdue[0]["subject"] == "old-1"
        and "deadline=2026-11-18" in overdue[0]["details"]
    )


def test_a_header_cell_names_its_column_old_or_new() -> None:
    assert machine_name("发现时间（北京时间） / found_at") == "found_at"
    assert machine_name("found_at") == "found_at"  # a file written before the Chinese
    assert read_table("\ufeffa,b\n1,2\n") == [{"a": "1", "b": "2"}]


def test_times_in_files_are_china_standard_time_with_the_offset() -> None:
    moment = datetime(2026, 11, 19, 16, 30, tzinfo=UTC)  # 00:30 the next day in China
    assert china_time_text(moment) == "2026-11-20T00:30:00+08:00"
    assert datetime.fromisoformat(china_time_text(moment)) == moment
    with pytest.raises(ValueError, match="aware"):
        china_time_text(datetime(2026, 11, 20))


@pytest.mark.parametrize("language", ["zh", "en"])
def test_the_digest_pdf_marks_its_period_and_dates_as_china_time(language: str) -> None:
    data = _digest_data()
    pages = _pages(render_pdf(data.document, language, data_sha256=data.data_sha256))
    text = "\n".join(pages)
    unwrapped = text.replace("\n", "")  # a narrow table heading wraps onto two lines
    if language == "zh":
        assert "北京时间 2026-11-20 00:00 至 2026-11-21 00:00（UTC+08:00）" in pages[0]
        assert "本报告中的日期、时间与周期均为北京时间（UTC+08:00）" in pages[0]
        assert all("2026-11-20 北京时间" in page for page in pages)  # every page's header
        assert "整改期限（北京时间）" in unwrapped and "日期（北京时间）" in unwrapped
    else:
        assert "2026-11-20 00:00 to 2026-11-21 00:00 China Standard Time (UTC+08:00)" in pages[0]
        assert all("2026-11-20 CST" in page for page in pages)
        assert "Deadline (CST)" in unwrapped and "Day (CST)" in unwrapped
    assert "2026-11-18" in text  # the overdue order's deadline, a China date
    assert not NOT_CHINA_TIME.search(text), NOT_CHINA_TIME.search(text)


def test_the_assessment_pdf_gives_the_months_bounds_in_china_time() -> None:
    data, methodology = _assessment_data()
    pages = _pages(
        render_pdf(data.document, "zh", data_sha256=data.data_sha256, methodology=methodology)
    )
    assert "北京时间 2026-10-01 00:00 至 2026-11-01 00:00（UTC+08:00）" in pages[0]
    assert all("2026-10 北京时间" in page for page in pages)
    assert not NOT_CHINA_TIME.search("\n".join(pages))


def test_a_period_across_the_new_year_ends_at_midnight_china_time() -> None:
    december = Period.month(2026, 12)
    body = digest(busy_world().facts(), december).document()
    data = report_data("digest", december.key, BASIS, body)
    pages = _pages(render_pdf(data.document, "en", data_sha256=data.data_sha256))
    assert "2026-12-01 00:00 to 2027-01-01 00:00 China Standard Time (UTC+08:00)" in pages[0]
