"""``careledger projections rebuild``: replay the ledger into the search tables."""

from __future__ import annotations

import bisect

import click
from sqlalchemy import select

from ledger import schema as ledger_schema
from ledger.database import read_transaction
from supervisor.cli import CliContext
from supervisor.cli.errors import CommandError
from supervisor.custody.payload_keys import PayloadKeys
from supervisor.runtime.projections import rebuild_projections


@click.group()
def projections() -> None:
    """Search tables derived from the ledger."""


@projections.command()
@click.pass_obj
def rebuild(context: CliContext) -> None:
    """Empty the search tables and rebuild them by replaying every ledger entry."""
    store = context.ledger(signing=False)
    with read_transaction(store.engine) as connection:
        sizes = list(
            connection.execute(
                select(ledger_schema.checkpoints.c.size).order_by(ledger_schema.checkpoints.c.size)
            ).scalars()
        )

    def first_checkpoint_covering(last_index: int) -> int:
        position = bisect.bisect_right(sizes, last_index)
        return sizes[position] if position < len(sizes) else last_index + 1

    total = store.head().size
    with click.progressbar(length=total, label="replaying") as bar:
        report = rebuild_projections(
            store.engine,
            PayloadKeys(context.settings.keys_dir),
            first_checkpoint_covering,
            bar.update,
        )
    click.echo(
        f"replayed {report.entries} entries: {report.records} records in {report.batches} "
        f"batches, {report.key_events} key events"
        + (f", {report.unreadable} payloads unreadable (shredded)" if report.unreadable else "")
    )
    if report.tampered:
        shown = ", ".join(str(i) for i in report.tampered[:10])
        raise CommandError(
            f"{len(report.tampered)} payloads do not match their leaves' commitments and were "
            f"left out (first: {shown}); restore them from a backup and rebuild again"
        )
