"""``careledger init``: data folder, schema, payload keys and the log signing key."""

from __future__ import annotations

import click

from supervisor.cli import CliContext
from supervisor.cli.errors import CommandError
from supervisor.custody.data_folder import initialise
from supervisor.custody.log_rotation import rotate_log_key
from supervisor.custody.master_rewrap import rewrap_master


@click.command()
@click.pass_obj
def init(context: CliContext) -> None:
    """Create the data folder, the database schema and the keys.

    Prints the log's verifier key, which auditors use to check checkpoints.
    Refuses to overwrite an existing key; running it again only migrates the schema
    and creates keys that are missing.
    """
    done = initialise(context.settings)
    click.echo(f"database ready: {done.database}", err=True)
    for path in done.created_keys:
        click.echo(f"created {path} (mode 0600)", err=True)
    if done.log_verifier is None:
        raise CommandError(
            f"{context.settings.log_key_path} exists already; careledger never overwrites a "
            "log key (schema is up to date)."
        )
    click.echo(done.log_verifier.vkey)


@click.group()
def keys() -> None:
    """Key rotation (keys live in files under the data folder, never in the database)."""


@keys.command("rewrap-master")
@click.pass_obj
def rewrap_master_command(context: CliContext) -> None:
    """Re-wrap every data key under a new master key, then retire the old master.

    Safe to run while the portal runs, and to run again after an interruption.
    No payload is re-sealed and no proof changes.
    """
    outcome = rewrap_master(context.settings.keys_dir)
    click.echo(
        f"master key rotated: {outcome.rewrapped} data keys re-wrapped"
        + (f", {outcome.already} done by an earlier run" if outcome.already else "")
    )


@keys.command("rotate-log")
@click.pass_obj
def rotate_log_command(context: CliContext) -> None:
    """Hand the log over to a new signing key; old checkpoints stay verifiable.

    Appends a log.key_rotation entry signed by the old and the new key, whose
    checkpoint both sign, then replaces the key file (the old private key is
    gone). Running services take the new key when they next sign. Safe to run
    again after an interruption. Tell witnesses the new key (printed) before
    dropping the old one from their configuration.
    """
    rotated = rotate_log_key(context.settings, context.now())
    if rotated.entry_index is None:
        click.echo("finished a rotation an earlier run had recorded in the ledger", err=True)
    else:
        click.echo(
            f"log key rotated at entry {rotated.entry_index}: checkpoints from size "
            f"{rotated.entry_index + 1} are signed by the new key (that one by both)",
            err=True,
        )
    click.echo(rotated.new.vkey)
