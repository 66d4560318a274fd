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
from supervisor import tables

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
