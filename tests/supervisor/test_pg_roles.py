"""Least privilege on PostgreSQL: the portal's role appends to the ledger and cannot rewrite it.

A real server, real roles: the owner migrates and grants with ``careledger db
upgrade``; the portal then runs as the app role, accepts a batch, and every
attempt of that role to change, delete or truncate ledger rows, or to change
the schema, is refused by the database.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy
from click.testing import CliRunner
from sqlalchemy import Engine
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DatabaseError

from supervisor.cli import cli
from supervisor.config import Settings
from supervisor.database.roles import APPEND_ONLY, GROW_ONLY, RoleError, app_privileges
from supervisor.web.app import create_app
from tests.conftest import POSTGRES_URL, postgres_schema_url

from .conftest import Portal, make_portal


def test_the_app_role_may_only_append_to_the_ledger() -> None:
    for table in APPEND_ONLY:
        assert app_privileges(table) == ("SELECT", "INSERT")
    for table in GROW_ONLY:  # UPDATE only as far as migration 0012's triggers allow: growth
        assert "DELETE" not in app_privileges(table)
    assert app_privileges("alembic_version") == ("SELECT",)
    assert "DELETE" in app_privileges("portal_sessions")  # sessions do end


@pytest.mark.parametrize("name", ["Careledger", "app; DROP TABLE x", "app role", ""])
def test_role_names_must_be_plain_identifiers(name: str) -> None:
    from supervisor.database.roles import grant_statements

    with pytest.raises(RoleError):
        grant_statements(["records"], schema="public", app_role=name, readonly_role="ro")


@pytest.fixture
def owner_url() -> Iterator[str]:
    yield from postgres_schema_url()


@pytest.fixture
def roles() -> Iterator[tuple[str, str]]:
    suffix = uuid.uuid4().hex[:8]
    app, readonly = f"careledger_app_{suffix}", f"careledger_ro_{suffix}"
    admin = sqlalchemy.create_engine(POSTGRES_URL)
    with admin.begin() as connection:
        for role in (app, readonly):
            connection.exec_driver_sql(f"CREATE ROLE {role} LOGIN")
    yield app, readonly
    with admin.begin() as connection:
        for role in (app, readonly):
            connection.exec_driver_sql(f"DROP OWNED BY {role}")
            connection.exec_driver_sql(f"DROP ROLE {role}")
    admin.dispose()


def _as(url: str, role: str) -> str:
    return make_url(url).set(username=role).render_as_string(hide_password=False)


def _refused(engine: Engine, statement: str, reason: str) -> None:
    with pytest.raises(DatabaseError, match=reason), engine.begin() as connection:
        connection.exec_driver_sql(statement)


@pytest.mark.database
def test_the_portal_role_appends_but_the_database_refuses_it_any_rewrite(
    tmp_path: Path, owner_url: str, roles: tuple[str, str]
) -> None:
    app_role, readonly_role = roles
    owner = make_portal(tmp_path / "var", owner_url)  # initialised and migrated as the owner
    upgraded = CliRunner().invoke(
        cli,
        ["db", "upgrade"],
        env={
            "CARELEDGER_DATA_DIR": str(tmp_path / "var"),
            "CARELEDGER_DATABASE_URL": owner_url,
            "CARELEDGER_DATABASE_APP_ROLE": app_role,
            "CARELEDGER_DATABASE_READONLY_ROLE": readonly_role,
        },
    )
    assert upgraded.exit_code == 0, upgraded.output
    assert "schema at revision" in upgraded.output

    # The portal, running as the app role, accepts a batch: append, tiles, head, checkpoint.
    settings = Settings(data_dir=tmp_path / "var", database_url=_as(owner_url, app_role))
    app = create_app(settings, clock=owner.clock)
    portal = Portal(
        app,
        app.test_client(),
        owner.clock,
        owner.verifier,
        owner.platform_id,
        owner.key,
        settings,
    )
    response = portal.post(portal.envelope(portal.records(30)))
    assert response.status_code == 201, response.get_data(as_text=True)
    assert portal.log_size() == owner.log_size() >= 30

    as_app = sqlalchemy.create_engine(_as(owner_url, app_role))
    denied = "permission denied"
    _refused(as_app, "UPDATE ledger_entries SET payload = NULL WHERE idx = 3", denied)
    _refused(as_app, "DELETE FROM ledger_entries WHERE idx > 3", denied)
    _refused(as_app, "UPDATE ledger_checkpoints SET note = 'forged'", denied)
    _refused(as_app, "DELETE FROM ledger_leaf_index", denied)
    _refused(as_app, "DELETE FROM ledger_tiles", denied)
    _refused(as_app, "DELETE FROM ledger_head", denied)
    _refused(as_app, "TRUNCATE ledger_entries", denied)
    _refused(as_app, "DROP TABLE ledger_entries", "must be owner")
    _refused(as_app, "CREATE TABLE shadow (x int)", denied)
    _refused(as_app, "UPDATE alembic_version SET version_num = '0001'", denied)
    # UPDATE on tiles and the head is granted for growth; shrinking is refused by the trigger.
    _refused(as_app, "UPDATE ledger_head SET size = 1", "append-only")
    _refused(
        as_app,
        "UPDATE ledger_tiles SET width = 1, hashes = substring(hashes from 1 for 32) "
        "WHERE level = 0 AND idx = 0",
        "append-only",
    )
    with as_app.begin() as connection:  # what it may do to projections, it can
        connection.exec_driver_sql("DELETE FROM portal_sessions")

    as_reader = sqlalchemy.create_engine(_as(owner_url, readonly_role))
    with as_reader.connect() as connection:
        assert connection.exec_driver_sql("SELECT count(*) FROM ledger_entries").scalar_one() >= 30
    _refused(as_reader, "DELETE FROM portal_sessions", denied)
    _refused(as_reader, "UPDATE records SET institution_code = 'X'", denied)
    # Live session ids and CSRF tokens are not for replica readers: they could take a session.
    _refused(as_reader, "SELECT session_id, csrf_token FROM portal_sessions", denied)
    _refused(as_reader, "SELECT * FROM login_failures", denied)

    portal.assert_log_verifies()
    for engine in (as_app, as_reader, portal.services.engine, owner.services.engine):
        engine.dispose()
