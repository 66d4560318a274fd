"""``careledger scheduler``: run the scheduled jobs until stopped."""

from __future__ import annotations

import threading

import click

from supervisor.cli import CliContext
from supervisor.cli.errors import CommandError
from supervisor.cli.signals import on_stop_signals
from supervisor.runtime.scheduler import Scheduler, SchedulerBusyError

__all__ = ["scheduler"]


@click.command()
@click.option(
    "--standby",
    is_flag=True,
    help="If another scheduler runs the jobs, wait and take over when it stops.",
)
@click.pass_obj
def scheduler(context: CliContext, standby: bool) -> None:
    """Run checkpoints, inspection, digests and assessments on schedule (one per database)."""
    services = context.services()
    runner = Scheduler(services)
    stop = threading.Event()

    def on_signal() -> None:
        stop.set()
        runner.stop()

    with on_stop_signals(on_signal):
        try:
            if standby:
                click.echo(f"standby as {runner.lease.holder}: waiting for the lease", err=True)
            runner.start(standby=standby)
            if runner.running:
                click.echo(f"scheduler {runner.lease.holder} running:", err=True)
                for job_id, next_run in sorted(runner.jobs().items()):
                    click.echo(f"  {job_id:22} next {next_run:%Y-%m-%d %H:%M:%S %Z}", err=True)
            while runner.running and not stop.wait(1.0):
                pass
        except SchedulerBusyError as e:
            raise CommandError(str(e)) from e
        finally:
            runner.stop()
            services.engine.dispose()
