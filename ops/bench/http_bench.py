"""Submission benchmark (issue 3): signed batches over HTTP to `careledger serve`, as JSON.

    python ops/bench/http_bench.py [--records 200000] [--clients 4] [--workers 4]
                                   [--postgres URL] [--out FILE]

For each database: a fresh data folder, one registered platform per client,
`careledger serve` with several gunicorn workers on 127.0.0.1, and client
processes that each send their own batches of 500 realistic records
(consultations, prescriptions, charges, rosters) one after another over a
keep-alive connection. Every batch gets its durable receipt (201) before the
client sends the next. Figures: records/s over the wall time from the start
signal to the last receipt, p50/p99 batch latency, and the ratio to the
ledger-only append of as many entries in batches of 500 measured in the same
run on the same database (the ceiling the HTTP path is built on).

Load-generator work is kept off the clock, as wrk would: clients sign their
batches before the start signal and verify every receipt (checkpoint
signature, inclusion proofs, commitments) after the clock stops. A receipt
that does not verify fails the run.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from bench_support import (
    percentile,
    postgres_schemas,
    record_shaped_batches,
    serving_portal,
    write_report,
)

from ledger.note import Signer, Verifier
from ledger.store import LedgerStore
from supervisor.client.submit import PlatformKeyFile, SubmitClient, sign_envelope
from supervisor.config import Settings
from supervisor.custody.data_folder import initialise
from supervisor.custody.key_files import load_log_signer
from supervisor.database.engine import open_engine, upgrade_database
from supervisor.demo.synthetic import synthetic_records
from supervisor.intake.platforms import PlatformRegistry, generate_platform_key
from supervisor.intake.receipts import verify_receipt

BATCH = 500
CST = timezone(timedelta(hours=8))
START_MOMENT = datetime.now(UTC).astimezone(CST).replace(microsecond=0) - timedelta(days=1)


def _prepare(data_dir: Path, database_url: str, clients: int) -> tuple[Verifier, list[str]]:
    """Schema, keys, and one platform per client; returns the log verifier and platform seeds."""
    settings = Settings(data_dir=data_dir, database_url=database_url)
    initialise(settings)
    signer = load_log_signer(settings.log_key_path, settings.log_origin)
    engine = open_engine(database_url)
    registry = PlatformRegistry(LedgerStore(engine, signer))
    seeds = []
    for n in range(clients):
        seed, public_key = generate_platform_key()
        registry.register(f"H{n:09d}", f"互联网医院{n}", public_key, now=datetime.now(UTC))
        seeds.append(seed.hex())
    engine.dispose()
    return signer.verifier, seeds


@dataclass(frozen=True)
class ClientJob:
    number: int
    seed_hex: str
    records: int
    url: str
    vkey: str


def _client(job: ClientJob, start: Any) -> dict[str, Any]:
    """One platform: sign every batch, wait for the start, send them, then verify receipts."""
    number, records, url = job.number, job.records, job.url
    key = PlatformKeyFile(bytes.fromhex(job.seed_hex))
    institution = f"H{number:09d}"
    platform_id = f"PLT-{institution}"
    pool = list(synthetic_records(institution, records, start=START_MOMENT, seed=number))
    created = datetime.now(UTC)
    envelopes = [
        sign_envelope(
            platform_id=platform_id,
            key=key,
            batch_id=f"bench-{number}-{i}",
            created_at=created,
            records=pool[i : i + BATCH],
        )
        for i in range(0, len(pool), BATCH)
    ]
    client = SubmitClient(url, attempts=1)
    client.submit(sign_envelope(  # warm the connection and this worker, off the clock
        platform_id=platform_id, key=key, batch_id=f"warm-{number}", created_at=created,
        records=[dict(pool[0], record_id=f"WARM-{number}")],
    ))  # fmt: skip
    start.wait()
    latencies, receipts = [], []
    began = time.perf_counter()
    for envelope in envelopes:
        sent = time.perf_counter()
        status, receipt = client.submit(envelope)
        latencies.append(time.perf_counter() - sent)
        if status != 201:
            raise RuntimeError(f"batch {envelope['batch_id']} answered {status}")
        receipts.append(receipt)
    finished = time.perf_counter()
    client.close()
    verifier = Verifier.from_vkey(job.vkey)
    for envelope, receipt in zip(envelopes, receipts, strict=True):
        verify_receipt(receipt, verifier, envelope)
    return {"latencies": latencies, "began": began, "finished": finished, "records": len(pool)}


def _client_process(job: ClientJob, start: Any, outcomes: Any) -> None:
    try:
        outcomes.put(_client(job, start))
    except Exception as e:  # reported to the parent, which fails the run
        outcomes.put({"error": f"{type(e).__name__}: {e}"})


def _ledger_only(database_url: str, count: int) -> float:
    """Entries/s of ``LedgerStore.append`` alone, leaves shaped like records', batches of 500."""
    engine = open_engine(database_url)
    upgrade_database(engine)
    store = LedgerStore(engine, Signer.generate("bench.careledger.local/log"))
    batches = record_shaped_batches(count, BATCH)
    began = time.perf_counter()
    for batch in batches:
        store.append(batch, now=datetime.now(UTC))
    elapsed = time.perf_counter() - began
    engine.dispose()
    return count / elapsed


