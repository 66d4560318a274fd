"""``careledger demo ...``: fill a fresh ledger with synthetic entries to try it out."""

from __future__ import annotations

import random
from datetime import date, timedelta, timezone
from pathlib import Path

import click
import orjson

from ledger.store import EntryDraft
from supervisor.cli import CliContext
from supervisor.custody.data_folder import initialise
from supervisor.demo.province import generate_province
from supervisor.demo.province_files import load_province, write_province
from supervisor.demo.synthetic import synthetic_records
from supervisor.runtime.services import build_services

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
                    {"sequence": start + i, "synthetic": rng.randbytes(32).hex()},
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


@demo.command("generate")
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), required=True)
@click.option("--institutions", type=click.IntRange(1, 10_000), default=8, show_default=True)
@click.option("--days", type=click.IntRange(1, 366), default=30, show_default=True)
@click.option("--seed", type=int, default=1, show_default=True)
@click.option("--violation-rate", type=click.FloatRange(0, 1), default=0.05, show_default=True)
@click.option("--end", "end_text", help="Last day + 1 (ISO date; default: today, China time).")
@click.pass_obj
def demo_generate(  # noqa: PLR0917 - click passes options positionally
    context: CliContext,
    out: Path,
    institutions: int,
    days: int,
    seed: int,
    violation_rate: float,
    end_text: str | None,
) -> None:
    """Write a synthetic province with labelled violations (see supervisor/demo/province.py)."""
    if out.exists() and any(out.iterdir()):
        raise click.BadParameter(f"{out} is not empty", param_hint="--out")
    end = (
        date.fromisoformat(end_text)
        if end_text
        else context.now().astimezone(CHINA_STANDARD_TIME).date()
    )
    province = generate_province(
        institutions=institutions, days=days, seed=seed, violation_rate=violation_rate, end=end
    )
    write_province(province, out)
    click.echo(
        f"{out}: {len(province.institutions)} institutions, {province.record_count()} records, "
        f"{len(province.labels)} labelled violations, {len(province.registry)} practitioners",
        err=True,
    )


@demo.command("load")
@click.argument("folder", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.pass_obj
def demo_load(context: CliContext, folder: Path) -> None:
    """Register FOLDER's platforms, import its reference data and submit its records through
    the platform API (replaying their send times), then inspect them."""
    settings = context.settings
    initialise(settings)
    total = sum(1 for p in (folder / "records").glob("*.jsonl") for _ in p.open("rb"))
    with click.progressbar(length=total, label="submitting through the API") as bar:
        report = load_province(folder, settings, progress=bar.update)
    click.echo(
        f"{report.records} records from {report.platforms} platforms in {report.batches} "
        "batches; every receipt verified",
        err=True,
    )
    services = build_services(settings)
    try:
        for result in services.inspector.follow():
            click.echo(
                f"inspected {result.records} records: {result.findings} findings, "
                f"{result.pending} waiting for related records",
                err=True,
            )
    finally:
        services.engine.dispose()
