"""Ledger benchmark (issue 2): append, proof and verify figures as JSON, each beside a baseline.

    python ops/bench/ledger_bench.py [--entries 1000000] [--postgres URL] [--out FILE]

All runs in one process on the same file system:
* append: our append (with a signed checkpoint per batch, as receipts need)
  vs (a) a raw insert of the same prebuilt rows into the same table with the
  same batching and commits, no tree, and (b) pymerkle's SqliteTree appending
  the same leaf bytes in the same batches;
* proofs: p50/p99 of 10,000 random inclusion and consistency requests at
  full size, and pymerkle's at 100,000 entries for comparison;
* verify: full ``verify_stored_log`` throughput vs a raw scan of the entries.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from bench_support import postgres_schemas, write_report
from sqlalchemy import Engine, select

from ledger import schema
from ledger.canonical import canonical_json
from ledger.database import insert_rows, write_transaction
from ledger.hashing import leaf_hash
from ledger.integrity import verify_stored_log
from ledger.leaf import GENESIS_PREV, encode_leaf
from ledger.note import Signer
from ledger.store import EntryDraft, LedgerStore, format_received_at
from supervisor.database.engine import open_engine, upgrade_database

BATCH = 1000
PROOF_REQUESTS = 10_000
NOW = datetime(2026, 11, 23, 8, 0, tzinfo=UTC)


def statements(count: int, seed: int = 7) -> list[dict[str, str]]:
    """Statements like a record's public header: ids and a commitment (leaves of ~300 bytes)."""
    rng = random.Random(seed)
    return [
        {
            "commitment": rng.randbytes(32).hex(),
            "key_id": rng.randbytes(4).hex(),
            "platform_id": f"P{i % 200:04d}",
            "record_id": f"RX{i:010d}",
        }
        for i in range(count)
    ]


def prepared_engine(url: str) -> Engine:
    engine = open_engine(url)
    upgrade_database(engine)
    return engine


def timed(action: Callable[[], object]) -> float:
    start = time.perf_counter()
    action()
    return time.perf_counter() - start


def bench_append(url: str, items: list[dict[str, str]]) -> tuple[float, Engine, Signer]:
    engine = prepared_engine(url)
    signer = Signer.generate("bench.careledger.local/log")
    store = LedgerStore(engine, signer)
    # Input prebuilt outside the clock, as the raw baseline's rows are.
    batches = [
        [EntryDraft("record.bench", s) for s in items[start : start + BATCH]]
        for start in range(0, len(items), BATCH)
    ]

    def run() -> None:
        for batch in batches:
            store.append(batch, now=NOW)

    return timed(run), engine, signer


def prebuilt_rows(items: list[dict[str, str]]) -> list[dict[str, object]]:
    rows, prev = [], GENESIS_PREV
    received_at = format_received_at(NOW)
    for index, statement in enumerate(items):
        leaf = encode_leaf(index, prev, received_at, "record.bench", canonical_json(statement))
        prev = leaf_hash(leaf)
        rows.append({"idx": index, "type": "record.bench", "leaf": leaf, "payload": None})
    return rows


def bench_raw_insert(url: str, rows: list[dict[str, object]]) -> float:
    """The same rows, batches and commits through the same insert path as the ledger, no tree."""
    engine = prepared_engine(url)
    tuples = [tuple(row.values()) for row in rows]

    def run() -> None:
        for start in range(0, len(tuples), BATCH):
            with write_transaction(engine) as connection:
                insert_rows(connection, schema.entries, tuples[start : start + BATCH])

    elapsed = timed(run)
    engine.dispose()
    return elapsed


def percentiles(samples: list[float]) -> dict[str, float]:
    ordered = sorted(samples)
    return {
        "p50_ms": round(statistics.median(ordered) * 1000, 4),
        "p99_ms": round(ordered[int(len(ordered) * 0.99) - 1] * 1000, 4),
        "max_ms": round(ordered[-1] * 1000, 4),
    }


def bench_proofs(store: LedgerStore, size: int) -> dict[str, object]:
    rng = random.Random(11)
    inclusion, consistency = [], []
    for _ in range(PROOF_REQUESTS):
        index = rng.randrange(size)
        start = time.perf_counter()
        store.inclusion_proof(index, size)
        inclusion.append(time.perf_counter() - start)
        old = rng.randrange(1, size)
        start = time.perf_counter()
        store.consistency_proof(old, size)
        consistency.append(time.perf_counter() - start)
    return {"inclusion": percentiles(inclusion), "consistency": percentiles(consistency)}


