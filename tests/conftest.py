"""Shared fixtures: a fresh database per test, on SQLite and on PostgreSQL.

PostgreSQL tests use a throwaway schema in the database named by
``CARELEDGER_TEST_POSTGRES_URL`` (default: the local server's ``test``
database). When it is not reachable they fail, saying how to start it
(``tests/system_tools.py``; ``CARELEDGER_TEST_ALLOW_SKIP=1`` skips them).
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
import sqlalchemy
from sqlalchemy import Engine

from ledger.integrity import verify_stored_log
from ledger.note import Signer
from ledger.store import LedgerStore
from supervisor.database.engine import open_engine, upgrade_database
from tests.system_tools import unavailable

POSTGRES_URL = os.environ.get(
    "CARELEDGER_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
FROZEN_NOW = datetime(2026, 11, 23, 8, 0, 0, tzinfo=UTC)


def _postgres_reachable() -> str | None:
    try:
        engine = sqlalchemy.create_engine(POSTGRES_URL, connect_args={"connect_timeout": 3})
        with engine.connect() as connection:
            connection.exec_driver_sql("SELECT 1")
        engine.dispose()
    except sqlalchemy.exc.OperationalError as e:
        return str(e).splitlines()[0]
    return None


_POSTGRES_DOWN: list[str | None] = []


def postgres_schema_url() -> Iterator[str]:
    if not _POSTGRES_DOWN:
        _POSTGRES_DOWN.append(_postgres_reachable())
    if _POSTGRES_DOWN[0] is not None:
        message = f"PostgreSQL not reachable at {POSTGRES_URL}: {_POSTGRES_DOWN[0]}"
        unavailable(
            message + ": start it (pg_ctlcluster --skip-systemctl-redirect "
            "$(ls /etc/postgresql) main start) or apt-get install postgresql"
        )
    schema = f"t_{uuid.uuid4().hex[:12]}"
    admin = sqlalchemy.create_engine(POSTGRES_URL)
    with admin.begin() as connection:
        connection.exec_driver_sql(f"CREATE SCHEMA {schema}")
    try:
        yield f"{POSTGRES_URL}?options=-csearch_path%3D{schema}"
    finally:
        with admin.begin() as connection:
            connection.exec_driver_sql(f"DROP SCHEMA {schema} CASCADE")
        admin.dispose()


def empty_database(kind: str, folder: Path) -> Iterator[str]:
    """Yields one URL of an empty database: an SQLite file in ``folder``, or a fresh
    PostgreSQL schema, dropped once the generator is exhausted (a module-scoped fixture
    takes ``next()`` of it, then exhausts it at teardown)."""
    if kind == "sqlite":
        yield f"sqlite:///{folder / 'careledger.db'}"
    else:
        yield from postgres_schema_url()


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    """A URL of an empty database: an SQLite file, or a fresh PostgreSQL schema."""
    yield from empty_database(request.param, tmp_path_factory.mktemp("db"))


@pytest.fixture
def engine(database_url: str) -> Iterator[Engine]:
    engine = open_engine(database_url)
    upgrade_database(engine)
    yield engine
    engine.dispose()


@pytest.fixture
def signer() -> Signer:
    return Signer.generate("test.careledger.local/log")


@pytest.fixture
def store(engine: Engine, signer: Signer) -> Iterator[LedgerStore]:
    """A signing ledger store; after the test the whole log must still verify."""
    store = LedgerStore(engine, signer)
    yield store
    result = verify_stored_log(engine, signer.verifier)
    assert result.ok, result.discrepancy


@pytest.fixture
def now() -> datetime:
    return FROZEN_NOW


#: Modules that take minutes, in the order they are started: ``--dist loadscope`` hands
#: whole modules to the two workers in collection order, and one of these collected last
#: kept a worker busy alone for its last minutes (the portal walk alone takes five).
_LONGEST_FIRST = (
    "tests/e2e/test_portal_walk.py",
    "tests/supervisor/test_cases.py",
    "tests/e2e/test_platform_api_live.py",
    "tests/e2e/test_faults_live.py",
    "tests/supervisor/test_inspection.py",
    "tests/supervisor/test_pharmacy_accuracy.py",
    "tests/supervisor/test_reports.py",
    "tests/reports/test_assessment_v2.py",
    "tests/reports/test_assessment_v3.py",
    "tests/e2e/test_pharmacy_journey.py",
    "tests/e2e/test_portal_browser.py",
)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    rank = {module: place for place, module in enumerate(_LONGEST_FIRST)}
    # A stable sort: each module's tests keep their order, and so do the other modules.
    items.sort(key=lambda item: rank.get(item.nodeid.split("::", 1)[0], len(rank)))
