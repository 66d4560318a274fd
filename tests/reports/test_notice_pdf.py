"""The rectification notice PDF: read back with pypdf (the Chinese text, every record, the
deadline, the document's hash), byte-for-byte reproducible, and page 1 rasterised."""

from __future__ import annotations

import io
import shutil
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from pypdf import PdfReader

from reports.notice_pdf import notice_sha256, render_notice_pdf
from supervisor.cases.notice_document import notice_document, notice_id_of
from tests.system_tools import unavailable

ISSUED = datetime(2026, 11, 24, 2, 30, tzinfo=UTC)  # 10:30 in China
FINDINGS = 60  # more than a page holds


def _document(findings: int = FINDINGS) -> dict[str, Any]:
    case: dict[str, Any] = {
        "case_id": "C5AF214E1FC88E29",
        "rule_id": "CRED-UNREGISTERED",
        "institution_code": "H330100001",
        "severity": "high",
        "repeat": False,
    }
    listed = [
        {
            "finding_id": f"F{i:015X}",
            "rule": "CRED-UNREGISTERED",
            "record_index": 100 + i,
            "record_id": f"H330100001-RX-2026112{i % 10}-{i:05d}",
            "found_at": (ISSUED - timedelta(days=1, minutes=i)).isoformat(),
            "evidence": {
                "license_no": "H330100001-MD003",
                "practitioner_name": "王伟",
                "registry_status": "未注册",
            },
        }
        for i in range(findings)
    ]
    return notice_document(
        case,
        listed,
        notice_id=notice_id_of(case["case_id"], 1),
        issued_at=ISSUED,
        deadline="2026-12-31",
        required_action="立即停止该人员在线执业；补充执业注册材料，并提交整改报告。",
        issued_by="wangjing",
        institution_name="示例互联网医院",
        platform_id="PLT-H330100001",
    )


def _text(pdf: bytes) -> tuple[int, str]:
    reader = PdfReader(io.BytesIO(pdf))
    return len(reader.pages), "\n".join(page.extract_text() for page in reader.pages)


def test_the_notice_reads_back_with_every_record_its_deadline_and_its_hash() -> None:
    document = _document()
    pdf = render_notice_pdf(document)
    pages, text = _text(pdf)
    assert pages >= 2  # the findings run over
    flat = text.replace("\n", "").replace(" ", "")
    for words in (
        "整改通知书",
        "示例互联网医院",
        "执业人员不在执业注册信息中",
        "法律依据",
        "签发人",
    ):
        assert words in flat, words
    assert document["notice_id"] in flat and "C5AF214E1FC88E29" in flat
    assert "2026-12-31" in flat  # the deadline
    assert "2026-11-2410:30" in flat  # issued at, China time
    assert "立即停止该人员在线执业" in flat
    # Evidence reads in Chinese, not by the fields' machine names.
    assert "执业证号：H330100001-MD003" in flat and "license_no" not in flat
    for finding in document["findings"]:
        assert finding["record_id"] in flat, finding["record_id"]
    digest = notice_sha256(document)
    assert flat.count(digest) == pages  # on every page's footer
    assert f"第{pages}页，共{pages}页" in flat
    # Deterministic: the same document gives the same bytes.
    assert render_notice_pdf(document) == pdf


def test_a_short_notice_fits_one_page() -> None:
    pages, text = _text(render_notice_pdf(_document(findings=3)))
    assert pages == 1 and "附：问题记录（共 3 条）" in text.replace("\n", "")


def test_page_one_renders_as_an_image(tmp_path: Path) -> None:
    if shutil.which("pdftoppm") is None:
        unavailable("pdftoppm is missing: apt-get install poppler-utils")
    pdf = tmp_path / "notice.pdf"
    pdf.write_bytes(render_notice_pdf(_document()))
    subprocess.run(
        ["pdftoppm", "-png", "-r", "70", "-f", "1", "-l", "1", "-singlefile", str(pdf),
         str(tmp_path / "page1")],
        check=True,
    )  # fmt: skip
    png = (tmp_path / "page1.png").read_bytes()
    assert png.startswith(b"\x89PNG") and len(png) > 20_000  # drawn, not blank


def _keys(value: object) -> set[str]:
    if isinstance(value, dict):
        return {str(k) for k in value} | {k for v in value.values() for k in _keys(v)}
    if isinstance(value, list):
        return {k for v in value for k in _keys(v)}
    return set()


def test_every_evidence_field_any_rule_writes_is_named_in_chinese() -> None:
    """The institution's copy names each evidence field in Chinese, whatever the rule."""
    from inspectors.rulebook import RULES_BY_ID
    from reports.notice_pdf import _FIELD_NAMES
    from tests.inspectors import test_dispensing_rules as drugs
    from tests.inspectors import world
    from tests.inspectors.test_rules import FAILING

    written: set[str] = set()
    cases = [(r, s, world.reference()) for r, s in FAILING.items()]
    cases += [(r, s, drugs.reference()) for r, s in drugs.FAILING.items()]
    cases += [(r, s, drugs.reference()) for r, s in drugs.VARIANTS.values()]
    for rule_id, subject, reference in cases:
        for violation in RULES_BY_ID[rule_id].check(subject, reference, world.policy()):
            written |= _keys(dict(violation.evidence))
    assert sorted(written - set(_FIELD_NAMES)) == []
