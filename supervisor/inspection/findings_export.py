"""Findings for regulators and tests: the projection joined with each finding's sealed
document (evidence, legal basis), as JSON Lines or CSV."""

from __future__ import annotations

import io
from collections.abc import Iterable, Iterator, Mapping
from typing import IO, Any

import orjson
from sqlalchemy import Engine, select

from ledger import schema as ledger_schema
from ledger.database import snapshot_transaction
from reports.spreadsheet import SpreadsheetWriter, bilingual_header, china_time_text
from supervisor.custody.payload_keys import PayloadKeys, SealedPayloadError
from supervisor.database import tables
from supervisor.ground.records import PayloadMismatchError, open_leaf_payload
from supervisor.inspection.inspector import FINDING_ENTRY

__all__ = ["CSV_COLUMNS", "CSV_HEADERS", "findings", "write_findings", "write_table"]

#: The CSV's columns: machine name, and the Chinese a regulator reads beside it in the header
#: (``发现时间（北京时间） / found_at``; ``reports.spreadsheet.read_table`` reads it back).
CSV_HEADERS = {
    "finding_id": "监管发现编号",
    "rule": "规则",
    "severity": "严重程度",
    "institution_code": "机构代码",
    "record_id": "记录编号",
    "record_index": "记录账本序号",
    "related_indices": "关联记录账本序号",
    "entry_index": "监管发现账本序号",
    "found_at": "发现时间（北京时间）",
    "legal_basis": "法律依据",
    "evidence": "证据",
    "policy_sha256": "监管策略 SHA-256",
    "reference_versions": "基础数据版本",
}
CSV_COLUMNS = tuple(CSV_HEADERS)


def findings(
    engine: Engine, keys: PayloadKeys, *, rule: str | None = None, institution: str | None = None
) -> Iterator[dict[str, Any]]:
    """Every finding (filtered), in ledger order, with its entry index and time found."""
    f = tables.findings.c
    entries = ledger_schema.entries
    query = (
        select(f.entry_index, f.found_at, entries.c.leaf, entries.c.payload, entries.c.type)
        .join(entries, entries.c.idx == f.entry_index)
        .order_by(f.entry_index)
    )
    if rule is not None:
        query = query.where(f.rule_id == rule)
    if institution is not None:
        query = query.where(f.institution_code == institution)
    with snapshot_transaction(engine) as connection:
        for row in connection.execute(query.execution_options(yield_per=2000)):
            assert row.type == FINDING_ENTRY
            try:
                document = orjson.loads(open_leaf_payload(keys, row.leaf, row.payload))
            except SealedPayloadError:
                document = {"unreadable": "the finding's data key was destroyed (retention)"}
            except PayloadMismatchError as e:
                document = {"unreadable": str(e)}  # never content the ledger does not vouch for
            yield {
                **document,
                "entry_index": row.entry_index,
                # In the province's time, offset included (+08:00), as regulators read it.
                "found_at": china_time_text(tables.read_time(row.found_at)),
            }


def write_findings(rows: Iterator[dict[str, Any]], out: IO[bytes], fmt: str) -> int:
    """Write findings as ``jsonl`` or ``csv`` (see ``write_table``)."""
    return write_table(rows, out, fmt, CSV_HEADERS)


def write_table(
    rows: Iterable[dict[str, Any]], out: IO[bytes], fmt: str, headers: Mapping[str, str]
) -> int:
    """Write ``rows`` as ``jsonl`` or ``csv`` (UTF-8 with BOM, so spreadsheets read Chinese;
    a header row of Chinese and machine names, ``规则 / rule``; ``headers`` maps each
    column's machine name to its Chinese label, in order)."""
    count = 0
    if fmt == "jsonl":
        for row in rows:
            out.write(orjson.dumps(row, option=orjson.OPT_SORT_KEYS) + b"\n")
            count += 1
        return count
    if fmt != "csv":
        raise ValueError(f"unknown format {fmt!r}")
    out.write("\ufeff".encode())
    buffer = io.StringIO(newline="")
    writer = SpreadsheetWriter(buffer, lineterminator="\n")
    writer.writerow(bilingual_header(headers))
    for row in rows:
        values = []
        for column in headers:
            value = row.get(column)
            if isinstance(value, dict | list):
                value = orjson.dumps(value, option=orjson.OPT_SORT_KEYS).decode()
            values.append("" if value is None else value)
        writer.writerow(values)
        count += 1
        if buffer.tell() > 1 << 16:
            out.write(buffer.getvalue().encode())
            buffer.seek(0)
            buffer.truncate()
    out.write(buffer.getvalue().encode())
    return count
