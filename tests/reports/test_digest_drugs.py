"""The digest's drugs section (digest-v3, the default edition now) on the hand-made world:
new DISP findings and cases of the day by rule, the double fill with both pharmacies,
controlled drugs online and by courier, the cold-chain breach; in the data, the CSV and
both PDFs; the earlier editions without it."""

from __future__ import annotations

import io
from typing import Any

from pypdf import PdfReader

from reports.digest import DIGEST_EDITIONS, digest_document
from reports.exports import ReportBasis, ReportData, report_data
from reports.pdf import render_pdf
from reports.periods import parse_period
from reports.spreadsheet import read_table

from .pharmacy_world import P1, P2, PL, pharmacy_world

FOUND_DAY = parse_period("2026-11-25")  # every DISP finding entered the ledger that day
BASIS = ReportBasis("test/log", 60, "ab" * 32, "note\n", {}, None, None, 0)


def _drugs(day: str = FOUND_DAY.key) -> dict[str, Any]:
    document = digest_document(pharmacy_world().facts(), parse_period(day), "digest-v3")
    drugs: dict[str, Any] = document["drugs"]
    return drugs


def _data() -> ReportData:
    body = digest_document(pharmacy_world().facts(), FOUND_DAY, "digest-v3")
    return report_data("digest", FOUND_DAY.key, BASIS, body, "digest-v3")


def test_new_digests_are_the_third_edition_and_earlier_ones_have_no_drugs() -> None:
    assert DIGEST_EDITIONS[-1] == "digest-v3"
    facts = pharmacy_world().facts()
    for edition in ("digest-v1", "digest-v2"):
        assert "drugs" not in digest_document(facts, FOUND_DAY, edition)
    assert _data().report_id == "digest-2026-11-25-v3-at-60"


def test_new_findings_and_cases_of_the_day_by_rule() -> None:
    drugs = _drugs()
    assert drugs["new_findings"] == {
        "total": 8,
        "by_rule": {
            "DISP-COLD-CHAIN": 1,
            "DISP-CONTROLLED-ONLINE": 2,
            "DISP-DELIVERY-REALNAME": 1,
            "DISP-DOUBLE-FILL": 1,
            "DISP-NO-PHARMACIST": 1,
            "DISP-THIRD-PARTY-SALE": 2,
        },
    }
    # Two findings each joined one case (the platform's sales, its diazepam sold and sent).
    assert drugs["new_cases"]["total"] == 6
    assert drugs["new_cases"]["by_rule"]["DISP-CONTROLLED-ONLINE"] == 1
    quiet = _drugs("2026-11-24")
    assert quiet["new_findings"]["total"] == 0 and quiet["double_fills"] == []


def test_the_double_fill_names_every_pharmacy_involved() -> None:
    (fill,) = _drugs()["double_fills"]
    assert (fill["institution_code"], fill["name"], fill["record_id"]) == (P2, "仁心连锁二店", "e1")
    assert fill["pharmacies"] == [P2, P1] and fill["dispensings"] == 2
    assert fill["pharmacy_names"] == ["仁心连锁二店", "康民大药房"]
    assert fill["prescription"]["institution_code"] == "H-4401"
    assert fill["found_on"] == "2026-11-25" and fill["state"] == "open"


def test_controlled_drugs_online_and_by_courier_and_the_cold_chain_breach() -> None:
    drugs = _drugs()
    controlled = {r["record_id"]: r for r in drugs["controlled_online"]}
    assert set(controlled) == {"f2", "x2"}
    assert (controlled["f2"]["record_type"], controlled["f2"]["channel"]) == (
        "dispensing",
        "online",
    )
    assert controlled["x2"]["record_type"] == "delivery"
    assert {r["institution_code"] for r in controlled.values()} == {PL}
    assert controlled["f2"]["case_id"] == controlled["x2"]["case_id"], "one case"
    (breach,) = drugs["cold_chain_breaches"]
    assert (breach["institution_code"], breach["record_id"]) == (P1, "v2")
    assert breach["reasons"] == ["no_cold_chain"]


def test_the_days_dispensings_and_deliveries_are_counted() -> None:
    # 13 November: the platform's diazepam, sold online and sent.
    assert _drugs("2026-11-13")["records"] == {
        "dispensings": 1,
        "online_dispensings": 1,
        "deliveries": 1,
    }


def test_pharmacies_are_named_among_the_riskiest_institutions() -> None:
    document = digest_document(pharmacy_world().facts(), FOUND_DAY, "digest-v3")
    names = {r["code"]: r["name"] for r in document["top_institutions"]}
    assert names[PL] == "速药平台" and names[P1] == "康民大药房"
    earlier = digest_document(pharmacy_world().facts(), FOUND_DAY, "digest-v2")
    assert {r["code"]: r["name"] for r in earlier["top_institutions"]}[PL] == PL


def test_the_csv_and_both_pdfs_carry_the_section() -> None:
    data = _data()
    rows = read_table(data.csv_bytes.decode("utf-8-sig"))
    (fill,) = [r for r in rows if r["section"] == "drugs_double_fills"]
    assert "pharmacies=P-CHAIN2 P-RETAIL" in fill["details"]
    by_rule = {
        r["subject"]: r["details"] for r in rows if r["section"] == "drugs_new_findings_by_rule"
    }
    assert by_rule["DISP-CONTROLLED-ONLINE"] == "2"
    zh = "\n".join(
        p.extract_text()
        for p in PdfReader(
            io.BytesIO(render_pdf(data.document, "zh", data_sha256=data.data_sha256))
        ).pages
    )
    shown = (
        "药品调配与配送", "新发现药品问题（按规则）", "同一处方重复调配", "跨药店、跨平台",
        "P-RETAIL", "特殊管理药品网络销售或寄递配送", "冷链配送违规", "未冷链配送",
    )  # fmt: skip
    for words in shown:
        assert words in zh, words
    en = "\n".join(
        p.extract_text()
        for p in PdfReader(
            io.BytesIO(render_pdf(data.document, "en", data_sha256=data.data_sha256))
        ).pages
    )
    assert "Double fills" in en and "Cold-chain breaches" in en and "not shipped cold" in en
