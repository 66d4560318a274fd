"""A report's data as files: the JSON that is hashed into the ledger, and a CSV beside it.

The CSV's header row is bilingual (``机构编码 / institution_code``, read back by
``reports.spreadsheet.read_table``); its periods are China Standard Time
calendar periods, and its header says so. The JSON's format is left as it is:
its hash is in every publication entry and ``report verify`` recomputes it, so
a changed format would fail the reports published before.

The JSON is RFC 8785 canonical (``ledger.canonical``) with every fractional
number written as a decimal string, so that anyone can recompute its hash
from the numbers alone, in any language, and regenerating a report at the
same checkpoint gives the same bytes. Nothing time-dependent goes in: not
when it was generated, not by whom; those belong to the publication entry.
"""

from __future__ import annotations

import io
from collections.abc import Mapping
from dataclasses import dataclass
from hashlib import sha256
from typing import Any

from ledger.canonical import canonical_json

from .spreadsheet import SpreadsheetWriter, bilingual_header

__all__ = [
    "ReportBasis",
    "ReportData",
    "decimal_text",
    "plain_numbers",
    "report_data",
]

FORMAT = "careledger-report/1"


def decimal_text(value: float) -> str:
    """A fraction as the shortest decimal string with at most four places (``0.95``, ``12``)."""
    text = f"{value:.4f}".rstrip("0").rstrip(".")
    return "0" if text == "-0" else text


