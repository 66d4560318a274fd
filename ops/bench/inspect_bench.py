"""Inspection benchmark (issue 5): the demo province, larger, inspected end to end from the
ledger; printed as JSON.

    python ops/bench/inspect_bench.py [--institutions 130] [--days 60] [--seed 5]
                                      [--postgres URL] [--out FILE]

For each database: a fresh data folder; the province (about 1,000,000
records with the defaults) generated and submitted in signed batches
through the submission service with a replay clock (the API's checks,
sealing and projections, without HTTP: that path is issue 3's benchmark),
each platform sending what it has every six hours of replayed time.
Then, on the clock and in the same run:

* the floor: read every record entry from the ledger with the inspector's
  own read (``read_record_rows``, pages of 10,000) and decrypt its payload,
  nothing else;
* the inspector: ``follow()`` from an empty cursor, past every grace
  deadline, so every record is decided: read, decrypt, parse, look up the
  related records, run the 41 rules, append sealed findings and the run
  entries, move the cursor. As the product runs it (``inspector_processes``
  2: the backlog shared with a second process), then again in one process
  (``inspector_processes`` 1), from an empty cursor.

Then the cost of grouping findings into cases (issue 20): the inspector
again from an empty cursor, eight times, alternately without and with case
grouping (twice without, with, with, without: the ledger grows by the
findings of each pass, so the order cancels out), the projections emptied
before each; the median of each side.
"Without" replaces ``group_findings`` with a function that leaves every
finding without a case (this benchmark's patch; the product has no switch).

Figures: records/s of both, their ratio, the record mix (issue 21: pharmacy
filings, dispensings and deliveries among the records, with cross-platform
double fills), the inspector's precision and recall against the province's
ground-truth labels overall and per rule, and the records/s with
and without grouping with the slowdown (target: at most 10%).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from dataclasses import replace
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from bench_support import postgres_schemas, write_report
from sqlalchemy import delete, func, select

import supervisor.inspection.inspector as inspector_module
from ledger.database import read_transaction, write_transaction
from supervisor.config import Settings
from supervisor.custody.data_folder import initialise
from supervisor.database import tables
from supervisor.demo.province import generate_province
from supervisor.demo.province_files import load_province, read_labels, write_province
from supervisor.inspection.related_records import read_record_rows
from supervisor.runtime.services import build_services

TARGET = 20_000
GROUPING_COST_TARGET = 0.10
#: Rounds of without-with-with-without: the median of each side over them.
ROUNDS = 2
CHUNK = 10_000  # the inspector's chunk
#: Platforms send every six hours here (well within the 24-hour transmission deadline), so
#: a million records take a few minutes to load rather than a quarter of an hour.
LOAD_WINDOW = timedelta(hours=6)


def _floor(settings: Settings) -> tuple[int, float]:
    """Read and decrypt every record entry; returns (records, seconds)."""
    services = build_services(settings)
    records = 0
    started = time.perf_counter()
    start = 0
    open_payload = services.keys.open
    with read_transaction(services.engine) as connection:
        head = services.store.head().size
        while True:
            rows = read_record_rows(connection, start, head, CHUNK)
            for row in rows:
                open_payload(row.payload)
            records += len(rows)
            if len(rows) < CHUNK:
                break
            start = rows[-1].entry_index + 1
    elapsed = time.perf_counter() - started
    services.engine.dispose()
    return records, elapsed


def _no_grouping(connection: Any, rows: Any, keys: Any) -> list[Any]:
    del connection, rows, keys
    return []


def _timed_pass(settings: Settings, later: Any, grouping: bool) -> float:
    """Records/s of one whole inspection from an empty cursor, with or without grouping."""
    services = build_services(settings, lambda: later)
    with write_transaction(services.engine) as connection:
        for table in (
            tables.findings,
            tables.cases,
            tables.inspection_cursor,
            tables.inspection_pending,
        ):
            connection.execute(delete(table))
    real = inspector_module.group_findings
    inspector_module.group_findings = real if grouping else _no_grouping  # type: ignore[assignment]
    try:
        started = time.perf_counter()
        passes = services.inspector.follow()
        seconds = time.perf_counter() - started
    finally:
        inspector_module.group_findings = real  # type: ignore[assignment]
    services.engine.dispose()
    return sum(p.records for p in passes) / seconds


def _grouping_cost(settings: Settings, later: Any) -> dict[str, Any]:
    rates: dict[bool, list[float]] = {False: [], True: []}
    for grouping in (False, True, True, False) * ROUNDS:
        rates[grouping].append(_timed_pass(settings, later, grouping))
    without = statistics.median(rates[False])
    with_grouping = statistics.median(rates[True])
    slowdown = 1 - with_grouping / without
    return {
        "records_per_s_without": round(without),
        "records_per_s_with": round(with_grouping),
        "passes_without": [round(r) for r in rates[False]],
        "passes_with": [round(r) for r in rates[True]],
        "slowdown": round(slowdown, 4),
        "target_slowdown": GROUPING_COST_TARGET,
        "meets_target": slowdown <= GROUPING_COST_TARGET,
    }


def _per_rule(
    found: set[tuple[str, str, str]], labels: set[tuple[str, str, str]]
) -> dict[str, dict[str, float]]:
    """Precision and recall of each rule that found or should have found something."""
    scores = {}
    for rule in sorted({x[2] for x in found | labels}):
        mine = {x for x in found if x[2] == rule}
        truth = {x for x in labels if x[2] == rule}
        hit = len(mine & truth)
        scores[rule] = {
            "found": len(mine),
            "labels": len(truth),
            "precision": round(hit / len(mine), 6) if mine else 1.0,
            "recall": round(hit / len(truth), 6) if truth else 1.0,
        }
    return scores


def _run(
    name: str, database_url: str, folder: Path, work: Path, *, grouping_cost: bool = True
) -> dict[str, Any]:
    settings = Settings(data_dir=work / name, database_url=database_url)
    initialise(settings)
    started = time.perf_counter()
    report = load_province(folder, settings, over_http=False, batch_window=LOAD_WINDOW)
    load_seconds = time.perf_counter() - started
    print(f"{name}: {report.records} records loaded in {load_seconds:.0f} s", file=sys.stderr)
    floor_records, floor_seconds = _floor(settings)
    later = report.ended_at + timedelta(days=4)
    services = build_services(settings, lambda: later)
    started = time.perf_counter()
    passes = services.inspector.follow()
    inspect_seconds = time.perf_counter() - started
    inspected = sum(p.records for p in passes)
    with services.engine.connect() as connection:
        found = {
            (r.institution_code, r.record_id, r.rule_id)
            for r in connection.execute(select(tables.findings))
        }
        cases = connection.execute(select(tables.cases.c.case_id)).all()
        mix = dict(
            connection.execute(
                select(tables.records.c.record_type, func.count()).group_by(
                    tables.records.c.record_type
                )
            ).all()
        )
    services.engine.dispose()
    alone = _timed_pass(replace(settings, inspector_processes=1), later, grouping=True)
    grouping = _grouping_cost(settings, later) if grouping_cost else None
    labels = {(x.institution_code, x.record_id, x.rule) for x in read_labels(folder)}
    hits = len(found & labels)
    inspect_rate = inspected / inspect_seconds
    floor_rate = floor_records / floor_seconds
    return {
        "database": name,
        "records": inspected,
        "record_mix": mix,
        "pharmacy_share": round(
            sum(mix.get(t, 0) for t in ("pharmacy", "dispensing", "delivery")) / inspected, 4
        )
        if inspected
        else 0.0,
        "load_seconds": round(load_seconds, 1),
        "floor_read_and_decrypt": {
            "seconds": round(floor_seconds, 2),
            "records_per_s": round(floor_rate),
        },
        "inspect": {
            "seconds": round(inspect_seconds, 2),
            "records_per_s": round(inspect_rate),
            "passes": len(passes),
            "findings": len(found),
        },
        "ratio_inspect_to_floor": round(inspect_rate / floor_rate, 3),
        "inspect_one_process": {
            "records_per_s": round(alone),
            "ratio_to_floor": round(alone / floor_rate, 3),
        },
        "target_records_per_s": TARGET,
        "meets_target": inspect_rate >= TARGET,
        "labels": len(labels),
        "precision": round(hits / len(found), 6) if found else 1.0,
        "recall": round(hits / len(labels), 6) if labels else 1.0,
        "per_rule": _per_rule(found, labels),
        "cases": len(cases),
        "case_grouping": grouping,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--institutions", type=int, default=130)
    parser.add_argument("--days", type=int, default=60)
    parser.add_argument("--seed", type=int, default=5)
    parser.add_argument("--violation-rate", type=float, default=0.05)
    parser.add_argument("--postgres", help="also run on this PostgreSQL database URL")
    parser.add_argument("--out", type=Path)
    parser.add_argument(
        "--skip-grouping-cost",
        action="store_true",
        help="leave out the eight passes that measure case grouping (issue 20's figure)",
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="inspect-bench-") as temporary:
        work = Path(temporary)
        started = time.perf_counter()
        province = generate_province(
            institutions=args.institutions,
            days=args.days,
            seed=args.seed,
            violation_rate=args.violation_rate,
            end=date(2026, 11, 1),
        )
        write_province(province, work / "province")
        print(
            f"generated {province.record_count()} records in {time.perf_counter() - started:.0f} s",
            file=sys.stderr,
        )
        del province
        grouping_cost = not args.skip_grouping_cost
        runs = [_run("sqlite", "", work / "province", work, grouping_cost=grouping_cost)]
        if args.postgres:
            with postgres_schemas(args.postgres, ["inspect"]) as urls:
                runs.append(
                    _run(
                        "postgresql",
                        urls["inspect"],
                        work / "province",
                        work,
                        grouping_cost=grouping_cost,
                    )
                )
    write_report(
        {
            "benchmark": "inspect",
            "province": {
                "institutions": args.institutions,
                "days": args.days,
                "seed": args.seed,
                "violation_rate": args.violation_rate,
            },
            "runs": runs,
        },
        args.out,
    )


if __name__ == "__main__":
    main()
