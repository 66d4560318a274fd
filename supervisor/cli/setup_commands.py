"""``careledger init``: data folder, schema, payload keys and the log signing key."""

from __future__ import annotations

import click

from supervisor.key_rotation import rewrap_master
from supervisor.setup import initialise

from . import CliContext
from .errors import CommandError


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
