"""Engines whose transactions give the ledger the serialisation it relies on.

SQLite: WAL journal, ``synchronous=FULL`` (a commit is on disk before a
receipt leaves), and write transactions opened with ``BEGIN IMMEDIATE`` so
concurrent appenders queue on the database lock instead of failing on
upgrade. PostgreSQL: appenders lock the head row (``SELECT ... FOR UPDATE``).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

from sqlalchemy import Connection, Engine, Table, create_engine, event, insert
from sqlalchemy.exc import DBAPIError

__all__ = [
    "create_ledger_engine",
    "insert_dicts",
    "insert_rows",
    "read_transaction",
    "snapshot_transaction",
    "write_transaction",
]

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
    # Pre-ping: after a server restart, pooled connections are dead; check before use.
    # A bounded connect: an unreachable server fails fast (503) instead of hanging workers.
    kwargs.setdefault("connect_args", {"connect_timeout": 5})
    engine = create_engine(url, pool_pre_ping=True, **kwargs)

    @event.listens_for(engine, "connect")
    def _durable_commits(dbapi_connection: Any, _record: Any) -> None:
        # A receipt is handed out only after its commit is durable, whatever the database's
        # or the role's default for synchronous_commit says. (A SET, not the connection's
        # "options", which would replace options given in the URL.)
        with dbapi_connection.cursor() as cursor:
            cursor.execute("SET synchronous_commit = on")
        dbapi_connection.commit()

    return engine


@contextmanager
def write_transaction(engine: Engine) -> Iterator[Connection]:
    """A transaction that may write; on SQLite it holds the write lock from its first statement."""
    with engine.connect() as connection:
        connection.execution_options(**{_WRITE: True})
        with connection.begin():
            yield connection


@contextmanager
def snapshot_transaction(engine: Engine) -> Iterator[Connection]:
    """A read-only transaction that sees one state of the whole database, however long it runs."""
    with engine.connect() as connection:
        if connection.dialect.name != "sqlite":
            connection.execution_options(isolation_level="REPEATABLE READ")
        with connection.begin():
            yield connection


@contextmanager
def read_transaction(engine: Engine) -> Iterator[Connection]:
    """A connection for reading the ledger.

    SQLite: one snapshot (a local BEGIN is free). Elsewhere: autocommit, which
    saves two round trips per request and is safe because readers take the
    head first and everything it covers only ever grows, so later statements
    see a superset of what the head promised.
    """
    with engine.connect() as connection:
        if connection.dialect.name == "sqlite":
            with connection.begin():
                yield connection
        else:
            connection.execution_options(isolation_level="AUTOCOMMIT")
            yield connection


def insert_rows(connection: Connection, table: Table, rows: list[tuple[object, ...]]) -> None:
    """Insert rows given as tuples in ``table``'s column order, in the connection's transaction.

    On SQLite the driver's ``executemany`` takes the tuples as they are
    (SQLAlchemy's per-row parameter processing was a third of append time). With
    psycopg, ``COPY``: the rows stream in one command, and a batch's inserts, which run
    under the head lock, take a fraction of the multi-row INSERTs Core sends otherwise.
    A driver error is raised as SQLAlchemy's (``IntegrityError``, ``OperationalError``),
    as from any other statement.
    """
    if not rows:
        return
    names = [column.name for column in table.columns]
    if connection.dialect.name == "sqlite":
        placeholders = ", ".join("?" * len(names))
        # Names from our own Table objects, never from input; the values are bound.
        sql = f"INSERT INTO {table.name} ({', '.join(names)}) VALUES ({placeholders})"  # nosec B608
        connection.exec_driver_sql(sql, rows)
        return
    if connection.dialect.driver == "psycopg":
        _copy_rows(connection, table.name, names, rows)
        return
    connection.execute(insert(table), [dict(zip(names, row, strict=True)) for row in rows])


def insert_dicts(connection: Connection, table: Table, rows: Sequence[Mapping[str, Any]]) -> None:
    """Insert rows given as column-name mappings, all naming the same columns (the others
    take their server defaults): ``COPY`` with psycopg, else Core (whose type processing
    writes times as SQLite compares them, as text without an offset)."""
    if not rows:
        return
    named = rows[0].keys()
    client_defaults = any(c.default is not None for c in table.columns if c.name not in named)
    if connection.dialect.driver == "psycopg" and not client_defaults:
        names = [column.name for column in table.columns if column.name in named]
        _copy_rows(connection, table.name, names, [tuple(r[n] for n in names) for r in rows])
        return
    connection.execute(insert(table), list(rows))


def _copy_rows(
    connection: Connection, table: str, names: list[str], rows: list[tuple[object, ...]]
) -> None:
    import psycopg

    sql = f"COPY {table} ({', '.join(names)}) FROM STDIN"
    raw: Any = connection.connection.dbapi_connection
    try:
        with raw.cursor() as cursor, cursor.copy(sql) as copy:
            for row in rows:
                copy.write_row(row)
    except psycopg.Error as e:
        raise DBAPIError.instance(sql, None, e, psycopg.Error) from e
