"""Cases as rows for people and scripts: ``careledger cases list`` and the portal's CSV."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

from reports.spreadsheet import china_time_text
from supervisor.database import tables

__all__ = ["CASE_HEADERS", "case_rows"]

#: Columns, machine name -> Chinese label, in order.
CASE_HEADERS = {
    "case_id": "案件编号",
    "rule": "规则",
    "institution_code": "机构编码",
    "state": "状态",
    "severity": "严重程度",
    "repeat": "重复发生",
    "finding_count": "发现数",
    "first_seen": "首次发现",
    "last_seen": "最近发现",
    "deadline": "整改期限",
    "notice_id": "整改通知书编号",
}


def case_rows(cases: Iterable[Any]) -> Iterator[dict[str, Any]]:
    """One row per ``cases`` row, times in China time."""
    for case in cases:
        yield {
            "case_id": case.case_id,
            "rule": case.rule_id,
            "institution_code": case.institution_code,
            "state": case.state,
            "severity": case.severity,
            "repeat": bool(case.repeat),
            "finding_count": case.finding_count,
            "first_seen": china_time_text(tables.read_time(case.first_seen)),
            "last_seen": china_time_text(tables.read_time(case.last_seen)),
            "deadline": case.deadline,
            "notice_id": case.notice_id,
        }
