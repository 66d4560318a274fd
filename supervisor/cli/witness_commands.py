"""``careledger witness ...``: run an independent witness, and collect cosignatures for the log."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import click

from ledger.note import COSIGNATURE_V1, Signer, Verifier
from supervisor.cli import CliContext
from supervisor.cli.errors import CommandError
from supervisor.cli.serve_commands import WsgiServer, gunicorn_options
from supervisor.custody.key_files import read_secret, write_secret
from supervisor.transparency.witness import Witness, create_witness_app
from supervisor.transparency.witnessing import collect_cosignatures, parse_witnesses


@click.group()
def witness() -> None:
    """Witnesses: independent cosigners that make a split view of the log detectable."""


@witness.command()
@click.option("--name", required=True, help="The witness's name, e.g. witness.audit.example/w1")
@click.option("--out", type=click.Path(path_type=Path, dir_okay=False), required=True)
def keygen(name: str, out: Path) -> None:
    """Create a witness key (cosignature/v1) in OUT (0600) and print its verifier key."""
    try:
        signer = Signer.generate(name, COSIGNATURE_V1)
    except ValueError as e:
        raise CommandError(str(e)) from e
    write_secret(out, signer.skey + "\n")
    click.echo(signer.verifier.vkey)


@witness.command()
@click.option("--key", "key_path", type=click.Path(path_type=Path, dir_okay=False), required=True)
@click.option(
    "--log-vkey",
    "log_vkeys",
    multiple=True,
    required=True,
    help="A log it witnesses; during a log key rotation, give the log's old and new key.",
)
@click.option("--state", "state_path", type=click.Path(path_type=Path, dir_okay=False))
@click.option("--bind", default="127.0.0.1:8100", show_default=True)
@click.option("--workers", type=click.IntRange(1, 16), default=2, show_default=True)
def serve(
    key_path: Path, log_vkeys: tuple[str, ...], state_path: Path | None, bind: str, workers: int
) -> None:
    """Serve POST /add-checkpoint (C2SP tlog-witness) for the given logs."""
    signer = Signer.from_skey(read_secret(key_path))
    if signer.algorithm != COSIGNATURE_V1:
        raise CommandError(f"{key_path} is not a witness key: make one with `witness keygen`")
    logs: dict[str, list[Verifier]] = {}
    for verifier in (Verifier.from_vkey(k) for k in log_vkeys):
        logs.setdefault(verifier.name, []).append(verifier)  # old and new during a rotation
    state = state_path or key_path.with_name(key_path.name + ".state.db")

    def build() -> Any:
        return create_witness_app(Witness(signer, logs, state, lambda: datetime.now(UTC)))

    click.echo(f"witness {signer.name} on http://{bind} for {', '.join(logs)}", err=True)
    WsgiServer(gunicorn_options(bind, workers), build).run()


@witness.command()
@click.option("--every", type=float, help="Repeat every SECONDS (default: once).")
@click.pass_obj
def collect(context: CliContext, every: float | None) -> None:
    """Ask the configured witnesses to cosign the latest checkpoint."""
    endpoints = parse_witnesses(context.settings.witnesses)
    if not endpoints:
        raise CommandError("no witnesses configured (setting `witnesses`)")
    store = context.ledger(signing=False)
    while True:
        result = collect_cosignatures(store, endpoints, now=context.now())
        click.echo(
            f"size {result.size}: cosigned by {', '.join(result.cosigned_by) or 'nobody'}"
            + "".join(f"\n  failed: {f}" for f in result.failures),
            err=True,
        )
        if every is None:
            if result.failures:
                raise CommandError(f"{len(result.failures)} witness(es) did not cosign")
            return
        time.sleep(every)
