"""``careledger init``: data folder, schema and the log signing key."""

from __future__ import annotations

import click

from supervisor.database import open_engine, upgrade_database
from supervisor.keys import create_log_signer
from supervisor.payload_keys import create_payload_keys

from . import CliContext
from .errors import CommandError


@click.command()
@click.pass_obj
def init(context: CliContext) -> None:
    """Create the data folder, the database schema and the log signing key.

    Prints the log's verifier key, which auditors use to check checkpoints.
    Refuses to overwrite an existing key; running it again only migrates the schema.
    """
    settings = context.settings
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    engine = open_engine(settings.effective_database_url)
    upgrade_database(engine)
    click.echo(f"database ready: {engine.url.render_as_string(hide_password=True)}", err=True)
    for path in create_payload_keys(settings.keys_dir):
        click.echo(f"created {path} (mode 0600)", err=True)
    if settings.log_key_path.exists():
        raise CommandError(
            f"{settings.log_key_path} exists already; careledger never overwrites a log key "
            "(schema is up to date)."
        )
    signer = create_log_signer(settings.log_key_path, settings.log_origin)
    settings.log_vkey_path.write_text(signer.verifier.vkey + "\n", encoding="ascii")
    click.echo(f"log signing key: {settings.log_key_path} (mode 0600)", err=True)
    click.echo(signer.verifier.vkey)
