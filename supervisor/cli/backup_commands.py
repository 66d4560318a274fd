"""``careledger backup DIR`` and ``careledger restore DIR``."""

from __future__ import annotations

import os
from pathlib import Path

import click

from ledger.integrity import verify_stored_log
from ledger.note import Verifier
from ledger.store import LedgerStore
from supervisor.cli import CliContext
from supervisor.cli.errors import CommandError
from supervisor.custody.backup import read_manifest, restore_backup, write_backup
from supervisor.custody.file_modes import FILE_MODE, private_folder
from supervisor.custody.key_files import load_log_signer
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
    settings = context.settings
    manifest = read_manifest(folder)
    if settings.log_vkey_path.exists():
        verifier = context.log_verifier()
        if manifest["log_vkey"] != verifier.vkey:
            raise CommandError(
                f"the backup is of the log {manifest['log_vkey']}, but this data folder's key "
                f"is {verifier.vkey}: restore the backup's keys folder first"
            )
    else:
        # A fresh machine with the keys folder and a backup, as the README says to keep:
        # the log's first key comes from the manifest, and is trusted only once the
        # restored log verifies from it and its key chain ends at the key in keys/.
        verifier = Verifier.from_vkey(str(manifest["log_vkey"]))
    if not settings.log_key_path.exists():
        raise CommandError(
            f"{settings.log_key_path} does not exist: restore the keys folder (kept apart from "
            f"the backups) to {settings.keys_dir} first"
        )
    private_folder(settings.data_dir)
    engine = open_engine(settings.effective_database_url)
    try:
        restore_backup(engine, folder, upgrade_database)
        upgrade_database(engine)
        result = verify_stored_log(engine, verifier)
        in_force = LedgerStore(engine).key_chain(verifier).current
    finally:
        engine.dispose()
    if result.discrepancy is not None:
        raise CommandError(f"restored, but the log does not verify: {result.discrepancy}")
    signer = load_log_signer(settings.log_key_path, settings.log_origin)
    if signer.verifier != in_force:
        raise CommandError(
            f"restored, but the log key in {settings.keys_dir} ({signer.verifier.vkey}) is not "
            f"the key in force at the end of the backup's key chain ({in_force.vkey}): restore "
            "the keys folder that goes with this backup"
        )
    if not settings.log_vkey_path.exists():
        settings.log_vkey_path.write_text(verifier.vkey + "\n", encoding="ascii")
        os.chmod(settings.log_vkey_path, FILE_MODE)
    click.echo(
        f"restored {manifest['size']} entries (latest checkpoint at size "
        f"{manifest['checkpoint_size']}); the log verifies: {result.entries_checked} entries, "
        f"{result.checkpoints_checked} checkpoints"
    )
