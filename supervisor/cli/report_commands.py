"""``careledger report generate | list | verify``."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from reports.methodology import methodology_version
from supervisor.cli import CliContext
from supervisor.cli.errors import CommandError
from supervisor.reporting.computation import DIGEST_EDITIONS
from supervisor.reporting.service import KINDS
from supervisor.reporting.verification import Verification

__all__ = ["report"]


@click.group()
def report() -> None:
    """Performance assessments and supervision digests: generate, list, verify."""


@report.command()
@click.option("--kind", type=click.Choice(KINDS), required=True)
@click.option(
    "--period",
    required=True,
    help="2026-10 or 2026-Q4 for an assessment; a day (2026-11-23) or month for a digest.",
)
@click.option(
    "--at",
    "at_size",
    type=click.IntRange(1),
    help="Recompute at the checkpoint signed at this tree size (default: the current head).",
)
@click.option(
    "--out",
    type=click.Path(path_type=Path, file_okay=False),
    help="Also write the files here (to compare a regeneration with the published ones).",
)
@click.option(
    "--allow-empty",
    is_flag=True,
    help="Publish even if no record of the period is in the ledger (asked on a terminal).",
)
@click.option(
    "--methodology",
    "methodology_name",
    metavar="VERSION",
    help=(
        "Assessment methodology: assessment-v1, assessment-v2 or assessment-v3 (default: the "
        "newest, v3, which rates pharmacies in their own section)."
    ),
)
@click.option(
    "--digest-edition",
    type=click.Choice(DIGEST_EDITIONS),
    help=(
        "Digest edition (default: the newest, with escalated cases, overdue notices and the "
        "drugs section)."
    ),
)
@click.pass_obj
def generate(
    context: CliContext,
    *,
    kind: str,
    period: str,
    at_size: int | None,
    out: Path | None,
    allow_empty: bool,
    methodology_name: str | None,
    digest_edition: str | None,
) -> None:
    """Compute a report at a signed checkpoint, write its files and publish it."""
    if methodology_name is not None and kind != "assessment":
        raise CommandError("--methodology applies to an assessment, not a digest")
    if digest_edition is not None and kind != "digest":
        raise CommandError("--digest-edition applies to a digest, not an assessment")
    methodology = None if methodology_name is None else methodology_version(methodology_name)
    services = context.services()
    try:
        if not allow_empty and not services.reports.period_has_records(kind, period):
            question = f"No record of {period} is in the ledger. Publish an empty report anyway?"
            if not sys.stdin.isatty():
                raise CommandError(
                    f"no record of {period} is in the ledger: pass --allow-empty to publish "
                    "an empty report anyway"
                )
            if not click.confirm(question, default=False, err=True):
                raise CommandError("nothing published")
        result = services.reports.generate(
            kind,
            period,
            requested_by=f"cli:{_user()}",
            at_size=at_size,
            methodology=methodology,
            digest_edition=digest_edition,
        )
        not_written: list[str] = []
        if out is not None:
            written = services.reports.write_files(result.computed, out, published=result.report)
            names = {path.name for path in written}
            not_written = [
                name
                for name in services.reports.file_names(result.report.report_id).values()
                if name not in names
            ]
    finally:
        services.engine.dispose()
    published = result.report
    timings = result.computed.timings
    state = "published as entry" if result.newly_published else "already published at entry"
    click.echo(f"{published.report_id}: {state} {published.entry_index}")
    click.echo(f"  checkpoint  size {published.tree_size} root {published.root_hash}")
    click.echo(f"  data        sha256 {published.data_sha256}")
    for language, digest in published.pdf_sha256.items():
        click.echo(f"  pdf ({language})    sha256 {digest}")
    for name in not_written:
        click.echo(
            f"warning: {name} is not written to {out}: this version of careledger renders it "
            "differently from the published file, which would then not verify",
            err=True,
        )
    for file_kind, path in result.unrestorable.items():
        click.echo(
            f"warning: the published {file_kind} file is not at {path}, and this version of "
            "careledger renders it differently: restore it from a backup of the reports "
            "folder (a file rendered now would not verify)",
            err=True,
        )
    same = result.computed.data.data_sha256 == published.data_sha256
    if not same:
        raise CommandError(
            f"recomputed data {result.computed.data.data_sha256} differs from the published "
            f"{published.data_sha256}: run `careledger report verify` on the report"
        )
    click.echo(f"  files       {services.reports.reports_dir}")
    click.echo(
        f"  took        read {timings.query:.2f} s, compute {timings.compute:.2f} s, "
        f"render {timings.render:.2f} s",
        err=True,
    )


def _user() -> str:
    import getpass

    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "unknown"


@report.command("list")
@click.option("--kind", type=click.Choice(KINDS))
@click.option("--period", help="Only periods starting with this (2026, 2026-10, ...).")
@click.pass_obj
def list_reports(context: CliContext, kind: str | None, period: str | None) -> None:
    """Published reports, newest first."""
    services = context.services()
    try:
        reports = services.reports.list(kind=kind, period=period)
    finally:
        services.engine.dispose()
    for item in reports:
        click.echo(
            f"{item.report_id}\tentry {item.entry_index}\t{item.published_at:%Y-%m-%d %H:%M}Z"
            f"\t{item.requested_by}\tdata {item.data_sha256[:16]}"
        )


def print_verification(result: Verification) -> None:
    for check in result.checks:
        click.echo(f"{'ok  ' if check.ok else 'FAIL'} {check.name}: {check.detail}")


@report.command()
@click.argument("file", type=click.Path(path_type=Path, dir_okay=False, exists=True))
@click.pass_obj
def verify(context: CliContext, file: Path) -> None:
    """Check a report (either PDF, or its JSON data) against the ledger; exit 1 if it fails."""
    services = context.services()
    try:
        result = services.reports.verify(file.read_bytes())
    finally:
        services.engine.dispose()
    print_verification(result)
    if not result.ok:
        raise CommandError(f"{file} does not verify")
    click.echo(f"{file}: verified ({result.report_id})")
