"""Records received per day, institution and type: the summary rows the dashboard counts.

Kept where records come and go (the submission's append transaction, retention's
forgetting) and recounted from ``records`` by ``projections rebuild`` and by the
migration that added them. A day is China Standard Time's, as the dashboard's.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from datetime import date, datetime, timedelta, timezone
from typing import Any

from sqlalchemy import Connection, delete, select
from sqlalchemy.dialects import postgresql, sqlite

from supervisor.database import tables

__all__ = ["CHINA", "add_record_counts", "china_day", "count_rows", "recount_records"]

CHINA = timezone(timedelta(hours=8))

#: (day, institution code, record type)
CountKey = tuple[date, str, str]


def china_day(received_at: datetime) -> date:
    """The China Standard Time day of a stored (UTC) time."""
    return tables.read_time(received_at).astimezone(CHINA).date()


def count_rows(rows: Iterable[Mapping[Any, Any]]) -> Counter[CountKey]:
    """Counts of ``records`` rows (or anything with their three columns)."""
    return Counter(
        (china_day(row["received_at"]), row["institution_code"], row["record_type"]) for row in rows
    )


def add_record_counts(connection: Connection, counts: Mapping[CountKey, int]) -> None:
    """Add ``counts`` (negative to take away) to the summary rows; a row that reaches zero
    goes, so that the rows are always what a recount gives."""
    table = tables.record_counts
    changes = [
        {"day": day, "institution_code": code, "record_type": kind, "records": n}
        for (day, code, kind), n in sorted(counts.items())
        if n
    ]
    if not changes:
        return
    dialect = postgresql if connection.dialect.name == "postgresql" else sqlite
    statement = dialect.insert(table)
    connection.execute(
        statement.on_conflict_do_update(
            index_elements=[table.c.day, table.c.institution_code, table.c.record_type],
            set_={"records": table.c.records + statement.excluded.records},
        ),
        changes,
    )
    if any(n < 0 for n in counts.values()):
        connection.execute(delete(table).where(table.c.records <= 0))


def recount_records(connection: Connection) -> int:
    """Replace the summary rows by a count of every row of ``records``; returns the rows."""
    r = tables.records.c
    query = select(r.received_at, r.institution_code, r.record_type)
    counts = count_rows(connection.execute(query.execution_options(yield_per=10_000)).mappings())
    connection.execute(delete(tables.record_counts))
    add_record_counts(connection, counts)
    return len(counts)
