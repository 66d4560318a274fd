"""``careledger db ...``: schema migrations and PostgreSQL grants, run as the owner role."""

from __future__ import annotations

import click
from alembic.config import Config
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory

from supervisor.cli import CliContext
from supervisor.cli.errors import CommandError
from supervisor.custody.data_folder import data_at_rest_problems, make_private
from supervisor.database.engine import (
    MIGRATIONS,
    apply_grants,
    durability_problems,
    open_engine,
    upgrade_database,
)


@click.group()
def db() -> None:
    """The database schema and its roles."""


@db.command()
@click.pass_obj
def upgrade(context: CliContext) -> None:
    """Migrate the schema to the newest revision (Alembic), then re-apply the grants.

    Run it as the owner role before starting the new version; the app role
    cannot change the schema. Grants are applied when ``database_app_role``
    and ``database_readonly_role`` are set.
    """
    settings = context.settings
    engine = open_engine(settings.effective_database_url)
    try:
        upgrade_database(engine)
        make_private(settings)  # folders made by older versions were 0755
        with engine.connect() as connection:
            revision = MigrationContext.configure(connection).get_current_revision()
        click.echo(f"schema at revision {revision}", err=True)
        if settings.database_app_role and settings.database_readonly_role:
            apply_grants(
                engine,
                app_role=settings.database_app_role,
                readonly_role=settings.database_readonly_role,
            )
            click.echo(
                f"granted {settings.database_app_role} (append-only on the ledger) and "
                f"{settings.database_readonly_role} (read-only)",
                err=True,
            )
    finally:
        engine.dispose()


@db.command()
@click.option("--app-role", help="Default: database_app_role.")
@click.option("--readonly-role", help="Default: database_readonly_role.")
@click.pass_obj
def grants(context: CliContext, app_role: str | None, readonly_role: str | None) -> None:
    """Grant least privilege on every table to the app and read-only roles; print what ran."""
    app = app_role or context.settings.database_app_role
    readonly = readonly_role or context.settings.database_readonly_role
    if not app or not readonly:
        raise CommandError("name both roles (--app-role, --readonly-role or the settings)")
    engine = open_engine(context.settings.effective_database_url)
    try:
        for statement in apply_grants(engine, app_role=app, readonly_role=readonly):
            click.echo(statement + ";")
    finally:
        engine.dispose()


@db.command()
@click.pass_obj
def check(context: CliContext) -> None:
    """Refuse to start on a schema that is not the newest, or on keys others can read.

    Run before the portal, scheduler and inspector start (the systemd units do);
    exits 1 saying what to do.
    """
    settings = context.settings
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    newest = ScriptDirectory.from_config(config).get_current_head()
    engine = open_engine(settings.effective_database_url)
    try:
        with engine.connect() as connection:
            current = MigrationContext.configure(connection).get_current_revision()
        problems = durability_problems(engine)
    finally:
        engine.dispose()
    if current != newest:
        problems.append(
            f"the schema is at revision {current}, this version needs {newest}: run "
            "`careledger db upgrade` as the owner role"
        )
    problems += data_at_rest_problems(settings)
    if problems:
        raise CommandError("; ".join(problems))
    click.echo(f"schema at {current}; commits durable; data folder and keys private")
