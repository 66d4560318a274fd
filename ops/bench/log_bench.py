"""Public log benchmark (issue 4): proofs over HTTP and a full audit, as JSON.

    python ops/bench/log_bench.py [--entries 1000000] [--requests 10000] [--clients 4]
                                  [--workers 4] [--postgres URL] [--out FILE]

For each database: a log of ``--entries`` entries with record-sized leaves,
served by `careledger serve` on 127.0.0.1. Client processes send
checkpoint, random inclusion-proof and random consistency-proof requests
over keep-alive connections; each kind is reported as requests/s and
p50/p99 latency, beside the same proofs built in-process from the same
database (the baseline the HTTP path adds to). Then the monitor's
``audit --full`` downloads every tile and entry bundle and recomputes the
tree, beside a raw download of the same URLs with no checking.
"""

from __future__ import annotations

import argparse
import http.client
import json
import multiprocessing
import os
import random
import statistics
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench_support import (
    percentile,
    postgres_schemas,
    record_shaped_batches,
    serving_portal,
    write_report,
)

from ledger.note import Verifier
from ledger.store import LedgerStore
from ledger.tiles import TILE_WIDTH, format_tile_path
from supervisor.config import Settings
from supervisor.custody.data_folder import initialise
from supervisor.custody.key_files import load_log_signer
from supervisor.database.engine import open_engine
from supervisor.transparency.monitor import HttpLogSource, audit

BATCH = 1000


def _fill(settings: Settings, entries: int) -> Verifier:
    initialise(settings)
    signer = load_log_signer(settings.log_key_path, settings.log_origin)
    engine = open_engine(settings.effective_database_url)
    store = LedgerStore(engine, signer)
    for batch in record_shaped_batches(entries, BATCH):
        store.append(batch, now=datetime.now(UTC))
    engine.dispose()
    return signer.verifier


def _paths(kind: str, size: int, count: int, seed: int) -> list[str]:
    rng = random.Random(seed)
    if kind == "checkpoint":
        return ["/log/checkpoint"] * count
    if kind == "inclusion":
        return [
            f"/log/proof/inclusion?index={rng.randrange(size)}&size={size}" for _ in range(count)
        ]
    return [
        f"/log/proof/consistency?old={rng.randrange(1, size)}&size={size}" for _ in range(count)
    ]


def _client(port: int, paths: list[str], start: Any, outcomes: Any) -> None:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    latencies = []
    start.wait()
    began = time.perf_counter()
    for path in paths:
        sent = time.perf_counter()
        connection.request("GET", path)
        response = connection.getresponse()
        response.read()
        if response.status != 200:
            outcomes.put({"error": f"{path}: {response.status}"})
            return
        latencies.append(time.perf_counter() - sent)
    outcomes.put({"latencies": latencies, "began": began, "finished": time.perf_counter()})


def _load(port: int, kind: str, size: int, requests: int, clients: int) -> dict[str, Any]:
    context = multiprocessing.get_context("fork")
    start, outcomes = context.Event(), context.Queue()
    share = requests // clients
    processes = [
        context.Process(target=_client, args=(port, _paths(kind, size, share, n), start, outcomes))
        for n in range(clients)
    ]
    for process in processes:
        process.start()
    time.sleep(1)
    start.set()
    results = [outcomes.get(timeout=600) for _ in processes]
    for process in processes:
        process.join()
    errors = [r["error"] for r in results if "error" in r]
    if errors:
        raise RuntimeError(errors[0])
    latencies = [x for r in results for x in r["latencies"]]
    wall = max(r["finished"] for r in results) - min(r["began"] for r in results)
    return {
        "requests_per_s": round(len(latencies) / wall),
        "p50_ms": round(statistics.median(latencies) * 1000, 3),
        "p99_ms": round(percentile(latencies, 0.99) * 1000, 3),
    }


