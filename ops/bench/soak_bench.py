"""Soak benchmark (issue 8): 30 minutes at half the measured maximum ingest, with searches and
proofs alongside; prints JSON and draws a PNG of throughput, latency and memory over time.

    python ops/bench/soak_bench.py [--minutes 30] [--probe-seconds 60] [--clients 4]
                                   [--workers 4] [--postgres URL] [--out FILE] [--plot FILE]

The production shape on one machine, loopback only: `careledger serve` (gunicorn,
``--workers``), `careledger inspector` and `careledger scheduler` on one database
(PostgreSQL with ``--postgres``, else SQLite).

1. Probe: ``--clients`` platforms send 500-record batches back to back for
   ``--probe-seconds``; their records/s is the measured maximum (the baseline,
   same run, same processes).
2. Soak: the same clients, paced to half that rate on a fixed schedule, for
   ``--minutes``; beside them a regulator signed in to the portal runs searches and an
   auditor asks for inclusion and consistency proofs and verifies them.

Every 10 s a window is recorded: records/s, ingest p50/p99, search p99, proof p99,
errors, and the resident memory of every server process. The verdict compares the
first and last fifth of the soak (after a 2-minute warm-up): no error, memory growth,
p99 drift. The plot needs matplotlib (``pip install -e '.[bench]'``).
"""

from __future__ import annotations

import argparse
import base64
import http.client
import json
import multiprocessing
import os
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.parse
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from bench_support import own_postgres, percentile, postgres_schemas, server_settings, write_report
from http_bench import _prepare  # one platform per client, as the ingest benchmark
from portal_bench import _sign_in

from ledger.checkpoint import open_checkpoint
from ledger.hashing import leaf_hash
from ledger.note import Verifier
from ledger.proof import verify_consistency, verify_inclusion
from supervisor.client.submit import PlatformKeyFile, SubmitClient, sign_envelope
from supervisor.demo.directory import DEMO_MARKER, create_demo_accounts
from supervisor.demo.synthetic import synthetic_records

BATCH = 500
POOL = 10_000  # records per cycle; ids get a cycle suffix so they never repeat
WINDOW_SECONDS = 10
CST = timezone(timedelta(hours=8))


# -- processes under test ------------------------------------------------------------------


@contextmanager
def production(data_dir: Path, database_url: str, workers: int) -> Iterator[tuple[str, list[Any]]]:
    """serve + inspector + scheduler; yields the URL and the processes."""
    import socket

    from supervisor.client.submit import wait_for_portal

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = int(probe.getsockname()[1])
    env = dict(
        os.environ,
        CARELEDGER_DATA_DIR=str(data_dir),
        CARELEDGER_DATABASE_URL=database_url,
        CARELEDGER_PORTAL_SECURE_COOKIES="false",
    )
    command = [sys.executable, "-m", "supervisor.cli"]
    log = (data_dir.parent / "soak-services.log").open("wb")
    started = [
        subprocess.Popen(
            [*command, "serve", "--bind", f"127.0.0.1:{port}", "--workers", str(workers)],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        ),
        subprocess.Popen([*command, "inspector"], env=env, stdout=log, stderr=subprocess.STDOUT),
        subprocess.Popen([*command, "scheduler"], env=env, stdout=log, stderr=subprocess.STDOUT),
    ]
    url = f"http://127.0.0.1:{port}"
    try:
        wait_for_portal(url, lambda: started[0].poll() is None)
        yield url, started
    finally:
        for process in started:
            process.terminate()
        for process in started:
            try:
                process.wait(timeout=60)
            except subprocess.TimeoutExpired:  # reported as slow to stop, never left running
                print(f"{process.args[-1]} took over 60 s to stop; killed", file=sys.stderr)
                process.kill()
                process.wait()
        log.close()


