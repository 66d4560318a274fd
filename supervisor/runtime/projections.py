"""Search projections: rows derived from ledger entries, and their rebuild by replay.

``record_row`` and ``apply_key_event`` are the only ways a projection row is
made, whether live (in the append's transaction) or on replay, so a rebuild
gives exactly the rows live ingestion gave.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import orjson
from sqlalchemy import Connection, Engine, delete, insert, select

from ledger import schema as ledger_schema
from ledger.canonical import canonical_json
from ledger.database import write_transaction
from ledger.leaf import LeafHeader, decode_leaf
from supervisor.cases.events import CASE_EVENT_ENTRY, apply_case_event
from supervisor.cases.responses import RESPONSE_ENTRY
from supervisor.cases.service import apply_response, open_response
from supervisor.custody.payload_keys import PayloadKeys, SealedPayloadError
from supervisor.database import tables
from supervisor.database.record_counts import recount_records
from supervisor.ground.records import (
    RECORD_ENTRY_PREFIX,
    PayloadMismatchError,
    batch_digest,
    open_committed,
    record_row,
    record_side_rows,
    utc_time,
)
from supervisor.ground.sealed_entries import open_sealed
from supervisor.inspection.access_trail import ACCESS_ENTRY_PREFIX, access_row
from supervisor.inspection.case_grouping import case_key_of, group_findings
from supervisor.inspection.inspector import FINDING_ENTRY, finding_row
from supervisor.inspection.reference_data import REFERENCE_ENTRY_PREFIX, reference_row
from supervisor.inspection.triage import FINDING_ACTION_ENTRY, apply_action, open_action
from supervisor.intake.platforms import KEY_EVENT_TYPES, apply_key_event
from supervisor.reporting.publication import REPORT_ENTRY, report_row, requested_by_of
from supervisor.runtime.schedules import SCHEDULE_ENTRY, apply_schedule_change, schedule_row

__all__ = ["RebuildReport", "rebuild_projections"]


def _project_other(connection: Connection, index: int, entry_type: str, header: LeafHeader) -> None:
    """Rows of the entries that are not records or key events (reference data, findings)."""
    received_at = utc_time(header.received_at)
    if entry_type.startswith(REFERENCE_ENTRY_PREFIX):
        row = reference_row(index, header.statement, received_at)
        connection.execute(insert(tables.reference_versions).values(row))
    elif entry_type == FINDING_ENTRY:
        row = finding_row(index, header.statement, received_at)
        group_findings(connection, [row], [case_key_of(header.statement, received_at)])
        connection.execute(insert(tables.findings).values(row))


@dataclass
class _OpenBatch:
    """A batch being reassembled from its consecutive record entries during replay."""

    platform_id: str
    batch_id: str
    key_id: str
    created_at: str
    first_index: int
    received_at: datetime
    records: list[Any]


@dataclass(frozen=True)
class RebuildReport:
    entries: int
    records: int
    batches: int
    key_events: int
    unreadable: int
    #: Entries whose payload does not match their leaf's commitment: left out of the
    #: projections, and to be restored from a backup.
    tampered: tuple[int, ...] = ()


def _count_unopened(
    counts: dict[str, int], tampered: list[int], index: int, error: Exception
) -> None:
    if isinstance(error, PayloadMismatchError):
        tampered.append(index)
    else:
        counts["unreadable"] += 1


def rebuild_projections(
    engine: Engine,
    keys: PayloadKeys,
    tree_size_of_batch: Callable[[int], int],
    progress: Callable[[int], None] | None = None,
) -> RebuildReport:
    """Empty the projections and replay every ledger entry into them, in one transaction.

    ``tree_size_of_batch(last_index)`` gives the tree size a batch's receipt
    was issued at (the first checkpoint covering it). Payloads that can no
    longer be opened (shredded by retention) are counted, not fatal.
    """
    counts = {"entries": 0, "records": 0, "batches": 0, "key_events": 0, "unreadable": 0}
    tampered: list[int] = []
    with write_transaction(engine) as connection:
        # Processing times were measured, not derived: carry them over.
        timings = {
            (row.platform_id, row.batch_id): row.processing_ms
            for row in connection.execute(
                select(
                    tables.batches.c.platform_id,
                    tables.batches.c.batch_id,
                    tables.batches.c.processing_ms,
                ).where(tables.batches.c.processing_ms.is_not(None))
            )
        }
        for table in (
            tables.records,
            tables.record_counts,
            tables.prescription_fills,
            tables.record_drugs,
            tables.platform_institutions,
            tables.batches,
            tables.platform_keys,
            tables.platforms,
            tables.reference_versions,
            tables.finding_actions,
            tables.findings,
            tables.cases,
            tables.case_events,
            tables.notices,
            tables.notice_responses,
            tables.access_events,
            tables.reports,
            tables.schedules,
        ):
            connection.execute(delete(table))
        batch: _OpenBatch | None = None
        rows: list[dict[str, Any]] = []
        fills: list[dict[str, Any]] = []
        drugs: list[dict[str, Any]] = []

        def flush_records() -> None:
            for table, pending in (
                (tables.records, rows),
                (tables.prescription_fills, fills),
                (tables.record_drugs, drugs),
            ):
                if pending:
                    connection.execute(insert(table), pending)
                    pending.clear()

        def close_batch() -> None:
            nonlocal batch
            if batch is None:
                return
            envelope = {
                "batch_id": batch.batch_id,
                "created_at": batch.created_at,
                "key_id": batch.key_id,
                "platform_id": batch.platform_id,
                "records": batch.records,
            }
            last = batch.first_index + len(batch.records) - 1
            connection.execute(
                insert(tables.batches).values(
                    platform_id=batch.platform_id,
                    batch_id=batch.batch_id,
                    content_digest=batch_digest(canonical_json(envelope)),
                    first_index=batch.first_index,
                    record_count=len(batch.records),
                    tree_size=tree_size_of_batch(last),
                    received_at=batch.received_at,
                    processing_ms=timings.get((batch.platform_id, batch.batch_id)),
                )
            )
            counts["batches"] += 1
            batch = None

        query = select(
            ledger_schema.entries.c.idx,
            ledger_schema.entries.c.type,
            ledger_schema.entries.c.leaf,
            ledger_schema.entries.c.payload,
        ).order_by(ledger_schema.entries.c.idx)
        for entry in connection.execute(query).yield_per(5000):
            counts["entries"] += 1
            header = decode_leaf(entry.leaf)
            statement = header.statement
            if entry.type in KEY_EVENT_TYPES:
                close_batch()
                apply_key_event(connection, entry.idx, entry.type, statement)
                counts["key_events"] += 1
            elif entry.type.startswith(RECORD_ENTRY_PREFIX):
                key = (statement["platform_id"], statement["batch_id"])
                if batch is None or (batch.platform_id, batch.batch_id) != key:
                    close_batch()
                    batch = _OpenBatch(
                        statement["platform_id"],
                        statement["batch_id"],
                        statement["key_id"],
                        statement["batch_created_at"],
                        entry.idx,
                        utc_time(header.received_at),
                        [],
                    )
                try:
                    _, record_bytes = open_committed(
                        keys, statement.get("commitment"), entry.payload, entry.idx
                    )
                except (SealedPayloadError, PayloadMismatchError) as e:
                    _count_unopened(counts, tampered, entry.idx, e)
                    batch.records.append(None)
                    continue
                record = orjson.loads(record_bytes)
                batch.records.append(record)
                rows.append(record_row(keys, entry.idx, record, statement, batch.received_at))
                more_fills, more_drugs = record_side_rows(entry.idx, record)
                fills.extend(more_fills)
                drugs.extend(more_drugs)
                counts["records"] += 1
                if len(rows) >= 5000:
                    flush_records()
            elif entry.type == FINDING_ACTION_ENTRY:
                close_batch()
                try:
                    action = open_action(keys, entry.leaf, entry.payload)
                except (SealedPayloadError, PayloadMismatchError) as e:
                    _count_unopened(counts, tampered, entry.idx, e)
                else:
                    apply_action(connection, entry.idx, action, utc_time(header.received_at))
            elif entry.type == CASE_EVENT_ENTRY:
                close_batch()
                try:
                    event = open_sealed(keys, entry.leaf, entry.payload)
                except (SealedPayloadError, PayloadMismatchError) as e:
                    _count_unopened(counts, tampered, entry.idx, e)
                else:
                    apply_case_event(connection, entry.idx, event, utc_time(header.received_at))
            elif entry.type == RESPONSE_ENTRY:
                close_batch()
                try:
                    envelope = open_response(keys, entry.leaf, entry.payload)
                except (SealedPayloadError, PayloadMismatchError) as e:
                    _count_unopened(counts, tampered, entry.idx, e)
                else:
                    apply_response(
                        connection,
                        entry.idx,
                        statement,
                        envelope,
                        tree_size=tree_size_of_batch(entry.idx),
                        at=utc_time(header.received_at),
                    )
            elif entry.type == REPORT_ENTRY:
                close_batch()
                try:
                    requested_by = requested_by_of(keys, entry.leaf, entry.payload)
                except PayloadMismatchError as e:
                    _count_unopened(counts, tampered, entry.idx, e)
                    requested_by = "unknown"
                at = utc_time(header.received_at)
                connection.execute(
                    insert(tables.reports).values(
                        report_row(entry.idx, statement, requested_by, at)
                    )
                )
            elif entry.type == SCHEDULE_ENTRY:
                close_batch()
                try:
                    changed_by = str(open_sealed(keys, entry.leaf, entry.payload)["username"])
                except SealedPayloadError:
                    changed_by = "unknown"
                except PayloadMismatchError as e:
                    _count_unopened(counts, tampered, entry.idx, e)
                    changed_by = "unknown"
                at = utc_time(header.received_at)
                apply_schedule_change(
                    connection, schedule_row(entry.idx, statement, changed_by, at)
                )
            elif entry.type.startswith(ACCESS_ENTRY_PREFIX):
                close_batch()
                try:
                    details = open_sealed(keys, entry.leaf, entry.payload)
                except (SealedPayloadError, PayloadMismatchError) as e:
                    _count_unopened(counts, tampered, entry.idx, e)
                else:
                    at = utc_time(header.received_at)
                    connection.execute(
                        insert(tables.access_events).values(access_row(entry.idx, details, at))
                    )
            else:
                close_batch()
                _project_other(connection, entry.idx, entry.type, header)
            if progress is not None:
                progress(1)
        close_batch()
        flush_records()
        recount_records(connection)
    return RebuildReport(**counts, tampered=tuple(tampered))
