"""``careledger submit``: a platform's client; batches, signs, submits, verifies receipts."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import click
import orjson

from ledger.note import Verifier
from supervisor.cli import CliContext
from supervisor.cli.errors import CommandError
from supervisor.client.submit import (
    ReceiptVerifier,
    SubmitClient,
    SubmitError,
    load_platform_key,
    sign_envelope,
)
from supervisor.custody.key_files import read_secret
from supervisor.intake.receipts import ReceiptError


def _records(path: Path) -> Iterator[tuple[int, Any]]:
    with path.open("rb") as handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                yield number, orjson.loads(line)
            except orjson.JSONDecodeError as e:
                raise CommandError(f"{path}:{number}: not valid JSON: {e.msg}") from e


def _already_receipted(path: Path) -> set[str]:
    """Record ids covered by receipts written by an earlier run (resume after a stop)."""
    if not path.exists():
        return set()
    done: set[str] = set()
    for line in path.read_bytes().splitlines():
        if line.strip():
            done.update(r["record_id"] for r in orjson.loads(line)["records"])
    return done


def _verifier(context: CliContext, vkey: str | None) -> Verifier:
    if vkey:
        return Verifier.from_vkey(vkey)
    return context.log_verifier()


@click.command()
@click.option("--platform", "platform_id", required=True, help="Your platform id.")
@click.option("--key", "key_path", type=click.Path(path_type=Path, dir_okay=False), required=True)
@click.option("--url", default="http://127.0.0.1:8000", show_default=True)
@click.option(
    "--log-vkey",
    envvar="CARELEDGER_LOG_VKEY",
    help="The log's verifier key, obtained out of band (default: this data folder's log.vkey).",
)
@click.option(
    "--receipts",
    "receipts_path",
    type=click.Path(path_type=Path, dir_okay=False),
    help="Append verified receipts here, one JSON per line (default: RECORDS.receipts.jsonl).",
)
@click.option("--batch-size", type=click.IntRange(1, 1000), default=500, show_default=True)
@click.argument("records_path", type=click.Path(path_type=Path, dir_okay=False, exists=True))
@click.pass_obj
def submit(
    context: CliContext,
    *,
    platform_id: str,
    key_path: Path,
    url: str,
    log_vkey: str | None,
    receipts_path: Path | None,
    batch_size: int,
    records_path: Path,
) -> None:
    """Submit RECORDS_PATH (JSON Lines, one record each) in signed batches.

    Every receipt is verified offline against the log's verifier key and the
    records sent before it is written. Records already covered by the receipts
    file are skipped, so running it again resumes.
    """
    key = load_platform_key(read_secret(key_path))
    receipt_verifier = ReceiptVerifier(url, _verifier(context, log_vkey))
    receipts_path = receipts_path or records_path.with_name(records_path.name + ".receipts.jsonl")
    done = _already_receipted(receipts_path)
    pending = [(n, r) for n, r in _records(records_path) if r.get("record_id") not in done]
    client = SubmitClient(url)
    sent = 0
    try:
        with (
            receipts_path.open("ab") as receipts,
            click.progressbar(length=len(pending), label="submitting") as bar,
        ):
            for start in range(0, len(pending), batch_size):
                chunk = pending[start : start + batch_size]
                envelope = sign_envelope(
                    platform_id=platform_id,
                    key=key,
                    batch_id=f"b-{uuid.uuid4().hex}",
                    created_at=context.now(),
                    records=[record for _, record in chunk],
                )
                try:
                    _, receipt = client.submit(envelope)
                    receipt_verifier.verify(receipt, envelope)
                except SubmitError as e:
                    first_line = chunk[0][0]
                    raise CommandError(
                        f"batch starting at {records_path}:{first_line} refused: {e}\n"
                        f"{sent} records were accepted and receipted before it."
                    ) from e
                except ReceiptError as e:
                    raise CommandError(
                        f"the receipt for batch {envelope['batch_id']} does not verify: {e}. "
                        "Keep the receipt and the batch as evidence and report it."
                    ) from e
                receipts.write(orjson.dumps(receipt) + b"\n")
                receipts.flush()
                sent += len(chunk)
                bar.update(len(chunk))
    finally:
        client.close()
    skipped = len(done)
    if not pending:
        click.echo(f"nothing new to submit: all {skipped} records have receipts", err=True)
        return
    click.echo(
        f"{sent} records accepted, every receipt verified; receipts in {receipts_path}"
        + (f" ({skipped} already receipted, skipped)" if skipped else ""),
        err=True,
    )
