"""``careledger retention ...``: crypto-shred payloads whose legal retention has ended."""

from __future__ import annotations

import click

from ledger.integrity import verify_stored_log
from supervisor.cli import CliContext
from supervisor.cli.errors import CommandError
from supervisor.custody.payload_keys import PayloadKeys
from supervisor.custody.retention import apply_retention, key_expiry, parse_policy


@click.group()
def retention() -> None:
    """Retention by destroying data keys (``retention_years`` in the settings)."""


@retention.command()
@click.pass_obj
def plan(context: CliContext) -> None:
    """List the data keys past retention, without touching anything."""
    policy = parse_policy(context.settings.retention_years)
    keys = PayloadKeys(context.settings.keys_dir)
    outcome = apply_retention(
        context.ledger(signing=False), keys, policy, context.now(), dry_run=True
    )
    for name in outcome.destroyed:
        kind = name.rsplit("-", 2)[0]
        click.echo(f"{name}\tdue since {key_expiry(name, policy[kind]).isoformat()}")
    click.echo(f"{len(outcome.destroyed)} data keys past retention", err=True)


@retention.command()
@click.option("--verify/--no-verify", default=True, help="Verify the whole log afterwards.")
@click.pass_obj
def apply(context: CliContext, verify: bool) -> None:
    """Destroy the data keys past retention, recorded first as a ``retention.shred`` entry.

    Proofs are untouched: afterwards the whole log is verified (``--no-verify`` skips it).
    Then run ``careledger keys rewrap-master`` so no copy of the destroyed keys, wrapped by
    the old master key, can ever be opened.
    """
    policy = parse_policy(context.settings.retention_years)
    keys = PayloadKeys(context.settings.keys_dir)
    store = context.ledger(signing=True)
    outcome = apply_retention(store, keys, policy, context.now())
    if outcome.entry_index is None:
        click.echo("nothing is past retention")
        return
    store.sign_checkpoint(now=context.now())
    for name in outcome.destroyed:
        click.echo(f"destroyed {name}")
    click.echo(f"recorded as ledger entry {outcome.entry_index}")
    if verify:
        result = verify_stored_log(store.engine, context.log_verifier())
        if result.discrepancy is not None:
            raise CommandError(f"the log does not verify: {result.discrepancy}")
        click.echo(f"the log verifies: {result.entries_checked} entries")
