"""``careledger ledger ...``: inspect and verify the stored log."""

from __future__ import annotations

import base64
import io
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import click

from ledger.integrity import verify_stored_log
from supervisor.cli import CliContext
from supervisor.cli.errors import CommandError
from supervisor.custody.payload_keys import PayloadKeys
from supervisor.ground.payload_check import check_payloads


@click.group()
def ledger() -> None:
    """The Merkle ledger itself."""


@ledger.command()
@click.pass_obj
def status(context: CliContext) -> None:
    """Print the log's size, root and latest checkpoint."""
    store = context.ledger(signing=False)
    head = store.head()
    click.echo(f"size: {head.size}")
    click.echo(f"root: {base64.b64encode(head.root).decode()}")
    latest = store.latest_checkpoint()
    click.echo("latest checkpoint:" if latest else "no checkpoint signed yet")
    if latest:
        click.echo(latest.note, nl=False)


@ledger.command()
@click.option(
    "--progress/--no-progress", default=None, help="Progress bar (default: on a terminal)."
)
@click.option(
    "--payloads",
    is_flag=True,
    help="Also open every sealed payload (needs the data keys) and check it against the "
    "commitment in its leaf.",
)
@click.pass_obj
def verify(context: CliContext, progress: bool | None, payloads: bool) -> None:
    """Recompute the whole log from its entries and check every stored hash and checkpoint.

    Exits 1 naming the first entry index, tile or checkpoint that disagrees; with
    --payloads, also the first entry whose stored payload is not the committed one.
    """
    store = context.ledger(signing=False)
    size = store.head().size
    show = sys.stderr.isatty() if progress is None else progress
    with _progress(size, "verifying entries", show) as advance:
        result = verify_stored_log(store.engine, context.log_verifier(), advance)
    if result.discrepancy is not None:
        d = result.discrepancy
        where = (
            f"checkpoint {d.checkpoint_size}"
            if d.checkpoint_size is not None
            else f"index {d.index}"
            if d.index is not None
            else d.kind
        )
        raise CommandError(f"ledger does NOT verify: first disagreement at {where}: {d.message}")
    click.echo(
        f"ledger verifies: {result.entries_checked} entries, "
        f"{result.checkpoints_checked} checkpoints, size {result.size}"
    )
    if payloads:
        _verify_payloads(context, size, show)


@contextmanager
def _progress(length: int, label: str, show: bool) -> Iterator[Callable[[int], None]]:
    """A progress bar told how far the work is (``advance(done)``), on stderr if ``show``."""
    with click.progressbar(
        length=length, label=label, file=sys.stderr if show else io.StringIO()
    ) as bar:
        last = 0

        def advance(done: int) -> None:
            nonlocal last
            bar.update(done - last)
            last = done

        yield advance


def _verify_payloads(context: CliContext, size: int, show: bool) -> None:
    keys = PayloadKeys(context.settings.keys_dir)
    with _progress(size, "opening payloads", show) as advance:
        found = check_payloads(context.ledger(signing=False).engine, keys, advance)
    if found.first_mismatch is not None:
        raise CommandError(
            f"payloads do NOT verify: first disagreement at index {found.first_mismatch}: its "
            "sealed payload is not what its leaf commits to (swapped or altered in storage)"
        )
    click.echo(
        f"payloads verify: {found.checked} opened and matched"
        + (f", {found.shredded} shredded by retention" if found.shredded else "")
    )
