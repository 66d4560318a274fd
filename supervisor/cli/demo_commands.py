"""``careledger demo ...``: fill a fresh ledger with synthetic entries to try it out."""

from __future__ import annotations

import random
from datetime import timedelta, timezone
from pathlib import Path

import click
import orjson

from ledger.store import EntryDraft
from supervisor.synthetic import synthetic_records

from . import CliContext

CHINA_STANDARD_TIME = timezone(timedelta(hours=8), "CST")

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


@demo.command("records")
@click.option("--institution", default="H330100001", show_default=True)
@click.option("--count", default=1000, show_default=True, type=click.IntRange(1, 10_000_000))
@click.option("--seed", default=1, show_default=True, type=int)
@click.option("--out", type=click.Path(path_type=Path, dir_okay=False), required=True)
@click.pass_obj
def demo_records(context: CliContext, institution: str, count: int, seed: int, out: Path) -> None:
    """Write COUNT synthetic records of one institution as JSON Lines (for `careledger submit`)."""
    start = context.now().astimezone(CHINA_STANDARD_TIME).replace(microsecond=0)
    start -= timedelta(days=1)
    with out.open("wb") as handle:
        for record in synthetic_records(institution, count, start=start, seed=seed):
            handle.write(orjson.dumps(record) + b"\n")
    click.echo(f"{count} records of {institution} in {out}", err=True)
