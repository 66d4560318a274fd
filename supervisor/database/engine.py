"""Database set-up: engines from settings and Alembic migrations run programmatically."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import Engine, inspect

from ledger.database import create_ledger_engine
from supervisor.database.roles import RoleError, grant_statements

__all__ = ["MIGRATIONS", "apply_grants", "durability_problems", "open_engine", "upgrade_database"]

#: PostgreSQL settings that must be on for a commit (and so a receipt) to survive a crash.
_DURABLE_SETTINGS = ("fsync", "synchronous_commit", "full_page_writes")

MIGRATIONS = Path(__file__).parent / "migrations"


def open_engine(url: str) -> Engine:
    """An engine for ``url``; SQLite files get their folder created."""
    if url.startswith("sqlite:///") and url != "sqlite:///:memory:":
        Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
    return create_ledger_engine(url)


def durability_problems(engine: Engine) -> list[str]:
    """What would let a committed batch (and its receipt) be lost in a crash, as seen by
    this engine's own connections; empty when commits are durable."""
    problems = []
    with engine.connect() as connection:
        if engine.dialect.name == "sqlite":
            level = int(connection.exec_driver_sql("PRAGMA synchronous").scalar_one())
            if level < 2:  # 2 = FULL, 3 = EXTRA; in WAL mode NORMAL may lose the last commits
                problems.append(f"SQLite synchronous is {level}, not FULL")
            return problems
        for name in _DURABLE_SETTINGS:
            value = connection.exec_driver_sql(f"SHOW {name}").scalar_one()
            if value != "on":
                problems.append(
                    f"PostgreSQL {name} is {value!r}: receipts could be lost in a crash; "
                    f"set {name} = on in postgresql.conf"
                )
    return problems


def upgrade_database(engine: Engine, revision: str = "head") -> None:
    """Bring the schema to ``revision``, the newest by default (idempotent)."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, revision)


def apply_grants(engine: Engine, *, app_role: str, readonly_role: str) -> list[str]:
    """Grant the roles least privilege on every table of the current schema (PostgreSQL)."""
    if engine.dialect.name != "postgresql":
        raise RoleError("grants are for PostgreSQL; an SQLite file has no roles")
    with engine.begin() as connection:
        schema = connection.exec_driver_sql("SELECT current_schema()").scalar_one()
        tables = inspect(connection).get_table_names(schema=schema)
        statements = grant_statements(
            tables, schema=schema, app_role=app_role, readonly_role=readonly_role
        )
        for statement in statements:
            connection.exec_driver_sql(statement)
    return statements
