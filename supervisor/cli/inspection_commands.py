"""``careledger inspector`` (the follower), ``careledger inspect`` (on demand) and
``careledger findings export``."""

from __future__ import annotations

import sys
import threading
from datetime import UTC, datetime
from pathlib import Path

import click

from supervisor.cli import CliContext
from supervisor.cli.signals import on_stop_signals
from supervisor.inspection.findings_export import findings, write_findings
from supervisor.inspection.follower import follow_in_turn, follower_lease
from supervisor.inspection.inspector import InspectionConflictError, PassReport


def _summary(report: PassReport) -> str:
    return (
        f"{report.mode}: entries {report.from_index}..{report.to_index}, "
        f"{report.records} records, {report.findings} new findings, "
        f"{report.pending} waiting, {report.resolved} resolved"
        + (f", {report.unreadable} unreadable (shredded)" if report.unreadable else "")
    )


@click.command()
@click.option("--once", is_flag=True, help="Inspect what is there, then exit.")
@click.option("--interval", type=click.FloatRange(0.1, 3600), default=2.0, show_default=True)
@click.pass_obj
def inspector(context: CliContext, once: bool, interval: float) -> None:
    """Follow the ledger and inspect every new record.

    One follower at a time holds the inspection lease; a second one (another machine)
    waits as a standby and takes over within a minute if the first dies. The scheduler's
    inspection sweep steps aside while one runs.
    """
    services = context.services()
    lease = follower_lease(services.engine)
    stopping = threading.Event()  # SIGTERM or Ctrl-C: stop between passes, release the lease

    waiting = False
    with on_stop_signals(stopping.set):
        try:
            while not stopping.is_set():
                try:
                    reports = follow_in_turn(services.inspector, lease, stopping.is_set)
                except InspectionConflictError:
                    click.echo("another inspector moved the cursor first; following on", err=True)
                    reports = []
                if reports is None:
                    if once or not waiting:
                        click.echo(f"standby: {lease.holder_text()} follows the ledger", err=True)
                    waiting = True
                else:
                    if waiting:
                        click.echo("took over following the ledger", err=True)
                    waiting = False
                    for report in reports:
                        if report.entry_index is not None:
                            click.echo(_summary(report), err=True)
                if once:
                    return
                stopping.wait(interval)
        finally:
            lease.release()
            services.engine.dispose()


def _moment(text: str) -> datetime:
    try:
        moment = datetime.fromisoformat(text)
    except ValueError as e:
        raise click.BadParameter(f"{text!r} is not an ISO date or date-time") from e
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


@click.command()
@click.option(
    "--since", required=True, help="Received from (ISO date or date-time; UTC if no offset)."
)
@click.option("--until", required=True, help="Received before (ISO date or date-time).")
@click.pass_obj
def inspect(context: CliContext, since: str, until: str) -> None:
    """Inspect again every record received in [SINCE, UNTIL); appends only new findings."""
    start, end = _moment(since), _moment(until)
    if end <= start:
        raise click.BadParameter("--until must be after --since")
    services = context.services()
    try:
        click.echo(_summary(services.inspector.inspect_received(start, end)))
    finally:
        services.engine.dispose()


@click.group("findings")
def findings_group() -> None:
    """Findings the inspector recorded."""


@findings_group.command("export")
@click.option(
    "--format", "fmt", type=click.Choice(["jsonl", "csv"]), default="jsonl", show_default=True
)
@click.option("--rule", help="Only this rule id (e.g. RX-NO-REVIEW).")
@click.option("--institution", help="Only this institution code.")
@click.option(
    "--out", type=click.Path(dir_okay=False, path_type=Path), help="File (default: stdout)."
)
@click.pass_obj
def export(
    context: CliContext, fmt: str, rule: str | None, institution: str | None, out: Path | None
) -> None:
    """Write findings with their evidence and legal basis."""
    services = context.services()
    try:
        rows = findings(services.engine, services.keys, rule=rule, institution=institution)
        if out is None:
            count = write_findings(rows, sys.stdout.buffer, fmt)
        else:
            with out.open("wb") as handle:
                count = write_findings(rows, handle, fmt)
        click.echo(f"{count} findings", err=True)
    finally:
        services.engine.dispose()