def bench_pymerkle(path: Path, rows: list[dict[str, object]], proof_size: int) -> dict[str, object]:
    import pymerkle

    tree = pymerkle.SqliteTree(str(path))
    leaves = [bytes(r["leaf"]) for r in rows]  # type: ignore[arg-type]

    def run() -> None:
        for start in range(0, len(leaves), BATCH):
            tree.append_entries(leaves[start : start + BATCH])

    append_s = timed(run)
    rng = random.Random(13)
    inclusion, consistency = [], []
    for _ in range(200):
        start = time.perf_counter()
        tree.prove_inclusion(rng.randrange(proof_size) + 1, proof_size)
        inclusion.append(time.perf_counter() - start)
        start = time.perf_counter()
        tree.prove_consistency(rng.randrange(1, proof_size), proof_size)
        consistency.append(time.perf_counter() - start)
    tree.close()
    return {
        "append_seconds": round(append_s, 2),
        "append_entries_per_s": round(len(leaves) / append_s),
        f"proofs_at_{proof_size}_over_200_requests": {
            "inclusion": percentiles(inclusion),
            "consistency": percentiles(consistency),
        },
    }


def bench_verify(engine: Engine, signer: Signer, size: int) -> dict[str, object]:
    def raw_scan() -> None:
        with engine.connect() as connection:
            last = -1
            while True:
                batch = connection.execute(
                    select(schema.entries.c.idx, schema.entries.c.leaf)
                    .where(schema.entries.c.idx > last)
                    .order_by(schema.entries.c.idx)
                    .limit(20_000)
                ).all()
                if not batch:
                    break
                last = batch[-1][0]

    scan_s = timed(raw_scan)
    results: list[object] = []
    verify_s = timed(lambda: results.append(verify_stored_log(engine, signer.verifier)))
    assert getattr(results[0], "ok", False), results[0]
    return {
        "verify_seconds": round(verify_s, 2),
        "verify_entries_per_s": round(size / verify_s),
        "raw_scan_entries_per_s": round(size / scan_s),
        "ratio_to_raw_scan": round(scan_s / verify_s, 3),
    }


def run_database(
    label: str,
    url_for: Callable[[str], str],
    items: list[dict[str, str]],
    rows: list[dict[str, object]],
    with_pymerkle: Path | None,
) -> dict[str, object]:
    size = len(items)
    raw_s = bench_raw_insert(url_for("raw"), rows)
    append_s, engine, signer = bench_append(url_for("ledger"), items)
    store = LedgerStore(engine)
    result: dict[str, object] = {
        "database": label,
        "entries": size,
        "batch": BATCH,
        "mean_leaf_bytes": round(sum(len(r["leaf"]) for r in rows) / size),  # type: ignore[arg-type, misc]
        "append": {
            "ledger_entries_per_s": round(size / append_s),
            "raw_insert_entries_per_s": round(size / raw_s),
            "ratio_to_raw_insert": round(raw_s / append_s, 3),
            "note": "ledger append includes a signed, consistency-checked checkpoint per batch",
        },
        "proofs_at_full_size": bench_proofs(store, size),
        "verify": bench_verify(engine, signer, size),
    }
    if with_pymerkle is not None:
        pymerkle_figures = bench_pymerkle(with_pymerkle, rows, min(size, 100_000))
        result["pymerkle_sqlitetree"] = pymerkle_figures
        result["append"]["ratio_to_pymerkle"] = round(  # type: ignore[index]
            (size / append_s) / pymerkle_figures["append_entries_per_s"],
            3,  # type: ignore[operator]
        )
    engine.dispose()
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--entries", type=int, default=1_000_000)
    parser.add_argument(
        "--postgres", help="PostgreSQL URL to also measure (a fresh schema is used)"
    )
    parser.add_argument("--no-pymerkle", action="store_true")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()

    items = statements(args.entries)
    rows = prebuilt_rows(items)
    # The inputs are not the system under test: keep the collector from rescanning
    # millions of prebuilt objects during every measured run (ledger, raw and pymerkle alike).
    gc.collect()
    gc.freeze()
    report: dict[str, object] = {
        "machine": {"cpus": os.cpu_count(), "python": sys.version.split()[0]}
    }
    with tempfile.TemporaryDirectory(dir=os.environ.get("BENCH_DIR")) as folder:
        root = Path(folder)
        report["sqlite"] = run_database(
            "sqlite",
            lambda name: f"sqlite:///{root / name}.db",
            items,
            rows,
            None if args.no_pymerkle else root / "pymerkle.db",
        )
        print(json.dumps(report["sqlite"]), file=sys.stderr)
    if args.postgres:
        with postgres_schemas(args.postgres, ("raw", "ledger")) as urls:
            report["postgresql"] = run_database(
                "postgresql", lambda name: urls[name], items, rows, None
            )
    write_report(report, args.out)


if __name__ == "__main__":
    main()