def _tree_rss_kib(pid: int) -> int:
    """Resident memory of a process and its children (gunicorn's workers), KiB."""
    total, pending = 0, [pid]
    while pending:
        current = pending.pop()
        try:
            status = Path(f"/proc/{current}/status").read_text()
            total += next(
                int(line.split()[1]) for line in status.splitlines() if line.startswith("VmRSS:")
            )
            children = Path(f"/proc/{current}/task/{current}/children").read_text().split()
        except (OSError, StopIteration):
            continue
        pending += [int(c) for c in children]
    return total


# -- load ----------------------------------------------------------------------------------


def _batches(number: int, key: PlatformKeyFile) -> Iterator[dict[str, Any]]:
    institution = f"H{number:09d}"
    start = datetime.now(UTC).astimezone(CST).replace(microsecond=0) - timedelta(hours=6)
    pool = list(synthetic_records(institution, POOL, start=start, seed=number))
    cycle = 0
    while True:
        suffix = f"-C{cycle}"
        for first in range(0, POOL, BATCH):
            records = []
            for record in pool[first : first + BATCH]:
                copy = dict(record, record_id=record["record_id"] + suffix)
                if copy.get("consultation_record_id"):
                    copy["consultation_record_id"] += suffix
                records.append(copy)
            yield sign_envelope(
                platform_id=f"PLT-{institution}",
                key=key,
                batch_id=f"soak-{number}-{cycle}-{first}",
                created_at=datetime.now(UTC),
                records=records,
            )
        cycle += 1


def _ingest(number: int, seed_hex: str, url: str, plan: dict[str, float], out: Any) -> None:
    """Send batches: back to back until ``probe_end``, then one every ``interval`` s."""
    client = SubmitClient(url, attempts=1)
    batches = _batches(number, PlatformKeyFile(bytes.fromhex(seed_hex)))
    due = plan["start"]
    while True:
        now = time.time()
        if now >= plan["soak_end"]:
            break
        probing = now < plan["probe_end"]
        envelope = next(batches)
        if not probing:
            due = max(due, plan["probe_end"]) + plan["interval"]
            time.sleep(max(0.0, due - time.time()))
        sent = time.time()
        try:
            status, _ = client.submit(envelope)
        except Exception as e:  # counted, reported; the run fails on any error
            status = f"{type(e).__name__}: {e}"
        out.put(("ingest", sent, time.time() - sent, len(envelope["records"]), status, probing))
    client.close()


def _read(url: str, password: str, vkey: str, plan: dict[str, float], out: Any) -> None:
    """A regulator searching and an auditor asking for proofs, in turn, until the end."""
    verifier = Verifier.from_vkey(vkey)
    opener = _sign_in(url, password)
    host = urllib.parse.urlsplit(url)
    connection = http.client.HTTPConnection(host.hostname or "", host.port, timeout=60)
    searches = ["institution=H000000000", "type=prescription", "institution=H000000001&type=charge"]
    turn = 0
    while time.time() < plan["soak_end"]:
        if time.time() < plan["probe_end"]:
            time.sleep(0.5)
            continue
        started = time.time()
        try:
            page = opener.open(f"{url}/portal/search?{searches[turn % 3]}").read()
            status: Any = 200 if page else "empty page"
        except Exception as e:
            status = f"{type(e).__name__}: {e}"
        out.put(("search", started, time.time() - started, 0, status, False))
        for _ in range(4):
            started = time.time()
            try:
                status = _proof(connection, verifier, turn)
            except Exception as e:
                status = f"{type(e).__name__}: {e}"
                connection.close()
                connection = http.client.HTTPConnection(host.hostname or "", host.port, timeout=60)
            out.put(("proof", started, time.time() - started, 0, status, False))
            turn += 1
        time.sleep(0.05)


def _get_json(connection: http.client.HTTPConnection, path: str) -> Any:
    connection.request("GET", path)
    response = connection.getresponse()
    body = response.read()
    if response.status != 200:
        raise RuntimeError(f"{path}: {response.status}")
    return json.loads(body) if body[:1] in (b"{", b"[") else body


