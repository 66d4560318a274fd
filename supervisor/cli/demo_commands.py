"""``careledger demo ...``: fill a fresh ledger with synthetic entries to try it out."""

from __future__ import annotations

import random

import click

from ledger.store import EntryDraft

from . import CliContext

_BATCH = 1000


@click.group()
def demo() -> None:
    """Demonstration data (never on a production ledger)."""


@demo.command("ledger")
@click.option("--entries", default=10_000, show_default=True, type=click.IntRange(1, 10_000_000))
@click.option("--seed", default=1, show_default=True, type=int)
@click.pass_obj
def demo_ledger(context: CliContext, entries: int, seed: int) -> None:
    """Append synthetic 'demo.entry' entries in signed batches and print the last checkpoint."""
    store = context.ledger(signing=True)
    rng = random.Random(seed)
    result = None
    with click.progressbar(length=entries, label="appending") as bar:
        for start in range(0, entries, _BATCH):
            count = min(_BATCH, entries - start)
            drafts = [
                EntryDraft(
                    "demo.entry",
                    {"sequence": start + i, "commitment": rng.randbytes(32).hex()},
                )
                for i in range(count)
            ]
            result = store.append(drafts, now=context.now())
            bar.update(count)
    assert result is not None and result.checkpoint is not None
    click.echo(result.checkpoint.note, nl=False)
