"""History benchmark (issue 22), the part built so far: routine costs at two ledger sizes.

    python ops/bench/history_bench.py [--sizes 1000000 10000000] [--postgres URL] [--out FILE]

For each database and size, a fresh ledger of record-shaped leaves (a record entry's
public header: ids, batch, commitment; no payload, which none of these figures reads)
appended through the store in batches of 1,000, each with its signed checkpoint. Then,
on the clock, at that size:

* append-batch latency: p50 and p99 of 50 more batches of 1,000;
* proofs: p99 of 2,000 inclusion proofs of random entries and 500 consistency proofs
  from random earlier sizes, against the head;
* the auditor's monitor (``audit log``), through the store's tiles and bundles: once from
  entry 0 (the baseline: it grows with the history), then five resumed runs, each after
  10,000 more entries (it should not).

Figures: each at every size, and the ratio of the largest size's to the smallest's
(target for the routine ones: at most 1.3). Not measured here yet, because they need a
province's records and ``careledger demo history`` is not built: the dashboard, search,
the inspector, a month's report and its verification, the incremental backup.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench_support import percentile, postgres_schemas, write_report

from ledger.note import Signer
from ledger.store import EntryDraft, LedgerStore
from supervisor.database.engine import open_engine, upgrade_database
from supervisor.transparency.monitor import MonitorState, audit
from supervisor.transparency.store_source import StoreLogSource

BATCH = 1000
NOW = datetime(2026, 11, 23, 8, 0, tzinfo=UTC)
RESUMED_RUNS = 5
GROWTH = 10_000  # entries added before each resumed monitor run
TARGET_RATIO = 1.3


def _batch(start: int, count: int) -> list[EntryDraft]:
    """A batch of entries whose leaves have a submitted record's shape and size."""
    return [
        EntryDraft(
            "record.consultation",
            {
                "batch_created_at": "2026-11-23T16:00:00+08:00",
                "batch_id": f"bench-{start // BATCH}",
                "batch_signature": "A" * 86 + "==",
                "commitment": os.urandom(32).hex(),
                "institution_code": f"H{(start + i) % 300:09d}",
                "key_id": "0123456789abcdef",
                "platform_id": f"PLT-H{(start + i) % 300:09d}",
                "record_id": f"V{start + i:011d}",
            },
        )
        for i in range(count)
    ]


def _grow(store: LedgerStore, count: int) -> Iterator[float]:
    """Append ``count`` entries in batches; yields each batch's seconds."""
    start = store.head().size
    for first in range(start, start + count, BATCH):
        drafts = _batch(first, min(BATCH, start + count - first))
        began = time.perf_counter()
        store.append(drafts, now=NOW)
        yield time.perf_counter() - began


def _proofs(store: LedgerStore, rng: random.Random) -> dict[str, float]:
    size = store.head().size
    inclusion = []
    for _ in range(2000):
        began = time.perf_counter()
        store.inclusion_proof(rng.randrange(size), size)
        inclusion.append(time.perf_counter() - began)
    consistency = []
    for _ in range(500):
        began = time.perf_counter()
        store.consistency_proof(rng.randrange(1, size), size)
        consistency.append(time.perf_counter() - began)
    return {
        "inclusion_p99_ms": round(percentile(inclusion, 0.99) * 1000, 3),
        "consistency_p99_ms": round(percentile(consistency, 0.99) * 1000, 3),
    }


def _monitor(store: LedgerStore, signer: Signer) -> dict[str, float]:
    source = StoreLogSource(store)  # what the HTTP API serves, without the web server
    began = time.perf_counter()
    report = audit(source, signer.verifier, None, resume=True, parallel=1)
    full_seconds = time.perf_counter() - began
    state = MonitorState(
        report.checkpoint.size, report.checkpoint.root, report.note, report.entries
    )
    resumed = []
    for _ in range(RESUMED_RUNS):
        for _ in _grow(store, GROWTH):
            pass
        began = time.perf_counter()
        report = audit(source, signer.verifier, state, resume=True, parallel=1)
        resumed.append(time.perf_counter() - began)
        assert report.entries_recomputed == GROWTH
        checkpoint = report.checkpoint
        state = MonitorState(checkpoint.size, checkpoint.root, report.note, report.entries)
    return {
        "from_entry_0_seconds": round(full_seconds, 2),
        "resumed_10000_new_seconds_median": round(statistics.median(resumed), 4),
    }


def _measure(url: str, size: int) -> dict[str, Any]:
    engine = open_engine(url)
    upgrade_database(engine)
    signer = Signer.generate("bench.careledger.local/history")
    store = LedgerStore(engine, signer)
    began = time.perf_counter()
    for _ in _grow(store, size):
        pass
    build_seconds = time.perf_counter() - began
    database = url.split(":", maxsplit=1)[0]
    print(f"{database} {size}: built in {build_seconds:.0f} s", file=sys.stderr)
    latencies = list(_grow(store, 50 * BATCH))
    figures: dict[str, Any] = {
        "entries": size,
        "build_entries_per_s": round(size / build_seconds),
        "append_batch_p50_ms": round(statistics.median(latencies) * 1000, 2),
        "append_batch_p99_ms": round(percentile(latencies, 0.99) * 1000, 2),
        **_proofs(store, random.Random(size)),
        **_monitor(store, signer),
    }
    engine.dispose()
    return figures


ROUTINE = (
    "append_batch_p50_ms",
    "append_batch_p99_ms",
    "inclusion_p99_ms",
    "consistency_p99_ms",
    "resumed_10000_new_seconds_median",
)


def _ratios(runs: list[dict[str, Any]]) -> dict[str, Any]:
    small, large = runs[0], runs[-1]
    ratios = {name: round(large[name] / small[name], 3) for name in ROUTINE}
    return {
        "sizes": [small["entries"], large["entries"]],
        "routine": ratios,
        "meets_target": all(r <= TARGET_RATIO for r in ratios.values()),
        "contrast_from_entry_0": round(
            large["from_entry_0_seconds"] / small["from_entry_0_seconds"], 2
        ),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1_000_000, 10_000_000])
    parser.add_argument("--postgres", help="also run on this PostgreSQL database URL")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    report: dict[str, Any] = {"benchmark": "history", "target_ratio": TARGET_RATIO}
    with tempfile.TemporaryDirectory(prefix="history-bench-") as temporary:
        runs = [_measure(f"sqlite:///{temporary}/ledger-{size}.db", size) for size in args.sizes]
        report["sqlite"] = {"runs": runs, "ratios": _ratios(runs)}
        for size in args.sizes:
            os.remove(f"{temporary}/ledger-{size}.db")
    if args.postgres:
        names = [f"history{size}" for size in args.sizes]
        with postgres_schemas(args.postgres, names) as urls:
            runs = [
                _measure(urls[name], size) for name, size in zip(names, args.sizes, strict=True)
            ]
        report["postgresql"] = {"runs": runs, "ratios": _ratios(runs)}
    write_report(report, args.out)


if __name__ == "__main__":
    main()
