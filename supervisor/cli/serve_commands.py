"""``careledger serve``: the portal under gunicorn, several worker processes.

Several workers are safe: the ledger serialises appends in the database
(SQLite ``BEGIN IMMEDIATE``, PostgreSQL head-row lock). Each worker builds
its own app (from the same settings) after the fork, so no database
connection is shared.
"""

from __future__ import annotations

import os
from typing import Any

import click
from gunicorn.app.base import BaseApplication

from supervisor.config import Settings

from . import CliContext


class _Portal(BaseApplication):  # type: ignore[misc]
    def __init__(self, options: dict[str, Any], settings: Settings) -> None:
        self._options = options
        self._settings = settings
        super().__init__()

    def load_config(self) -> None:
        for name, value in self._options.items():
            self.cfg.set(name, value)

    def load(self) -> Any:
        from supervisor.app import create_app

        return create_app(self._settings)


@click.command()
@click.option("--bind", default="127.0.0.1:8000", show_default=True)
@click.option(
    "--workers",
    type=click.IntRange(1, 64),
    default=lambda: (os.cpu_count() or 1) * 2,
    show_default="2 x CPUs",
)
@click.pass_obj
def serve(context: CliContext, bind: str, workers: int) -> None:
    """Serve the portal and the platform API."""
    options = {
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
    click.echo(f"careledger portal on http://{bind} with {workers} workers", err=True)
    _Portal(options, context.settings).run()