def _proof(connection: http.client.HTTPConnection, verifier: Verifier, turn: int) -> int:
    """Fetch the checkpoint, one entry's inclusion proof and a consistency proof; verify both."""
    note = _get_json(connection, "/log/checkpoint")
    checkpoint, _ = open_checkpoint(note, verifier)
    size = checkpoint.size
    index = (turn * 7919) % size
    entry = _get_json(connection, f"/log/entries/{index}")
    leaf = base64.b64decode(entry["leaf_bytes"])
    proof = _get_json(connection, f"/log/proof/inclusion?index={index}&size={size}")
    verify_inclusion(
        index,
        size,
        leaf_hash(leaf),
        [base64.b64decode(h) for h in proof["hashes"]],
        checkpoint.root,
    )
    old = max(1, size // 2)
    checkpoints = _get_json(connection, f"/log/checkpoints?after={old - 1}&limit=1")
    earlier, _ = open_checkpoint(checkpoints["checkpoints"][0]["note"], verifier)
    consistency = _get_json(connection, f"/log/proof/consistency?old={earlier.size}&size={size}")
    verify_consistency(
        earlier.size,
        size,
        [base64.b64decode(h) for h in consistency["hashes"]],
        earlier.root,
        checkpoint.root,
    )
    return 200


# -- the run -------------------------------------------------------------------------------


def _windows(events: list[tuple[Any, ...]], start: float, end: float) -> list[dict[str, Any]]:
    windows = []
    for left in range(int(start), int(end), WINDOW_SECONDS):
        inside = [e for e in events if left <= e[1] < left + WINDOW_SECONDS]

        def latencies(kind: str, inside: list[tuple[Any, ...]] = inside) -> list[float]:
            return [e[2] * 1000 for e in inside if e[0] == kind and e[4] in (200, 201)]

        ingest = latencies("ingest")
        records = sum(e[3] for e in inside if e[0] == "ingest" and e[4] == 201)
        windows.append(
            {
                "t": left - int(start),
                "records_per_s": records / WINDOW_SECONDS,
                "ingest_p50_ms": round(statistics.median(ingest), 1) if ingest else None,
                "ingest_p99_ms": round(percentile(ingest, 0.99), 1) if ingest else None,
                "search_p99_ms": round(percentile(latencies("search"), 0.99), 1)
                if latencies("search")
                else None,
                "proof_p99_ms": round(percentile(latencies("proof"), 0.99), 1)
                if latencies("proof")
                else None,
                "errors": sum(1 for e in inside if e[4] not in (200, 201)),
            }
        )
    return windows


def run(label: str, database_url: str, args: argparse.Namespace) -> dict[str, Any]:
    folder = Path(tempfile.mkdtemp(prefix="careledger-soak-", dir=os.environ.get("BENCH_DIR")))
    data_dir = folder / "var"
    verifier, seeds = _prepare(data_dir, database_url, args.clients)
    (data_dir / DEMO_MARKER).write_text("soak benchmark\n")
    password = create_demo_accounts(data_dir)["demo-regulator"]
    context = multiprocessing.get_context("fork")
    with production(data_dir, database_url, args.workers) as (url, processes):
        manager = context.Manager()
        out = manager.Queue()
        begin = time.time() + 5
        probe_end = begin + args.probe_seconds
        plan = manager.dict(
            start=begin, probe_end=probe_end, soak_end=probe_end + 3600 * 24, interval=1.0
        )
        ingesters = [
            context.Process(target=_ingest, args=(n, seeds[n], url, plan, out))
            for n in range(args.clients)
        ]
        reader = context.Process(target=_read, args=(url, password, verifier.vkey, plan, out))
        for process in [*ingesters, reader]:
            process.start()
        events: list[tuple[Any, ...]] = []
        memory: list[dict[str, Any]] = []
        time.sleep(max(0.0, probe_end - time.time()))
        while not out.empty():
            events.append(out.get())
        probe = [
            e
            for e in events
            if e[0] == "ingest" and e[5] and e[4] == 201 and begin + 5 <= e[1] < probe_end
        ]
        maximum = sum(e[3] for e in probe) / (args.probe_seconds - 5)
        target = maximum / 2
        plan["interval"] = BATCH * args.clients / target
        soak_start = probe_end
        soak_end = soak_start + args.minutes * 60
        plan["soak_end"] = soak_end
        print(
            f"{label}: maximum {maximum:.0f} records/s; soaking at {target:.0f} for "
            f"{args.minutes} min",
            file=sys.stderr,
        )
        while time.time() < soak_end + 2:
            time.sleep(WINDOW_SECONDS)
            memory.append(
                {
                    "t": round(time.time() - soak_start),
                    "serve_kib": _tree_rss_kib(processes[0].pid),
                    "inspector_kib": _tree_rss_kib(processes[1].pid),
                    "scheduler_kib": _tree_rss_kib(processes[2].pid),
                }
            )
            while not out.empty():
                events.append(out.get())
        for process in [*ingesters, reader]:
            process.join(timeout=120)
        while not out.empty():
            events.append(out.get())
        died = [p.pid for p in processes if p.poll() is not None]
    soak_events = [e for e in events if not e[5] and soak_start <= e[1] < soak_end]
    windows = _windows(soak_events, soak_start, soak_end)
    errors = [e[4] for e in soak_events if e[4] not in (200, 201)]
    warm = [w for w in windows if w["t"] >= 120]
    fifth = max(1, len(warm) // 5)
    first, last = warm[:fifth], warm[-fifth:]

    def mean(rows: list[dict[str, Any]], key: str) -> float:
        values = [r[key] for r in rows if r[key] is not None]
        return round(statistics.fmean(values), 1) if values else float("nan")

    def pooled(rows: list[dict[str, Any]], kind: str) -> float:
        """p99 of every request of ``kind`` in the windows ``rows`` (not a mean of maxima)."""
        lo, hi = soak_start + rows[0]["t"], soak_start + rows[-1]["t"] + WINDOW_SECONDS
        took = [
            e[2] for e in soak_events if e[0] == kind and e[4] in (200, 201) and lo <= e[1] < hi
        ]
        return round(percentile(took, 0.99) * 1000, 1) if took else float("nan")

    memory_warm = [m for m in memory if m["t"] >= 120]
    served = sum(e[3] for e in soak_events if e[0] == "ingest" and e[4] == 201)
    return {
        "database": label,
        "minutes": args.minutes,
        "clients": args.clients,
        "server_workers": args.workers,
        "measured_maximum_records_per_s": round(maximum),
        "target_records_per_s": round(target),
        "soak_records": served,
        "soak_records_per_s": round(served / (soak_end - soak_start)),
        "ratio_to_maximum": round(served / (soak_end - soak_start) / maximum, 3),
        "requests": {
            kind: sum(1 for e in soak_events if e[0] == kind)
            for kind in ("ingest", "search", "proof")
        },
        "errors": len(errors),
        "first_errors": [str(e) for e in errors[:5]],
        "services_died": died,
        "p99_first_fifth_ms": {
            k: mean(first, f"{k}_p99_ms") for k in ("ingest", "search", "proof")
        },
        "p99_last_fifth_ms": {k: mean(last, f"{k}_p99_ms") for k in ("ingest", "search", "proof")},
        "p99_pooled_first_fifth_ms": {k: pooled(first, k) for k in ("ingest", "search", "proof")},
        "p99_pooled_last_fifth_ms": {k: pooled(last, k) for k in ("ingest", "search", "proof")},
        "p99_trend_ms_per_minute": p99_trends(windows, args.minutes),
        "rss_mib_after_warmup": {
            k: [round(memory_warm[0][k] / 1024), round(memory_warm[-1][k] / 1024)]
            for k in ("serve_kib", "inspector_kib", "scheduler_kib")
        }
        if memory_warm
        else {},
        "windows": windows,
        "memory": memory,
    }


def p99_trends(windows: list[dict[str, Any]], minutes: float) -> dict[str, dict[str, float]]:
    """Least-squares slope of each 10 s window's p99, ms per minute, after the 2-minute
    warm-up and over the second half: a stable latency has a slope near zero."""
    spans = {"after_warmup": 120.0, "second_half": minutes * 30}
    trends: dict[str, dict[str, float]] = {}
    for span, start in spans.items():
        trends[span] = {}
        for kind in ("ingest", "search", "proof"):
            points = [
                (w["t"] / 60, w[f"{kind}_p99_ms"])
                for w in windows
                if w["t"] >= start and w[f"{kind}_p99_ms"] is not None
            ]
            if len(points) > 2:
                slope = statistics.linear_regression(*zip(*points, strict=True)).slope
                trends[span][kind] = round(slope, 1)
    return trends


def plot(report: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    windows, memory = report["windows"], report["memory"]
    minutes = [w["t"] / 60 for w in windows]
    figure, (rate, latency, rss) = plt.subplots(3, 1, figsize=(10, 10), sharex=True)
    server = report["database"]
    if server == "postgresql":
        tuned = "postgresql_settings" in report
        server = "PostgreSQL, " + (
            "settings of ops/postgresql/postgresql.conf.example" if tuned else "server defaults"
        )
    figure.suptitle(
        f"careledger soak ({server}): {report['minutes']:g} min at "
        f"{report['target_records_per_s']} records/s,\nhalf of the measured maximum "
        f"{report['measured_maximum_records_per_s']}, with searches and proofs alongside"
    )
    rate.plot(minutes, [w["records_per_s"] for w in windows], label="records/s accepted")
    rate.axhline(report["target_records_per_s"], color="grey", linestyle="--", label="target")
    rate.set_ylabel("records/s")
    rate.legend(loc="lower right")
    for key, name in (
        ("ingest_p99_ms", "batch of 500, p99"),
        ("ingest_p50_ms", "batch, p50"),
        ("search_p99_ms", "portal search, p99"),
        ("proof_p99_ms", "proof request, p99"),
    ):
        latency.plot(minutes, [w[key] for w in windows], label=name)
    latency.set_ylabel("latency per 10 s window (ms)")
    latency.set_yscale("log")
    latency.legend(loc="upper right", fontsize="small")
    for key, name in (
        ("serve_kib", "portal (gunicorn, all workers)"),
        ("inspector_kib", "inspector"),
        ("scheduler_kib", "scheduler"),
    ):
        rss.plot([m["t"] / 60 for m in memory], [m[key] / 1024 for m in memory], label=name)
    rss.set_ylabel("resident memory (MiB)")
    rss.set_xlabel("minutes into the soak")
    rss.legend(loc="center right", fontsize="small")
    figure.tight_layout()
    figure.savefig(path, dpi=90)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=30)
    parser.add_argument("--probe-seconds", type=int, default=60)
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--postgres", help="PostgreSQL database URL (default: SQLite)")
    parser.add_argument(
        "--own-postgres",
        type=Path,
        metavar="CONF",
        help="start a throwaway loopback PostgreSQL with this postgresql.conf's settings "
        "(ops/postgresql/postgresql.conf.example: the production advice) and soak on it",
    )
    parser.add_argument("--out", type=Path)
    parser.add_argument("--plot", type=Path)
    args = parser.parse_args()
    if args.own_postgres:
        with own_postgres(args.own_postgres) as url, postgres_schemas(url, ["soak"]) as urls:
            report = run("postgresql", urls["soak"], args)
        report["postgresql_settings"] = server_settings(args.own_postgres)
    elif args.postgres:
        with postgres_schemas(args.postgres, ["soak"]) as urls:
            report = run("postgresql", urls["soak"], args)
    else:
        folder = Path(tempfile.mkdtemp(prefix="careledger-soak-db-"))
        report = run("sqlite", f"sqlite:///{folder / 'careledger.db'}", args)
    if args.plot:
        plot(report, args.plot)
    write_report(
        {k: v for k, v in report.items() if k not in ("windows", "memory")}
        | {"windows": len(report["windows"])},
        None,
    )
    if args.out:
        args.out.write_text(json.dumps(report, indent=2) + "\n")


if __name__ == "__main__":
    main()