def _in_process(store: LedgerStore, kind: str, size: int, requests: int) -> dict[str, Any]:
    rng = random.Random(99)
    latencies = []
    for _ in range(requests):
        began = time.perf_counter()
        if kind == "inclusion":
            store.inclusion_proof(rng.randrange(size), size)
        else:
            store.consistency_proof(rng.randrange(1, size), size)
        latencies.append(time.perf_counter() - began)
    return {
        "p50_ms": round(statistics.median(latencies) * 1000, 3),
        "p99_ms": round(percentile(latencies, 0.99) * 1000, 3),
    }


def _raw_download(url: str, size: int, parallel: int) -> float:
    source = HttpLogSource(url)
    tiles = (size + TILE_WIDTH - 1) // TILE_WIDTH

    def fetch(index: int) -> int:
        width = min(TILE_WIDTH, size - index * TILE_WIDTH)
        tile = source.get("/log/" + format_tile_path(0, index, width))
        bundle = source.get("/log/" + format_tile_path(None, index, width))
        return len(tile) + len(bundle)

    began = time.perf_counter()
    with ThreadPoolExecutor(parallel) as pool:
        list(pool.map(fetch, range(tiles)))
    return time.perf_counter() - began


def run(label: str, database_url: str, args: argparse.Namespace) -> dict[str, Any]:
    folder = Path(tempfile.mkdtemp(prefix="careledger-logbench-", dir=os.environ.get("BENCH_DIR")))
    settings = Settings(data_dir=folder / "var", database_url=database_url)
    began = time.perf_counter()
    verifier = _fill(settings, args.entries)
    fill_s = time.perf_counter() - began
    size = args.entries
    with serving_portal(settings.data_dir, database_url, args.workers) as url:
        port = int(url.rsplit(":", 1)[1])
        http_figures = {
            kind: _load(port, kind, size, args.requests, args.clients)
            for kind in ("checkpoint", "inclusion", "consistency")
        }
        raw_s = _raw_download(url, size, args.parallel)
        started = time.perf_counter()
        report = audit(HttpLogSource(url), verifier, None, full=True, parallel=args.parallel)
        audit_s = time.perf_counter() - started
        assert report.entries_recomputed == size
    engine = open_engine(database_url)
    store = LedgerStore(engine)
    baseline = {kind: _in_process(store, kind, size, 2000) for kind in ("inclusion", "consistency")}
    engine.dispose()
    return {
        "database": label,
        "entries": size,
        "fill_seconds": round(fill_s, 1),
        "clients": args.clients,
        "server_workers": args.workers,
        "http": http_figures,
        "in_process_baseline": baseline,
        "audit_full": {
            "seconds": round(audit_s, 2),
            "entries_per_s": round(size / audit_s),
            "raw_download_seconds": round(raw_s, 2),
            "raw_download_entries_per_s": round(size / raw_s),
            "ratio_to_raw_download": round(raw_s / audit_s, 3),
            "parallel_connections": args.parallel,
        },
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--entries", type=int, default=1_000_000)
    parser.add_argument("--requests", type=int, default=10_000)
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--parallel", type=int, default=8)
    parser.add_argument("--postgres")
    parser.add_argument("--no-sqlite", action="store_true")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    report: dict[str, Any] = {"machine": {"cpus": os.cpu_count(), "python": sys.version.split()[0]}}
    if not args.no_sqlite:
        scratch = Path(
            tempfile.mkdtemp(prefix="careledger-logbench-", dir=os.environ.get("BENCH_DIR"))
        )
        report["sqlite"] = run("sqlite", f"sqlite:///{scratch / 'log.db'}", args)
        print(json.dumps(report["sqlite"]), file=sys.stderr)
    if args.postgres:
        with postgres_schemas(args.postgres, ("log",)) as urls:
            report["postgresql"] = run("postgresql", urls["log"], args)
            print(json.dumps(report["postgresql"]), file=sys.stderr)
    write_report(report, args.out)


if __name__ == "__main__":
    main()
