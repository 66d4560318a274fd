"""The rectification notice (整改通知书) as a Chinese PDF, drawn from the notice document
the ledger seals (``supervisor.cases.notice_document``). Pure: a mapping in, bytes out.

Everything printed comes from the document, so the PDF cannot say what the
sealed notice does not; every page's footer states the SHA-256 of the document's
canonical JSON (RFC 8785), which is what the ledger entry commits to, so a printed
notice can be matched with its entry. Output is deterministic (reportlab's
invariant mode): the same document and font give the same bytes.
"""

from __future__ import annotations

import io
from collections.abc import Mapping
from datetime import datetime
from hashlib import sha256
from typing import Any

import orjson
from reportlab.lib.enums import TA_CENTER, TA_RIGHT
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import ParagraphStyle
from reportlab.lib.units import mm
from reportlab.platypus import BaseDocTemplate, Flowable, Frame, PageTemplate, Paragraph, Spacer

from ledger.canonical import canonical_json

from .fonts import register_report_font
from .labels import label
from .pdf_layout import MARGIN, NumberedCanvas, Styles, data_table, escaped, key_values
from .periods import PROVINCE_TIME

__all__ = ["notice_sha256", "render_notice_pdf"]

_EVIDENCE_CHARS = 300


def notice_sha256(document: Mapping[str, Any]) -> str:
    """SHA-256 (hex) of the notice's canonical JSON: what the PDF's footer states."""
    return sha256(canonical_json(dict(document))).hexdigest()


def _china_time(iso: str) -> str:
    moment = datetime.fromisoformat(iso)
    return moment.astimezone(PROVINCE_TIME).strftime("%Y-%m-%d %H:%M")


#: The evidence fields rules record, as an institution reads them in a Chinese notice
#: (a field not listed keeps its machine name).
_FIELD_NAMES = {
    "allowed_hours": "时限（小时）",
    "amount": "金额",
    "capacity": "执业身份",
    "carrier": "承运方",
    "categories": "药品类别",
    "ceiling_price": "限价",
    "channel": "销售渠道",
    "cold_chain": "冷链",
    "consent_at": "知情同意时间",
    "consultation_record_id": "问诊记录编号",
    "consulting_license_no": "接诊医师执业证号",
    "date": "日期",
    "days_supply": "用药天数",
    "delay_hours": "延迟（小时）",
    "delivered_at": "送达时间",
    "department_code": "科室代码",
    "departments": "诊疗科目",
    "diagnoses": "诊断",
    "dispensed": "已调配",
    "dispensed_at": "调配时间",
    "dispensed_quantity": "调配总量",
    "dispensing_record_id": "调配记录编号",
    "dispensings": "调配记录",
    "drug_code": "药品代码",
    "drug_codes": "药品代码",
    "expected_amount": "应收金额",
    "grace_hours": "宽限（小时）",
    "gsp_valid_until": "GSP 认证有效期至",
    "guardian_present": "监护人在场",
    "hours_after_signing": "开方后（小时）",
    "institution_code": "机构代码",
    "insurance_amount": "医保支付金额",
    "item_code": "收费项目代码",
    "items": "处方药品",
    "kind": "类型",
    "ledger_index": "账本序号",
    "license_no": "执业证号",
    "license_valid_until": "许可证有效期至",
    "limit": "上限",
    "minimum_practice_years": "要求执业年限",
    "multi_site_institution_codes": "多点执业备案机构",
    "occurred_at": "发生时间",
    "online_sales_filed": "网络销售备案",
    "patient_age": "患者年龄",
    "payer": "支付方",
    "pharmacy_code": "药店",
    "practice_start": "开始执业日期",
    "practitioner_name": "执业人员姓名",
    "prescribed_drug_codes": "处方药品代码",
    "prescribed_quantity": "处方数量",
    "prescriber_license_no": "开方医师执业证号",
    "prescription_index": "处方账本序号",
    "prescription_institution_code": "开方机构",
    "prescription_record_id": "处方编号",
    "prescription_review_result": "医院审方结果",
    "price_valid_from": "价格生效日期",
    "primary_institution_code": "主要执业机构",
    "prior_diagnosis_document": "既往诊断文书",
    "prior_icd10": "既往确诊诊断",
    "problems": "问题",
    "quantity": "数量",
    "realname_verified_at": "医师实名核验时间",
    "received_at": "上传时间",
    "record_id": "记录编号",
    "registered_departments": "注册执业范围",
    "registered_role": "注册执业类别",
    "registered_status": "注册状态",
    "registry_status": "注册状态",
    "required_role": "应有执业类别",
    "review": "审方",
    "review_result": "审方结果",
    "reviewed_at": "审方时间",
    "seconds_after_start": "距问诊开始（秒）",
    "signed_at": "开方时间",
    "started_at": "问诊开始时间",
    "status": "执业状态",
    "temperature_excursion": "温度超标",
    "threshold_seconds": "阈值（秒）",
    "unit_price": "单价",
    "valid_from": "有效期起",
    "valid_hours": "有效时限（小时）",
    "valid_to": "有效期至",
    "visit_type": "就诊类型",
}


def _evidence_text(evidence: Mapping[str, Any]) -> str:
    """The finding's evidence, every field, shortened only past what a cell can hold."""
    parts = []
    for key, value in evidence.items():
        shown = value if isinstance(value, str) else orjson.dumps(value).decode()
        parts.append(f"{_FIELD_NAMES.get(key, key)}：{shown}")
    text = "；".join(parts) or "–"
    return text if len(text) <= _EVIDENCE_CHARS else text[: _EVIDENCE_CHARS - 1] + "…"


