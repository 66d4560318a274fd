"""``careledger submit``: a platform's client; batches, signs, submits, verifies receipts."""

from __future__ import annotations

import os
import uuid
from collections import deque
from collections.abc import Iterator
from pathlib import Path
from typing import Any, BinaryIO

import click
import orjson

from ledger.note import Verifier
from supervisor.cli import CliContext
from supervisor.cli.errors import CommandError
from supervisor.client.outbox import Outbox
from supervisor.client.submit import (
    PlatformKeyFile,
    ReceiptVerifier,
    SubmitClient,
    SubmitError,
    load_platform_key,
    sign_envelope,
)
from supervisor.custody.key_files import read_secret
from supervisor.intake.receipts import ReceiptError, verify_recovered_receipt


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


def log_verifier(context: CliContext, vkey: str | None) -> Verifier:
    """The log key receipts are verified from: the one given, or the data folder's."""
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
    file are skipped, so running it again resumes. Each batch is written to an
    outbox (RECORDS.outbox.json) before it is sent: after a crash, the rerun
    resends exactly that batch and gets its original receipt; records the
    regulator holds already from this platform lead to their original receipt.
    """
    key = load_platform_key(read_secret(key_path))
    receipt_verifier = ReceiptVerifier(url, log_verifier(context, log_vkey))
    receipts_path = receipts_path or records_path.with_name(records_path.name + ".receipts.jsonl")
    outbox = Outbox(records_path.with_name(records_path.name + ".outbox.json"))
    client = SubmitClient(url)
    run = _Run(
        context,
        platform_id=platform_id,
        key=key,
        client=client,
        verifier=receipt_verifier,
        outbox=outbox,
    )
    try:
        with receipts_path.open("ab") as receipts:
            run.receipts = receipts
            run.by_id = {r.get("record_id"): r for _, r in _records(records_path)}
            held = outbox.pending()
            if held is not None:  # the previous run stopped with this batch in flight
                run.send(held, recovering=True)
            done = _already_receipted(receipts_path)
            pending = [(n, r) for n, r in _records(records_path) if r.get("record_id") not in done]
            with click.progressbar(length=len(pending), label="submitting") as bar:
                run.bar = bar
                queue = deque(pending)
                while queue:
                    chunk = [queue.popleft() for _ in range(min(batch_size, len(queue)))]
                    envelope = sign_envelope(
                        platform_id=platform_id,
                        key=key,
                        batch_id=f"b-{uuid.uuid4().hex}",
                        created_at=context.now(),
                        records=[record for _, record in chunk],
                    )
                    covered = run.send(envelope, first_line=chunk[0][0], path=records_path)
                    # Records the regulator held already were receipted from their own
                    # batch; the rest of this chunk goes again in a new one.
                    queue.extendleft(
                        reversed([c for c in chunk if c[1]["record_id"] not in covered])
                    )
    finally:
        client.close()
    skipped = len(done)
    if not pending and not run.sent:
        click.echo(f"nothing new to submit: all {skipped} records have receipts", err=True)
        return
    click.echo(
        f"{run.sent} records accepted, every receipt verified; receipts in {receipts_path}"
        + (f" ({skipped} already receipted, skipped)" if skipped else ""),
        err=True,
    )


class _Run:
    """One run of ``careledger submit``: sends batches, writes receipts, recovers lost ones."""

    def __init__(
        self,
        context: CliContext,
        *,
        platform_id: str,
        key: PlatformKeyFile,
        client: SubmitClient,
        verifier: ReceiptVerifier,
        outbox: Outbox,
    ) -> None:
        self.context, self.platform_id, self.key = context, platform_id, key
        self.client, self.verifier, self.outbox = client, verifier, outbox
        self.receipts: BinaryIO | None = None
        self.bar: Any = None
        self.by_id: dict[Any, Any] = {}
        self.sent = 0

    def _write(self, receipt: dict[str, Any], count: int) -> None:
        assert self.receipts is not None
        self.receipts.write(orjson.dumps(receipt) + b"\n")
        self.receipts.flush()
        os.fsync(self.receipts.fileno())
        self.sent += count
        if self.bar is not None:
            self.bar.update(count)

    def send(
        self,
        envelope: dict[str, Any],
        *,
        recovering: bool = False,
        first_line: int = 0,
        path: Path | None = None,
    ) -> set[str]:
        """Send one batch (held in the outbox first); returns the record ids now receipted."""
        if not recovering:
            self.outbox.hold(envelope)
        try:
            _, receipt = self.client.submit(envelope)
        except SubmitError as e:
            problem = e.problem or {}
            if problem.get("received_in"):
                recovered = self._recover(problem["received_in"])
                self.outbox.clear()
                return recovered
            if problem:  # refused for good: resending these bytes cannot help
                self.outbox.clear()
            where = f"{path}:{first_line}" if path else "held in the outbox"
            raise CommandError(
                f"batch starting at {where} refused: {e}\n"
                f"{self.sent} records were accepted and receipted before it."
                + (
                    ""
                    if problem
                    else " The batch is kept in the outbox and resent on the next run."
                )
            ) from e
        try:
            self.verifier.verify(receipt, envelope)
        except ReceiptError as e:
            raise CommandError(
                f"the receipt for batch {envelope['batch_id']} does not verify: {e}. "
                "Keep the receipt and the batch as evidence and report it."
            ) from e
        self._write(receipt, len(envelope["records"]))
        self.outbox.clear()
        return {r["record_id"] for r in envelope["records"]}

    def _recover(self, received_in: list[dict[str, Any]]) -> set[str]:
        """Fetch the original receipts of records the regulator holds already from us, and
        check that it holds exactly our content; a different content is a real conflict."""
        recovered: set[str] = set()
        for batch_id in dict.fromkeys(str(item["batch_id"]) for item in received_in):
            receipt = self.client.fetch_receipt(
                self.platform_id, self.key, batch_id, now=self.context.now()
            )
            try:
                confirmed = verify_recovered_receipt(
                    receipt, self.verifier.log_keys, self.platform_id, self.by_id
                )
            except ReceiptError as e:
                raise CommandError(f"record {e}") from e
            self._write(receipt, len(confirmed))
            recovered |= confirmed
        return recovered
