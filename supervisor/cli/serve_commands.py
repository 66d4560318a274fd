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
from typing import Any

import click
from gunicorn.app.base import BaseApplication

from supervisor.client import SubmitClient, load_platform_key, sign_envelope, wait_for_portal
from supervisor.config import Settings
from supervisor.demo import demo_records, prepare_demo
from supervisor.keys import read_secret
from supervisor.receipts import verify_receipt

from . import CliContext


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
    }


def _portal_factory(settings: Settings) -> Callable[[], Any]:
    def build() -> Any:
        from supervisor.app import create_app

        return create_app(settings)

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
    help="Demo: a fresh SQLite folder <data_dir>-demo, a demo platform, records submitted "
    "through the API, then serve it. Never touches the real data folder.",
)
@click.option("--demo-records", type=click.IntRange(1, 1_000_000), default=5000, show_default=True)
@click.pass_obj
def serve(context: CliContext, bind: str, workers: int, demo: bool, demo_records: int) -> None:
    """Serve the portal and the platform API."""
    if demo:
        _serve_demo(context, bind, workers, demo_records)
        return
    click.echo(f"careledger portal on http://{bind} with {workers} workers", err=True)
    WsgiServer(gunicorn_options(bind, workers), _portal_factory(context.settings)).run()


def _serve_demo(context: CliContext, bind: str, workers: int, count: int) -> None:
    """Prepare the demo province, serve it in a child process and submit to it over HTTP."""
    province = prepare_demo(context.settings, now=context.now())
    settings = province.settings
    click.echo(f"demo data folder: {settings.data_dir} (SQLite)", err=True)
    env = {k: v for k, v in os.environ.items() if not k.startswith("CARELEDGER_")}
    env["CARELEDGER_DATA_DIR"] = str(settings.data_dir)
    portal_log = settings.data_dir / "portal.log"
    command = [sys.executable, "-m", "supervisor.cli", "serve", "--bind", bind]
    with portal_log.open("ab") as log:
        server = subprocess.Popen(
            [*command, "--workers", str(workers)], env=env, stdout=log, stderr=subprocess.STDOUT
        )
    url = f"http://{bind}"
    try:
        wait_for_portal(url, lambda: server.poll() is None)
        key = load_platform_key(read_secret(province.key_path))
        records = demo_records(count, now=context.now())
        client = SubmitClient(url)
        with click.progressbar(length=len(records), label="submitting demo records") as bar:
            for start in range(0, len(records), 500):
                chunk = records[start : start + 500]
                envelope = sign_envelope(
                    platform_id=province.platform_id,
                    key=key,
                    batch_id=f"demo-{start // 500:05d}",
                    created_at=context.now(),
                    records=chunk,
                )
                _, receipt = client.submit(envelope)
                verify_receipt(receipt, province.verifier, envelope)
                bar.update(len(chunk))
        client.close()
        click.echo(
            f"\ncareledger demo portal: {url}\n"
            f"  {count} records submitted through the platform API; every receipt verified\n"
            f"  record schema:   {url}/api/v1/schema\n"
            f"  OpenAPI:         {url}/api/v1/openapi.json\n"
            f"  demo platform:   {province.platform_id}, key {province.key_path}\n"
            f"  submit more:     CARELEDGER_DATA_DIR={settings.data_dir} careledger submit "
            f"--platform {province.platform_id} --key {province.key_path} --url {url} FILE.jsonl\n"
            f"  log verifier key: {province.verifier.vkey}\n"
            f"  portal log (JSON lines): {portal_log}\n"
            "Ctrl-C stops it.",
            err=True,
        )
        server.wait()
    except KeyboardInterrupt:
        pass
    finally:
        if server.poll() is None:
            server.send_signal(signal.SIGTERM)
            server.wait(timeout=60)
