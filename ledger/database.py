"""Engines whose transactions give the ledger the serialisation it relies on.

SQLite: WAL journal, ``synchronous=FULL`` (a commit is on disk before a
receipt leaves), and write transactions opened with ``BEGIN IMMEDIATE`` so
concurrent appenders queue on the database lock instead of failing on
upgrade. PostgreSQL: appenders lock the head row (``SELECT ... FOR UPDATE``).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, event

__all__ = ["create_ledger_engine", "read_transaction", "write_transaction"]

_WRITE = "careledger_write"
_BUSY_TIMEOUT_MS = 120_000


def _configure_sqlite(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Take transaction control from the sqlite3 module so BEGIN is ours.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=FULL")
        cursor.execute(f"PRAGMA busy_timeout={_BUSY_TIMEOUT_MS}")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Connection) -> None:
        writing = connection.get_execution_options().get(_WRITE, False)
        connection.exec_driver_sql("BEGIN IMMEDIATE" if writing else "BEGIN")


def create_ledger_engine(url: str, **kwargs: Any) -> Engine:
    """An engine for ``url`` set up for the ledger's transaction discipline."""
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"timeout": _BUSY_TIMEOUT_MS / 1000}, **kwargs)
        _configure_sqlite(engine)
        return engine
    return create_engine(url, pool_pre_ping=True, **kwargs)


@contextmanager
def write_transaction(engine: Engine) -> Iterator[Connection]:
    """A transaction that may write; on SQLite it holds the write lock from its first statement."""
    with engine.connect() as connection:
        connection.execution_options(**{_WRITE: True})
        with connection.begin():
            yield connection


@contextmanager
def read_transaction(engine: Engine) -> Iterator[Connection]:
    """A read-only transaction (one snapshot on SQLite)."""
    with engine.connect() as connection, connection.begin():
        yield connection
