"""What an attacker with full rights over the database does before rewriting the ledger.

The schema refuses UPDATE and DELETE on ledger rows (migration 0012). Tests
that show how tampering is *detected* first take those guards down, as a
PostgreSQL superuser (``session_replication_role = replica``, for the
transaction) or someone editing the SQLite file (dropping the triggers) could.
"""

from __future__ import annotations

from sqlalchemy import Connection

__all__ = ["take_down_ledger_guards"]


def take_down_ledger_guards(connection: Connection) -> None:
    if connection.dialect.name == "postgresql":
        connection.exec_driver_sql("SET LOCAL session_replication_role = replica")
        return
    triggers = connection.exec_driver_sql(
        "SELECT name FROM sqlite_master WHERE type = 'trigger' AND tbl_name LIKE 'ledger_%'"
    ).scalars()
    for name in list(triggers):
        connection.exec_driver_sql(f"DROP TRIGGER {name}")
