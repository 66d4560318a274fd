"""``careledger serve``: the portal under gunicorn, several worker processes.

Several workers are safe: the ledger serialises appends in the database
(SQLite ``BEGIN IMMEDIATE``, PostgreSQL head-row lock). Each worker builds
its own app (from the same settings) after the fork, so no database
connection is shared.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Callable
from types import FrameType
from typing import Any

import click
from gunicorn.app.base import BaseApplication

from supervisor.cli import CliContext
from supervisor.client.submit import wait_for_portal
from supervisor.config import Settings
from supervisor.demo.build import build_demo, province_size
from supervisor.demo.directory import demo_sign_in
from supervisor.web.worker_lifetime import post_fork


class WsgiServer(BaseApplication):  # type: ignore[misc]
    """gunicorn running the app that ``factory`` builds in each worker, after the fork."""

    def __init__(self, options: dict[str, Any], factory: Callable[[], Any]) -> None:
        self._options = options
        self._factory = factory
        super().__init__()

    def load_config(self) -> None:
        for name, value in self._options.items():
            self.cfg.set(name, value)

    def load(self) -> Any:
        return self._factory()


def gunicorn_options(bind: str, workers: int) -> dict[str, Any]:
    return {
        "bind": bind,
        "workers": workers,
        "worker_class": "sync",
        "timeout": 120,
        "graceful_timeout": 30,
        "limit_request_line": 8190,
        "accesslog": None,
        "errorlog": "-",
        "loglevel": "warning",
        "post_fork": post_fork,  # workers die with their master, even after a SIGKILL
    }


def _portal_factory(settings: Settings) -> Callable[[], Any]:
    def build() -> Any:
        from supervisor.web.app import create_app

        return create_app(settings, sign_in=demo_sign_in(settings.data_dir))

    return build


@click.command()
@click.option("--bind", default="127.0.0.1:8000", show_default=True)
@click.option(
    "--workers",
    type=click.IntRange(1, 64),
    default=lambda: (os.cpu_count() or 1) * 2,
    show_default="2 x CPUs",
)
@click.option(
    "--demo",
    is_flag=True,
    help="Demo: a fresh SQLite folder <data_dir>-demo with the demo province submitted "
    "through the API and inspected, then serve it. Never touches the real data folder.",
)
@click.option("--demo-institutions", type=click.IntRange(1, 200), default=6, show_default=True)
@click.option("--demo-days", type=click.IntRange(1, 60), default=7, show_default=True)
@click.pass_obj
def serve(  # noqa: PLR0917 - click passes options positionally
    context: CliContext,
    bind: str,
    workers: int,
    demo: bool,
    demo_institutions: int,
    demo_days: int,
) -> None:
    """Serve the portal and the platform API."""
    if demo:
        _serve_demo(context, bind, workers, demo_institutions, demo_days)
        return
    click.echo(f"careledger portal on http://{bind} with {workers} workers", err=True)
    WsgiServer(gunicorn_options(bind, workers), _portal_factory(context.settings)).run()


def _interrupt_on_signals() -> None:
    """Ctrl-C and SIGTERM both stop the demo through its clean-up path (children stopped).

    Set explicitly: a process started in the background by a non-interactive shell
    inherits SIGINT ignored, and SIGTERM's default would leave the children running.
    """

    def interrupt(signum: int, frame: FrameType | None) -> None:
        raise KeyboardInterrupt

    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, interrupt)


def _serve_demo(context: CliContext, bind: str, workers: int, institutions: int, days: int) -> None:
    """Build the demo province, then serve it with an inspector following new records and
    the scheduler running its jobs."""
    _interrupt_on_signals()
    with click.progressbar(
        length=province_size(institutions, days), label="submitting the demo province"
    ) as bar:
        demo = build_demo(
            context.settings,
            institutions=institutions,
            days=days,
            now=context.now(),
            progress=bar.update,
        )
    settings = demo.settings
    env = {k: v for k, v in os.environ.items() if not k.startswith("CARELEDGER_")}
    env["CARELEDGER_DATA_DIR"] = str(settings.data_dir)
    env["CARELEDGER_PORTAL_SECURE_COOKIES"] = "false"  # plain HTTP on loopback
    portal_log = settings.data_dir / "portal.log"
    command = [sys.executable, "-m", "supervisor.cli"]
    with portal_log.open("ab") as log:
        server = subprocess.Popen(
            [*command, "serve", "--bind", bind, "--workers", str(workers)],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        inspector = subprocess.Popen(
            [*command, "inspector"], env=env, stdout=log, stderr=subprocess.STDOUT
        )
        scheduler = subprocess.Popen(
            [*command, "scheduler"], env=env, stdout=log, stderr=subprocess.STDOUT
        )
    url = f"http://{bind}"
    try:
        wait_for_portal(url, lambda: server.poll() is None)
        findings = sum(p.findings for p in demo.inspected)
        waiting = demo.inspected[-1].pending if demo.inspected else 0
        accounts = "".join(
            f"    {name:<16} {password}\n" for name, password in demo.accounts.items()
        )
        click.echo(
            f"\ncareledger demo portal: {url}/portal/\n"
            f"  sign in with the demo directory (this demo only; roles as named):\n{accounts}"
            f"  {demo.loaded.records} records from {demo.loaded.platforms} platforms submitted "
            f"through the platform API ({demo.loaded.batches} batches); every receipt verified\n"
            f"  inspected: {findings} findings; {waiting} records wait for related records "
            "(reported once their grace period ends)\n"
            f"  cases:           {url}/portal/cases (findings of one cause, gravest first); "
            f"CARELEDGER_DATA_DIR={settings.data_dir} careledger cases list\n"
            f"  findings:        CARELEDGER_DATA_DIR={settings.data_dir} careledger findings "
            "export --format csv --out findings.csv\n"
            f"  ground truth:    {demo.province_dir / 'labels.jsonl'}\n"
            f"  reports:         {', '.join(demo.reports)} ({url}/portal/reports; "
            "a scheduler publishes digests and assessments on schedule)\n"
            f"  record schema:   {url}/api/v1/schema\n"
            f"  OpenAPI:         {url}/api/v1/openapi.json\n"
            f"  public log:      {url}/log/checkpoint\n"
            f"  platform keys:   {settings.data_dir / 'platform-keys'} (submit more with "
            "`careledger submit`; an inspector follows new records)\n"
            f"  portal log (JSON lines): {portal_log}\n"
            "Ctrl-C stops it.",
            err=True,
        )
        server.wait()
    except KeyboardInterrupt:
        pass
    finally:
        for child in (scheduler, inspector, server):
            if child.poll() is None:
                child.send_signal(signal.SIGTERM)
                child.wait(timeout=60)
