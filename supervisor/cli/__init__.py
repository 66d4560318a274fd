"""The ``careledger`` command: a click group split by area.

The top room: it may import every other room, ``demo`` included, and nothing
imports it.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import click

from ledger.note import Verifier
from ledger.store import LedgerStore
from supervisor.cli.errors import EXPECTED_ERRORS, CommandError, diagnostics
from supervisor.config import Settings, load_settings
from supervisor.custody.key_files import load_log_signer
from supervisor.custody.log_rotation import log_signer_finder
from supervisor.database.engine import open_engine
from supervisor.runtime.services import Services, build_services

__all__ = ["CliContext", "cli", "main"]


@dataclass
class CliContext:
    settings: Settings
    verbose: bool

    def now(self) -> datetime:
        return datetime.now(UTC)

    def require_initialised(self) -> None:
        """Refuse, creating nothing, when ``careledger init`` has not made the data folder
        (opening the SQLite file would create an empty database, then fail on its tables)."""
        url = self.settings.effective_database_url
        if url.startswith("sqlite:///") and url != "sqlite:///:memory:":
            database = Path(url.removeprefix("sqlite:///"))
            if not database.exists():
                raise CommandError(
                    f"no careledger database at {database}: run `careledger init` first "
                    "(or set CARELEDGER_DATA_DIR to the data folder)"
                )

    def services(self) -> Services:
        """Everything a running careledger holds, for this data folder."""
        self.require_initialised()
        return build_services(self.settings)

    def ledger(self, *, signing: bool) -> LedgerStore:
        """The ledger store; with ``signing`` it holds the log key and signs checkpoints."""
        self.require_initialised()
        settings = self.settings
        signer = load_log_signer(settings.log_key_path, settings.log_origin) if signing else None
        return LedgerStore(
            open_engine(settings.effective_database_url),
            signer,
            find_signer=log_signer_finder(settings),
        )

    def log_verifier(self) -> Verifier:
        """The log's first verifier key, from ``log.vkey`` written by ``careledger init``.

        After a key rotation it is still the key every verification starts from: the
        chain of keys that follows it is in the ledger (``ledger/log_keys.py``).
        """
        path = self.settings.log_vkey_path
        try:
            return Verifier.from_vkey(path.read_text(encoding="ascii").strip())
        except FileNotFoundError as e:
            raise CommandError(f"{path} does not exist: run `careledger init` first") from e


class _Group(click.Group):
    """Turns expected failures into one readable message (``--verbose`` keeps the traceback)."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except BrokenPipeError:
            # The reader went away (`careledger ledger status | head -1`): click's own
            # handling stops quietly; wrapped as a CommandError it printed "Broken pipe".
            raise
        except EXPECTED_ERRORS as e:
            context = ctx.find_object(CliContext)
            if context is not None and context.verbose:
                raise
            raise CommandError(diagnostics(e)) from e


@click.group(cls=_Group)
@click.option(
    "--config",
    type=click.Path(path_type=Path, dir_okay=False),
    help="TOML settings file (default: $CARELEDGER_CONFIG).",
)
@click.option("--verbose", is_flag=True, help="Show tracebacks of errors.")
@click.version_option(package_name="careledger")
@click.pass_context
def cli(ctx: click.Context, config: Path | None, verbose: bool) -> None:
    """careledger: the supervision ledger for internet healthcare."""
    try:
        settings = load_settings(config, os.environ)
    except ValueError as e:
        raise CommandError(str(e)) from e
    ctx.obj = CliContext(settings, verbose)


def _register() -> None:
    from supervisor.cli import (
        alert_commands,
        audit_commands,
        backup_commands,
        case_commands,
        db_commands,
        demo_commands,
        doctor_commands,
        inspection_commands,
        ledger_commands,
        notice_commands,
        platform_commands,
        projection_commands,
        reference_commands,
        report_commands,
        retention_commands,
        scheduler_commands,
        serve_commands,
        setup_commands,
        submit_commands,
        witness_commands,
    )

    cli.add_command(setup_commands.init)
    cli.add_command(doctor_commands.doctor)
    cli.add_command(setup_commands.keys)
    cli.add_command(db_commands.db)
    cli.add_command(backup_commands.backup)
    cli.add_command(backup_commands.restore)
    cli.add_command(ledger_commands.ledger)
    cli.add_command(demo_commands.demo)
    cli.add_command(platform_commands.platform)
    cli.add_command(serve_commands.serve)
    cli.add_command(submit_commands.submit)
    cli.add_command(projection_commands.projections)
    cli.add_command(audit_commands.audit_group)
    cli.add_command(witness_commands.witness)
    cli.add_command(reference_commands.reference)
    cli.add_command(inspection_commands.inspector)
    cli.add_command(inspection_commands.inspect)
    cli.add_command(inspection_commands.findings_group)
    cli.add_command(case_commands.cases_group)
    cli.add_command(alert_commands.alerts_group)
    cli.add_command(notice_commands.notices_group)
    cli.add_command(report_commands.report)
    cli.add_command(retention_commands.retention)
    cli.add_command(scheduler_commands.scheduler)


_register()


def main() -> None:
    cli(prog_name="careledger")