class _NoticeCanvas(NumberedCanvas):
    """Pages numbered "n of m", each footer stating the notice's canonical JSON hash."""

    def __init__(self, *args: Any, digest: str, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._digest = digest

    def _decorate(self, total: int) -> None:
        super()._decorate(total)
        self.saveState()
        self.setFont(self._font, 6.5)
        self.drawString(MARGIN, 10 * mm, f"通知书 JSON（RFC 8785 规范化）SHA-256：{self._digest}")
        self.restoreState()


def _story(styles: Styles, document: Mapping[str, Any]) -> list[Flowable]:
    title = ParagraphStyle(
        "notice-title", parent=styles.title, alignment=TA_CENTER, fontSize=24, leading=32
    )
    centred = ParagraphStyle("notice-number", parent=styles.body, alignment=TA_CENTER)
    right = ParagraphStyle("notice-sign", parent=styles.body, alignment=TA_RIGHT, fontSize=10)
    body = ParagraphStyle("notice-body", parent=styles.body, fontSize=10.5, leading=17)
    institution = f"{document['institution_name']}（{document['institution_code']}）"
    if document["institution_name"] == document["institution_code"]:
        institution = str(document["institution_code"])
    rule = f"{document['rule']} {document['title']}".strip()
    findings = document["findings"]
    severity = str(document["severity"])
    try:
        severity_text = label(f"severity_{severity}", "zh")
    except KeyError:
        severity_text = severity
    pairs: list[tuple[str, object]] = [
        ("通知书编号", document["notice_id"]),
        ("案件编号", document["case_id"]),
        ("被通知机构", institution),
        ("所属平台", document["platform_id"] or "（未备案平台）"),
        ("违规事项", rule),
        ("风险等级", severity_text),
        ("重复发生", "是（同类问题整改结案后再次发生）" if document["repeat"] else "否"),
        ("问题记录数", document["finding_count"]),
    ]
    story: list[Flowable] = [
        Paragraph(escaped(label("authority", "zh")), centred),
        Spacer(1, 3 * mm),
        Paragraph("整改通知书", title),
        Paragraph(escaped(f"编号：{document['notice_id']}"), centred),
        Spacer(1, 8 * mm),
        Paragraph(escaped(f"{institution}："), body),
        Paragraph(
            escaped(
                f"经监管平台核查，你单位存在“{rule}”问题（案件 {document['case_id']}，"
                f"共 {document['finding_count']} 条记录，详见下表）。依据下列规定，"
                f"现责令你单位于 {document['deadline']} 前完成整改，并通过监管平台接口提交"
                "整改答复（已整改或异议）。逾期未整改且无被采纳的答复的，监管平台将升级处理。"
            ),
            body,
        ),
        Spacer(1, 4 * mm),
        key_values(styles, pairs),
        Paragraph("法律依据", styles.h2),
        Paragraph(escaped(document["legal_basis"] or "–"), body),
        Paragraph("整改要求", styles.h2),
        Paragraph(escaped(document["required_action"]).replace("\n", "<br/>"), body),
        Paragraph("整改期限", styles.h2),
        Paragraph(escaped(f"{document['deadline']}（北京时间当日 24:00 前）"), body),
        Spacer(1, 6 * mm),
        Paragraph(escaped(f"签发人：{document['issued_by']}"), right),
        Paragraph(escaped(f"签发时间：{_china_time(document['issued_at'])}（北京时间）"), right),
        Paragraph(escaped(f"附：问题记录（共 {len(findings)} 条）"), styles.h2),
    ]
    rows = [
        [
            number,
            finding["record_id"],
            _china_time(finding["found_at"]),
            _evidence_text(finding.get("evidence") or {}),
        ]
        for number, finding in enumerate(findings, start=1)
    ]
    header = ["序号", "记录编号", "发现时间（北京时间）", "主要证据"]
    widths = [11 * mm, 58 * mm, 29 * mm, A4[0] - 2 * MARGIN - 98 * mm]
    story.append(data_table(styles, header, rows or [["", "–", "", ""]], widths))
    story.append(Spacer(1, 4 * mm))
    story.append(
        Paragraph(
            escaped(
                "本通知书由监管平台依据账本中的通知记录生成；页脚所载 SHA-256 为通知书规范化"
                "JSON 的摘要，可与账本条目核对。"
            ),
            styles.small,
        )
    )
    return story


def render_notice_pdf(document: Mapping[str, Any]) -> bytes:
    """The notice as an A4 PDF in Chinese. ``document`` is a notice document (its
    ``findings`` may be any number: the table runs over as many pages as it needs)."""
    font = register_report_font()
    styles = Styles(font)
    digest = notice_sha256(document)
    out = io.BytesIO()
    doc = BaseDocTemplate(
        out,
        pagesize=A4,
        leftMargin=MARGIN,
        rightMargin=MARGIN,
        topMargin=18 * mm,
        bottomMargin=18 * mm,
        title=f"整改通知书 {document['notice_id']}",
        author=label("authority", "zh"),
        subject=str(document["case_id"]),
        creator="careledger",
        invariant=1,
        initialFontName=font,  # no unembedded Helvetica anywhere in the file
    )
    frame = Frame(doc.leftMargin, doc.bottomMargin, doc.width, doc.height, id="body")
    doc.addPageTemplates([PageTemplate(id="page", frames=[frame])])
    header = f"整改通知书 {document['notice_id']} · 案件 {document['case_id']}"

    def canvas_maker(*args: Any, **kwargs: Any) -> _NoticeCanvas:
        return _NoticeCanvas(
            *args, header=header, language="zh", font=font, digest=digest, **kwargs
        )

    doc.build(_story(styles, document), canvasmaker=canvas_maker)
    return out.getvalue()