def run(
    label: str, database_url: str, baseline_url: str, args: argparse.Namespace
) -> dict[str, Any]:
    folder = Path(tempfile.mkdtemp(prefix="careledger-bench-", dir=os.environ.get("BENCH_DIR")))
    verifier, seeds = _prepare(folder / "var", database_url, args.clients)
    with serving_portal(folder / "var", database_url, args.workers) as url:
        per_client = args.records // args.clients
        context = multiprocessing.get_context("fork")
        start = context.Event()
        outcomes = context.Queue()
        clients = [
            context.Process(
                target=_client_process,
                args=(ClientJob(n, seeds[n], per_client, url, verifier.vkey), start, outcomes),
            )
            for n in range(args.clients)
        ]
        for process in clients:
            process.start()
        time.sleep(args.settle)  # clients sign their batches before the clock starts
        start.set()
        results = [outcomes.get(timeout=3600) for _ in clients]
        for process in clients:
            process.join()
        failed = [r["error"] for r in results if "error" in r]
        if failed:
            raise RuntimeError(f"a client failed: {failed[0]}")
    wall = max(r["finished"] for r in results) - min(r["began"] for r in results)
    total = sum(r["records"] for r in results)
    latencies = [x for r in results for x in r["latencies"]]
    ledger_rate = _ledger_only(baseline_url, total)
    http_rate = total / wall
    return {
        "database": label,
        "records": total,
        "batch": BATCH,
        "clients": args.clients,
        "server_workers": args.workers,
        "http_records_per_s": round(http_rate),
        "batch_latency_ms": {
            "p50": round(statistics.median(latencies) * 1000, 1),
            "p99": round(percentile(latencies, 0.99) * 1000, 1),
            "max": round(max(latencies) * 1000, 1),
        },
        "ledger_only_append_entries_per_s": round(ledger_rate),
        "ratio_to_ledger_only_append": round(http_rate / ledger_rate, 3),
        "receipts_verified": len(latencies),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--records", type=int, default=200_000)
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--settle", type=float, default=None, help="seconds to let clients sign")
    parser.add_argument("--postgres", help="PostgreSQL URL to also measure (fresh schemas)")
    parser.add_argument("--no-sqlite", action="store_true")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    if args.settle is None:
        args.settle = 5 + args.records / 20_000
    report: dict[str, Any] = {"machine": {"cpus": os.cpu_count(), "python": sys.version.split()[0]}}
    if not args.no_sqlite:
        scratch = Path(
            tempfile.mkdtemp(prefix="careledger-bench-", dir=os.environ.get("BENCH_DIR"))
        )
        report["sqlite"] = run(
            "sqlite",
            f"sqlite:///{scratch / 'http.db'}",
            f"sqlite:///{scratch / 'ledger-only.db'}",
            args,
        )
        print(json.dumps(report["sqlite"]), file=sys.stderr)
    if args.postgres:
        with postgres_schemas(args.postgres, ("http", "ledger")) as urls:
            report["postgresql"] = run("postgresql", urls["http"], urls["ledger"], args)
            print(json.dumps(report["postgresql"]), file=sys.stderr)
    write_report(report, args.out)


if __name__ == "__main__":
    main()
