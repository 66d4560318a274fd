"""Every fill of a prescription is found through the index on the prescription's key,
never by reading the dispensings of a province: the query plan says so on both databases,
with a table large enough that the planner would rather scan if it could."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import Engine, event, text

from supervisor.database import tables
from supervisor.inspection.related_records import keyed_rows

pytestmark = pytest.mark.database

ROWS = 60_000


def _fill_rows() -> list[dict[str, Any]]:
    return [
        {
            "entry_index": n,
            "prescription_institution_code": f"H33010{(n // 2) % 40:04d}",
            "prescription_record_id": f"RX-{n // 2:06d}",
            "pharmacy_code": f"D3301{n % 300:05d}",
            "record_id": f"FILL-{n:06d}",
        }
        for n in range(ROWS)
    ]


def _plan(engine: Engine, keys: list[tuple[str, str]]) -> str:
    """The plan of the statement the inspector runs for these prescriptions."""
    fills = tables.prescription_fills.c
    seen: list[tuple[str, Any]] = []

    def capture(conn: Any, cursor: Any, statement: str, parameters: Any, *_: Any) -> None:
        seen.append((statement, parameters))

    with engine.connect() as connection:
        event.listen(connection, "before_cursor_execute", capture)
        found = keyed_rows(
            connection,
            fills.prescription_record_id,
            keys,
            [fills.entry_index],
            institution_column=fills.prescription_institution_code,
        )
        event.remove(connection, "before_cursor_execute", capture)
        assert sorted(r.entry_index for r in found) == [100, 101], "both fills of RX-000050"
        (statement, parameters) = seen[-1]
        prefix = "EXPLAIN QUERY PLAN " if engine.dialect.name == "sqlite" else "EXPLAIN "
        raw: Any = connection.connection.dbapi_connection
        cursor = raw.cursor()
        try:
            cursor.execute(prefix + statement, parameters)
            return "\n".join(" ".join(str(c) for c in row) for row in cursor.fetchall())
        finally:
            cursor.close()


def test_the_fills_of_a_prescription_are_an_index_lookup(engine: Engine) -> None:
    with engine.begin() as connection:
        connection.execute(tables.prescription_fills.insert(), _fill_rows())
        connection.execute(text("ANALYZE"))
    plan = _plan(engine, [("H330100010", "RX-000050")])
    assert "ix_prescription_fills_prescription" in plan, plan
    # SQLite names the table by its alias (t); a scan of the index itself is a scan too.
    assert "SCAN t" not in plan and "SCAN prescription_fills" not in plan, plan
    assert "Seq Scan" not in plan, plan
