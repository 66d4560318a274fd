"""Several processes appending to one database at once: no gap, no duplicate, a verifying log."""

from __future__ import annotations

import multiprocessing
from datetime import UTC, datetime

import pytest
from sqlalchemy import Engine, select

from ledger import schema
from ledger.integrity import verify_stored_log
from ledger.note import Signer
from ledger.store import EntryDraft, LedgerStore
from supervisor.database.engine import open_engine

pytestmark = [pytest.mark.database, pytest.mark.slow]

PROCESSES = 4
BATCHES = 15
BATCH_SIZE = 40


def append_batches(url: str, skey: str, worker: int) -> list[tuple[int, int]]:
    """Run in a child process: append batches, return (first index, count) of each."""
    engine = open_engine(url)
    store = LedgerStore(engine, Signer.from_skey(skey))
    spans = []
    for batch in range(BATCHES):
        drafts = [
            EntryDraft("test.record", {"worker": worker, "batch": batch, "i": i})
            for i in range(BATCH_SIZE)
        ]
        result = store.append(drafts, now=datetime.now(UTC))
        spans.append((result.first_index, len(result.leaf_hashes)))
    engine.dispose()
    return spans


def test_concurrent_appenders_serialise(database_url: str, engine: Engine, signer: Signer) -> None:
    context = multiprocessing.get_context("spawn")
    with context.Pool(PROCESSES) as pool:
        pending = pool.starmap_async(
            append_batches, [(database_url, signer.skey, w) for w in range(PROCESSES)], chunksize=1
        )
        # An auditor verifying the live log must never see a false discrepancy.
        live_checks = 0
        while not pending.ready() or live_checks == 0:
            during = verify_stored_log(engine, signer.verifier)
            assert during.ok, during.discrepancy
            live_checks += 1
        results = pending.get(timeout=120)
    total = PROCESSES * BATCHES * BATCH_SIZE
    covered = sorted(
        i for spans in results for first, count in spans for i in range(first, first + count)
    )
    assert covered == list(range(total))  # every index handed out exactly once
    with engine.connect() as connection:
        stored = list(
            connection.execute(
                select(schema.entries.c.idx).order_by(schema.entries.c.idx)
            ).scalars()
        )
    assert stored == list(range(total))
    verification = verify_stored_log(engine, signer.verifier)
    assert verification.ok, verification.discrepancy
    assert verification.checkpoints_checked == PROCESSES * BATCHES
