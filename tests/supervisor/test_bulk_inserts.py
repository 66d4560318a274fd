"""Bulk inserts (``COPY`` on PostgreSQL, Core elsewhere) behave as the INSERTs they replace:
a duplicate raises SQLAlchemy's ``IntegrityError`` (the submission path answers a
concurrent duplicate batch by it) and keeps nothing, server defaults apply, times read
back as the same instants."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from sqlalchemy import Engine, func, select
from sqlalchemy.exc import IntegrityError

from ledger.database import insert_dicts, write_transaction
from supervisor.database import tables

_CST = timezone(timedelta(hours=8))


def _record(index: int, record_id: str) -> dict[str, object]:
    return {
        "entry_index": index,
        "institution_code": "H000000001",
        "record_id": record_id,
        "record_type": "consultation",
        "occurred_at": tables.stored_time(datetime(2026, 11, 30, 23, 30, tzinfo=_CST)),
        "received_at": datetime(2026, 11, 30, 16, 0, 5, 250_000, tzinfo=UTC),
        "platform_id": "PLT-1",
        "batch_id": "b-1",
        "practitioner_license_no": None,
        "patient_pseudonym": None,
        "person_pseudonym": None,
        "amends": None,
        "consultation_record_id": None,
    }


def _count(engine: Engine) -> int:
    with engine.connect() as connection:
        return int(
            connection.execute(select(func.count()).select_from(tables.records)).scalar_one()
        )


def test_a_duplicate_raises_integrity_error_and_keeps_nothing(engine: Engine) -> None:
    with write_transaction(engine) as connection:
        insert_dicts(connection, tables.records, [_record(0, "C-0")])
    with pytest.raises(IntegrityError), write_transaction(engine) as connection:
        insert_dicts(connection, tables.records, [_record(1, "C-1"), _record(2, "C-0")])
    assert _count(engine) == 1
    with write_transaction(engine) as connection:  # the connection is usable again
        insert_dicts(connection, tables.records, [_record(1, "C-1")])
    assert _count(engine) == 2


def test_times_read_back_as_the_same_instants(engine: Engine) -> None:
    row = _record(0, "C-0")
    with write_transaction(engine) as connection:
        insert_dicts(connection, tables.records, [row])
    with engine.connect() as connection:
        stored = connection.execute(select(tables.records)).one()
    assert tables.read_time(stored.occurred_at) == row["occurred_at"]
    assert tables.read_time(stored.received_at) == row["received_at"]
    occurred = tables.records.c.occurred_at
    instant = datetime(2026, 11, 30, 15, 30, tzinfo=UTC)  # 23:30 in China is 15:30 UTC
    with engine.connect() as connection:  # and compare as instants in a query
        matching = connection.execute(
            select(func.count())
            .select_from(tables.records)
            .where(occurred >= instant, occurred < instant + timedelta(seconds=1))
        ).scalar_one()
    assert matching == 1


def test_columns_left_out_take_their_server_default(engine: Engine) -> None:
    finding = {
        "finding_id": "F-1",
        "entry_index": 7,
        "rule_id": "RX-NO-REVIEW",
        "severity": "high",
        "institution_code": "H000000001",
        "record_index": 3,
        "record_id": "R-1",
        "related_indices": "[]",
        "found_at": datetime(2026, 12, 1, tzinfo=UTC),
    }
    with write_transaction(engine) as connection:
        insert_dicts(connection, tables.findings, [finding])
    with engine.connect() as connection:
        assert connection.execute(select(tables.findings.c.state)).scalar_one() == "open"


def test_waiting_records_are_found_by_key_through_their_index(engine: Engine) -> None:
    """The inspector's look-up of records waiting for consultations that just arrived:
    the right rows on both databases, and on SQLite through the index (a row-value IN
    there scans the whole table, which grows by every record that waits)."""
    from sqlalchemy import event

    from supervisor.inspection.related_records import keyed_rows

    pending = tables.inspection_pending
    deadline = datetime(2026, 12, 4, tzinfo=UTC)
    waiting = [(0, "H1", "C-1"), (1, "H1", "C-2"), (2, "H2", "C-1"), (3, "H2", None)]
    with write_transaction(engine) as connection:
        insert_dicts(
            connection,
            pending,
            [
                {"entry_index": i, "deadline": deadline, "institution_code": h, "waiting_for": c}
                for i, h, c in waiting
            ],
        )
    statements: list[tuple[str, object]] = []

    def seen(conn: object, cursor: object, statement: str, parameters: object, *_: object) -> None:
        statements.append((statement, parameters))

    event.listen(engine, "before_cursor_execute", seen)
    with engine.connect() as connection:
        rows = keyed_rows(
            connection, pending.c.waiting_for, [("H1", "C-1"), ("H2", "C-1"), ("H3", "C-1")],
            [pending.c.entry_index],
        )  # fmt: skip
    event.remove(engine, "before_cursor_execute", seen)
    assert sorted(row.entry_index for row in rows) == [0, 2]
    if engine.dialect.name != "sqlite":
        return
    selects = [(s, p) for s, p in statements if s.lstrip().startswith("SELECT")]
    assert selects
    with engine.connect() as connection:
        for statement, parameters in selects:
            plan = connection.exec_driver_sql("EXPLAIN QUERY PLAN " + statement, parameters)  # type: ignore[arg-type]
            steps = " / ".join(str(row[-1]) for row in plan)
            assert "ix_inspection_pending_waiting_for" in steps, steps
