"""Findings for regulators and tests: the projection joined with each finding's sealed
document (evidence, legal basis), as JSON Lines or CSV."""

from __future__ import annotations

import io
from collections.abc import Iterator
from typing import IO, Any

import orjson
from sqlalchemy import Engine, select

from ledger import schema as ledger_schema
from ledger.database import snapshot_transaction
from reports.spreadsheet import SpreadsheetWriter
from supervisor.custody.payload_keys import PayloadKeys, SealedPayloadError
from supervisor.database import tables
from supervisor.ground.china_time import PROVINCE_ZONE
from supervisor.ground.records import PayloadMismatchError, open_leaf_payload
from supervisor.inspection.inspector import FINDING_ENTRY

__all__ = ["CSV_COLUMNS", "findings", "write_findings"]

CSV_COLUMNS = (
    "finding_id",
    "rule",
    "severity",
    "institution_code",
    "record_id",
    "record_index",
    "related_indices",
    "entry_index",
    "found_at",
    "legal_basis",
    "evidence",
    "policy_sha256",
    "reference_versions",
)


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
                "found_at": tables.read_time(row.found_at).astimezone(PROVINCE_ZONE).isoformat(),
            }


def write_findings(rows: Iterator[dict[str, Any]], out: IO[bytes], fmt: str) -> int:
    """Write ``rows`` as ``jsonl`` or ``csv`` (UTF-8 with BOM, so spreadsheets read Chinese)."""
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
    writer.writerow(CSV_COLUMNS)
    for row in rows:
        values = []
        for column in CSV_COLUMNS:
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