def plain_numbers(value: Any) -> Any:
    """``value`` with floats turned into decimal strings (canonical JSON has no floats)."""
    if isinstance(value, float):
        return decimal_text(value)
    if isinstance(value, Mapping):
        return {str(k): plain_numbers(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [plain_numbers(v) for v in value]
    return value


@dataclass(frozen=True)
class ReportBasis:
    """What a report was computed from; all of it is in the data and in the publication."""

    log_origin: str
    tree_size: int
    root_hash: str  # hex
    checkpoint: str  # the signed note, verbatim
    reference_versions: Mapping[str, str]
    methodology_version: str | None
    methodology_sha256: str | None
    records_unreadable: int

    def document(self) -> dict[str, Any]:
        return {
            "log_origin": self.log_origin,
            "tree_size": self.tree_size,
            "root_hash": self.root_hash,
            "checkpoint": self.checkpoint,
            "reference_versions": dict(self.reference_versions),
            "methodology": None
            if self.methodology_sha256 is None
            else {"version": self.methodology_version, "sha256": self.methodology_sha256},
            "records_unreadable": self.records_unreadable,
        }


@dataclass(frozen=True)
class ReportData:
    """The exported bytes of one report and their hashes."""

    report_id: str
    kind: str
    period: str
    document: Mapping[str, Any]
    json_bytes: bytes
    csv_bytes: bytes

    @property
    def data_sha256(self) -> str:
        return sha256(self.json_bytes).hexdigest()

    @property
    def csv_sha256(self) -> str:
        return sha256(self.csv_bytes).hexdigest()


def report_id(kind: str, period: str, tree_size: int, edition: str | None = None) -> str:
    """One report per kind, period, checkpoint and edition: regenerating it gives the same
    id, and editions never share one (``assessment-2026-10-at-196`` for the first, as ever;
    ``assessment-2026-10-v2-at-196`` for ``assessment-v2``)."""
    if edition is None:
        return f"{kind}-{period}-at-{tree_size}"
    return f"{kind}-{period}-{edition.removeprefix(kind + '-')}-at-{tree_size}"


def report_data(
    kind: str,
    period: str,
    basis: ReportBasis,
    body: Mapping[str, Any],
    edition: str | None = None,
) -> ReportData:
    """The data document of a report (``body`` is ``Assessment.document()`` or a digest's);
    ``edition`` names a version after the first (None: the first, as ever computed)."""
    identifier = report_id(kind, period, basis.tree_size, edition)
    document = plain_numbers(
        {
            "format": FORMAT,
            "report_id": identifier,
            "kind": kind,
            "period": period,
            "basis": basis.document(),
            kind: dict(body),
        }
    )
    if kind != "assessment":
        csv_bytes = _digest_csv(document)
    elif "pharmacy_assessment" in document["assessment"]:
        csv_bytes = _assessment_v3_csv(document)
    elif "spread" in document["assessment"]["province"]:
        csv_bytes = _assessment_v2_csv(document)
    else:
        csv_bytes = _assessment_csv(document)
    return ReportData(identifier, kind, period, document, canonical_json(document), csv_bytes)


def _csv(header: Mapping[str, str], rows: list[list[Any]]) -> bytes:
    """``header`` maps each column's machine name to its Chinese label, in column order."""
    out = io.StringIO()
    writer = SpreadsheetWriter(out, lineterminator="\r\n")
    writer.writerow(bilingual_header(header))
    for row in rows:
        writer.writerow(row)
    # UTF-8 with a byte-order mark: spreadsheet programs used by regulators then read Chinese.
    return b"\xef\xbb\xbf" + out.getvalue().encode("utf-8")


def _assessment_csv(document: Mapping[str, Any]) -> bytes:
    """One row per institution and indicator, ranked institutions first."""
    rows: list[list[Any]] = []
    for item in document["assessment"]["institutions"]:
        for indicator in item["indicators"]:
            rows.append(
                [
                    document["period"],
                    item["rank"],
                    item["institution_code"],
                    item["name"],
                    item["kind"],
                    item["score"],
                    indicator["id"],
                    indicator["numerator"],
                    indicator["denominator"],
                    indicator["value"],
                    indicator["score"],
                    item["province_median"].get(indicator["id"]),
                    item["peer_median"].get(indicator["id"]),
                ]
            )
    header = {
        "period": "考核周期（北京时间）",
        "rank": "排名",
        "institution_code": "机构编码",
        "institution_name": "机构名称",
        "institution_kind": "机构类型",
        "total_score": "综合得分",
        "indicator": "指标",
        "numerator": "分子",
        "denominator": "分母",
        "value": "指标值",
        "indicator_score": "指标得分",
        "province_median": "全省中位数",
        "peer_median": "同类中位数",
    }
    return _csv(header, rows)


def _assessment_v2_csv(document: Mapping[str, Any]) -> bytes:
    """One row per institution and indicator, its rating, quality, case penalty and vetoes,
    then the province's spread of rated scores (institution code ``*``)."""
    rows: list[list[Any]] = []
    period = document["period"]
    body = document["assessment"]
    for item in body["institutions"]:
        veto = " ".join(f"{v['rule']}:{v['case_id']}" for v in item["veto"])
        for indicator in item["indicators"]:
            rows.append(
                [
                    period, item["rank"], item["institution_code"], item["name"], item["kind"],
                    item["rating"], item["score"], item["quality_score"], item["case_penalty"],
                    veto, indicator["id"], indicator["numerator"], indicator["denominator"],
                    indicator["value"], indicator["score"],
                    item["province_median"].get(indicator["id"]),
                    item["peer_median"].get(indicator["id"]),
                ]
            )  # fmt: skip
    for key, value in body["province"]["spread"].items():
        rows.append([period, None, "*", None, None, None, None, None, None, None,
                     f"spread_{key}", None, None, value, None, None, None])  # fmt: skip
    return _csv(_V2_HEADER, rows)


_V2_HEADER = {
    "period": "考核周期（北京时间）",
    "rank": "排名",
    "institution_code": "机构编码",
    "institution_name": "机构名称",
    "institution_kind": "机构类型",
    "rating": "评级状态",
    "total_score": "综合得分",
    "quality_score": "质量得分",
    "case_penalty": "案件扣分",
    "veto": "一票否决（规则:案件）",
    "indicator": "指标",
    "numerator": "分子",
    "denominator": "分母",
    "value": "指标值",
    "indicator_score": "指标得分",
    "province_median": "全省中位数",
    "peer_median": "同类中位数",
}
#: v3 names the section (hospitals or pharmacies) first, then v2's columns.
_V3_HEADER = {"section": "考核对象", **_V2_HEADER}


def _v3_rows(section: str, period: str, items: list[Any], spread: Mapping[str, Any]) -> list[Any]:
    rows: list[list[Any]] = []
    for item in items:
        veto = " ".join(f"{v['rule']}:{v['case_id']}" for v in item["veto"])
        for indicator in item["indicators"]:
            rows.append(
                [
                    section, period, item["rank"], item["institution_code"], item["name"],
                    item["kind"], item["rating"], item["score"], item["quality_score"],
                    item["case_penalty"], veto, indicator["id"], indicator["numerator"],
                    indicator["denominator"], indicator["value"], indicator["score"],
                    item["province_median"].get(indicator["id"]),
                    item["peer_median"].get(indicator["id"]),
                ]
            )  # fmt: skip
    for key, value in spread.items():
        rows.append([section, period, None, "*", None, None, None, None, None, None, None,
                     f"spread_{key}", None, None, value, None, None, None])  # fmt: skip
    return rows


def _assessment_v3_csv(document: Mapping[str, Any]) -> bytes:
    """As version 2's, with a first column saying whose row it is: the hospitals'
    (``institution``), then the pharmacies' (``pharmacy``), each with its spread."""
    period = document["period"]
    body = document["assessment"]
    pharmacies = body["pharmacy_assessment"]
    rows = _v3_rows("institution", period, body["institutions"], body["province"]["spread"])
    rows += _v3_rows("pharmacy", period, pharmacies["pharmacies"], pharmacies["province"]["spread"])
    return _csv(_V3_HEADER, rows)


def _flat(value: Any) -> Any:
    """A list or object inside one CSV cell: ``a b`` and ``key:value key:value``."""
    if isinstance(value, list):
        return " ".join(str(v) for v in value)
    if isinstance(value, Mapping):
        return " ".join(f"{k}:{v}" for k, v in value.items())
    return value


def _drug_rows(document: Mapping[str, Any]) -> list[list[Any]]:
    """The drugs section's rows (digest-v3 on; absent before, whose bytes stay)."""
    drugs = document["digest"].get("drugs")
    if drugs is None:
        return []
    period = document["period"]
    rows: list[list[Any]] = []
    for section in ("double_fills", "controlled_online", "cold_chain_breaches"):
        for position, item in enumerate(drugs[section], start=1):
            details = "; ".join(
                f"{k}={_flat(v)}" for k, v in sorted(item.items()) if k != "finding_id"
            )
            rows.append([period, f"drugs_{section}", position, item["finding_id"], details])
    for key, value in drugs["records"].items():
        rows.append([period, "drugs_records", "", key, value])
    for what in ("new_findings", "new_cases"):
        for key, value in drugs[what]["by_rule"].items():
            rows.append([period, f"drugs_{what}_by_rule", "", key, value])
    return rows


def _digest_csv(document: Mapping[str, Any]) -> bytes:
    """One row per listed item: section, subject and the item's fields as ``key=value``."""
    digest = document["digest"]
    rows: list[list[Any]] = []
    for section, subject_key in (
        ("top_institutions", "code"),
        ("top_practitioners", "code"),
        ("overdue_rectifications", "finding_id"),
        ("volume_spikes", "institution_code"),
        ("prescribing_anomalies", "license_no"),
    ):
        for position, item in enumerate(digest[section], start=1):
            details = "; ".join(f"{k}={v}" for k, v in sorted(item.items()) if k != subject_key)
            rows.append([document["period"], section, position, item[subject_key], details])
    # Sections of later editions (absent from digest-v1 documents, whose bytes stay).
    for section, subject_key in (("escalated_cases", "case_id"), ("overdue_notices", "notice_id")):
        for position, item in enumerate(digest.get(section, ()), start=1):
            details = "; ".join(f"{k}={v}" for k, v in sorted(item.items()) if k != subject_key)
            rows.append([document["period"], section, position, item[subject_key], details])
    for key, value in sorted(digest["new_findings"]["by_severity"].items()):
        rows.append([document["period"], "new_findings_by_severity", "", key, value])
    for key, value in sorted(digest["new_findings"]["by_rule"].items()):
        rows.append([document["period"], "new_findings_by_rule", "", key, value])
    rows += _drug_rows(document)
    header = {
        "period": "简报周期（北京时间）",
        "section": "栏目",
        "position": "序号",
        "subject": "对象",
        "details": "详情",
    }
    return _csv(header, rows)
