"""``careledger audit ...``: the auditor's tools; they trust nothing but the keys given."""

from __future__ import annotations

from pathlib import Path

import click
import orjson

from ledger.errors import LedgerError
from ledger.note import Verifier
from supervisor.cli.errors import CommandError
from supervisor.intake.receipts import ReceiptError, verify_receipt
from supervisor.transparency.monitor import (
    HttpLogSource,
    MonitorAlarmError,
    MonitorState,
    audit,
    export_log,
    verify_export,
)


@click.group("audit")
def audit_group() -> None:
    """Check a log, a receipt or an export with proofs alone (exit 1 on any alarm)."""


def _verifier(vkey: str) -> Verifier:
    try:
        return Verifier.from_vkey(vkey.strip())
    except LedgerError as e:
        raise CommandError(f"--vkey is not a verifier key: {e}") from e


def _announced_size(note: bytes) -> int:
    """The size a checkpoint claims, for a progress bar only (the audit verifies it)."""
    lines = note.split(b"\n")
    return int(lines[1]) if len(lines) > 1 and lines[1].isdigit() else 0


def _alarm(error: MonitorAlarmError) -> CommandError:
    return CommandError(f"ALARM ({error.kind}): {error}")


@audit_group.command("log")
@click.argument("url")
@click.option("--vkey", required=True, help="The log's verifier key, obtained out of band.")
@click.option(
    "--state",
    "state_path",
    type=click.Path(path_type=Path, dir_okay=False),
    required=True,
    help="This monitor's memory of the last verified checkpoint (created on first run).",
)
@click.option("--witness-vkey", "witness_vkeys", multiple=True, help="A witness's key.")
@click.option("--witness-quorum", type=click.IntRange(0), default=0, show_default=True)
@click.option(
    "--full",
    is_flag=True,
    help="Recompute every entry and tile from the first, not only those added since the last run.",
)
@click.option("--parallel", type=click.IntRange(1, 32), default=4, show_default=True)
def audit_log(
    url: str,
    *,
    vkey: str,
    state_path: Path,
    witness_vkeys: tuple[str, ...],
    witness_quorum: int,
    full: bool,
    parallel: int,
) -> None:
    """Verify the log at URL, that it only grew since the last run, and every entry added
    since then (each entry and tile the first time, and with --full)."""
    verifier = _verifier(vkey)
    state = MonitorState.load(state_path)
    source = HttpLogSource(url)
    checked = 0 if full or state is None or state.entries is None else state.entries.size
    try:
        length = max(0, _announced_size(source.checkpoint()) - checked)
        with click.progressbar(length=length, label="recomputing") as bar:
            report = audit(
                source,
                verifier,
                state,
                witnesses=[_verifier(v) for v in witness_vkeys],
                witness_quorum=witness_quorum,
                full=full,
                resume=True,
                progress=bar.update,
                parallel=parallel,
            )
    except MonitorAlarmError as e:
        raise _alarm(e) from e
    checkpoint = report.checkpoint
    MonitorState(checkpoint.size, checkpoint.root, report.note, report.entries).save(state_path)
    since = "first run" if report.previous_size is None else f"was {report.previous_size}"
    click.echo(f"log verifies: size {checkpoint.size} ({since}), consistent, signed by the log")
    rotations = len(report.log_keys.keys) - 1
    if rotations:
        click.echo(
            f"the log key was rotated {rotations} time(s), each hand-over proven; "
            f"it signs now as {report.log_keys.current.vkey}"
        )
    if report.witnesses:
        click.echo(f"cosigned by: {', '.join(report.witnesses)}")
    if full:
        click.echo(f"recomputed {report.entries_recomputed} entries from every tile and bundle")
    else:
        click.echo(
            f"recomputed {report.entries_recomputed} new entries (from entry "
            f"{report.recomputed_from}) from their tiles and bundles"
        )


@audit_group.command("receipt")
@click.argument("receipt_path", type=click.Path(path_type=Path, dir_okay=False, exists=True))
@click.option("--vkey", required=True)
@click.option("--log", "log_url", help="Also prove the log's current checkpoint extends it.")
def audit_receipt(receipt_path: Path, *, vkey: str, log_url: str | None) -> None:
    """Verify a submission receipt offline (and, with --log, that the log kept it)."""
    verifier = _verifier(vkey)
    receipt = orjson.loads(receipt_path.read_bytes())
    try:
        verified = verify_receipt(receipt, verifier)
    except ReceiptError as e:
        raise CommandError(f"the receipt does not verify: {e}") from e
    click.echo(
        f"receipt verifies: {len(verified.indices)} records in the log at size {verified.tree_size}"
    )
    if log_url is None:
        return
    state = MonitorState(verified.tree_size, verified.root, receipt["checkpoint"])
    try:
        report = audit(HttpLogSource(log_url), verifier, state)
    except MonitorAlarmError as e:
        raise _alarm(e) from e
    click.echo(f"the log at size {report.checkpoint.size} still contains them (consistent)")


@audit_group.command("export")
@click.argument("url")
@click.argument("folder", type=click.Path(path_type=Path, file_okay=False))
@click.option("--vkey", required=True)
def audit_export(url: str, folder: Path, *, vkey: str) -> None:
    """Download the public log (tiles, bundles, checkpoints) into FOLDER."""
    try:
        source = HttpLogSource(url)
        with click.progressbar(
            length=_announced_size(source.checkpoint()), label="exporting"
        ) as bar:
            checkpoint = export_log(source, _verifier(vkey), folder, bar.update)
    except MonitorAlarmError as e:
        raise _alarm(e) from e
    click.echo(f"exported size {checkpoint.size} to {folder}")


@audit_group.command("verify-export")
@click.argument("folder", type=click.Path(path_type=Path, file_okay=False, exists=True))
@click.option("--vkey", required=True)
def audit_verify_export(folder: Path, *, vkey: str) -> None:
    """Verify an export with no server: every entry, tile and listed checkpoint."""
    try:
        announced = _announced_size((folder / "checkpoint").read_bytes())
        with click.progressbar(length=announced, label="recomputing") as bar:
            report = verify_export(folder, _verifier(vkey), bar.update)
    except MonitorAlarmError as e:
        raise _alarm(e) from e
    click.echo(
        f"export verifies: {report.entries_recomputed} entries, size {report.checkpoint.size}"
    )
