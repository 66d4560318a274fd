"""``careledger alerts``: whether alerts of high-severity cases get through, and sending
the pending ones now (after a relay outage, without waiting for the next retry)."""

from __future__ import annotations

import click

from supervisor.cases.alerts import (
    AlertDispatcher,
    AlertSettings,
    alert_counts,
    recent_alerts,
)
from supervisor.cli import CliContext
from supervisor.cli.errors import CommandError
from supervisor.database import tables
from supervisor.ground.china_time import PROVINCE_ZONE

_STATES = ("pending", "sending", "sent", "failed")


@click.group("alerts")
def alerts_group() -> None:
    """Alerts of high-severity cases to the regulators on duty (e-mail, webhook)."""


def _settings(context: CliContext) -> AlertSettings:
    settings = AlertSettings.from_settings(context.settings)
    if not settings.targets():
        raise CommandError(
            "alerts are not configured: set alert_smtp_host, alert_from and alert_recipients "
            "(and/or alert_webhook_url with alert_webhook_secret_file)"
        )
    return settings


@alerts_group.command("status")
@click.option("--recent", default=10, show_default=True, help="How many recent alerts to list.")
@click.pass_obj
def status(context: CliContext, recent: int) -> None:
    """Alerts by state, and the latest ones with their attempts and last error."""
    services = context.services()
    try:
        counts = alert_counts(services.engine)
        click.echo(", ".join(f"{state} {counts.get(state, 0)}" for state in _STATES))
        if not AlertSettings.from_settings(context.settings).targets():
            click.echo("alerts are not configured (alert_smtp_host, alert_webhook_url)")
        for row in recent_alerts(services.engine, recent):
            created = tables.read_time(row.created_at).astimezone(PROVINCE_ZONE)
            line = (
                f"{created:%Y-%m-%d %H:%M} CST  {row.case_id}  {row.channel}  {row.recipient}  "
                f"{row.state}  attempts {row.attempts}"
            )
            if row.state == "pending" and row.attempts:
                retry = tables.read_time(row.next_attempt_at).astimezone(PROVINCE_ZONE)
                line += f"  next {retry:%H:%M}"
            if row.last_error and row.state != "sent":
                line += f"  ({row.last_error})"
            click.echo(line)
    finally:
        services.engine.dispose()


@alerts_group.command("send-pending")
@click.option("--retry-failed", is_flag=True, help="Also send the alerts given up as failed.")
@click.pass_obj
def send_pending(context: CliContext, retry_failed: bool) -> None:
    """Queue new alerts and send every pending one now, due or not."""
    settings = _settings(context)
    services = context.services()
    try:
        dispatcher = AlertDispatcher(services.engine, settings, services.clock)
        if retry_failed:
            click.echo(f"{dispatcher.retry_failed()} failed alerts queued again")
        done = dispatcher.run(everything=True)
        click.echo(done.summary())
        if done.retrying or done.failed:
            raise CommandError(f"some alerts did not go out: {done.last_error}")
    finally:
        services.engine.dispose()
