"""``careledger backup DIR`` and ``careledger restore DIR``."""

from __future__ import annotations

from pathlib import Path

import click

from ledger.integrity import verify_stored_log
from supervisor.cli import CliContext
from supervisor.cli.errors import CommandError
from supervisor.custody.backup import read_manifest, restore_backup, write_backup
from supervisor.database.engine import open_engine, upgrade_database


@click.command()
@click.argument("folder", type=click.Path(path_type=Path, file_okay=False))
@click.pass_obj
def backup(context: CliContext, folder: Path) -> None:
    """Write a consistent snapshot of the database and its latest signed checkpoint to FOLDER.

    FOLDER must not exist. Runs beside ingest (one snapshot transaction).
    Keys are not included: back up the keys folder separately.
    """
    settings = context.settings
    engine = open_engine(settings.effective_database_url)
    try:
        summary = write_backup(
            engine,
            folder,
            origin=settings.log_origin,
            vkey=context.log_verifier().vkey,
        )
    finally:
        engine.dispose()
    click.echo(
        f"backup written to {summary.folder}: {summary.size} entries, latest checkpoint at "
        f"size {summary.checkpoint_size}, {sum(summary.rows.values())} rows in "
        f"{len(summary.rows)} tables"
    )


@click.command()
@click.argument("folder", type=click.Path(path_type=Path, file_okay=False, exists=True))
@click.pass_obj
def restore(context: CliContext, folder: Path) -> None:
    """Load the backup in FOLDER into an empty database, then verify the whole log.

    Restore the keys folder first: the log key in it must be the backup's.
    A backup older than the newest checkpoint that witnesses or monitors saw
    is a rollback to them; see "Disaster recovery" in the README.
    """
    manifest = read_manifest(folder)
    verifier = context.log_verifier()
    if manifest["log_vkey"] != verifier.vkey:
        raise CommandError(
            f"the backup is of the log {manifest['log_vkey']}, but this data folder's key is "
            f"{verifier.vkey}: restore the backup's keys folder first"
        )
    engine = open_engine(context.settings.effective_database_url)
    try:
        restore_backup(engine, folder, upgrade_database)
        upgrade_database(engine)
        result = verify_stored_log(engine, verifier)
    finally:
        engine.dispose()
    if result.discrepancy is not None:
        raise CommandError(f"restored, but the log does not verify: {result.discrepancy}")
    click.echo(
        f"restored {manifest['size']} entries (latest checkpoint at size "
        f"{manifest['checkpoint_size']}); the log verifies: {result.entries_checked} entries, "
        f"{result.checkpoints_checked} checkpoints"
    )
