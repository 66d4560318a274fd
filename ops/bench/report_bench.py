"""Report benchmark (issue 7): a monthly performance assessment for 200 institutions over
about 1,000,000 records, end to end including both PDFs, printed as JSON.

    python ops/bench/report_bench.py [--institutions 200] [--days 39] [--postgres URL]
                                     [--skip-sqlite] [--out FILE]

For each database: a fresh data folder, the province submitted through the
submission service with a replay clock and inspected (as the portal and
inspection benchmarks do), some findings triaged; then ``report generate``'s
path is timed: reading and checking every entry up to the checkpoint
(query), the indicators (compute), the exports and the Chinese and English
PDFs (render), and the publication. The baseline, in the same run, is the
least any report must do: read every entry's payload from the database and
decrypt the sealed ones, with nothing checked or computed.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from bench_support import postgres_schemas, write_report
from sqlalchemy import select

from ledger import schema as ledger_schema
from supervisor.config import Settings
from supervisor.custody.data_folder import initialise
from supervisor.custody.payload_keys import SealedPayloadError
from supervisor.database import tables
from supervisor.demo.province import generate_province
from supervisor.demo.province_files import load_province, write_province
from supervisor.runtime.services import Services, build_services

TARGET_SECONDS = 60.0
LOAD_WINDOW = timedelta(hours=6)


def _raw_read_and_decrypt(services: Services, size: int) -> tuple[float, int]:
    """Seconds to fetch every entry below ``size`` and open every sealed payload."""
    e = ledger_schema.entries.c
    opened = 0
    started = time.perf_counter()
    with services.engine.connect() as connection:
        result = connection.execution_options(yield_per=20_000).execute(
            select(e.payload).where(e.idx < size).order_by(e.idx)
        )
        for (payload,) in result:
            if payload:
                try:
                    services.keys.open(payload)
                    opened += 1
                except SealedPayloadError:
                    pass
    return time.perf_counter() - started, opened


def _triage_some(services: Services, at: Any) -> int:
    """Order rectification of every tenth finding and resolve half of those."""
    with services.engine.connect() as connection:
        ids = list(
            connection.execute(
                select(tables.findings.c.finding_id).order_by(tables.findings.c.entry_index)
            ).scalars()
        )[::10][:400]
    services.triage.clock = lambda: at
    roles = frozenset({"regulator"})
    for finding_id in ids:
        services.triage.act(
            finding_id, "order_rectification", username="bench", roles=roles,
            deadline=at.date() + timedelta(days=15),
        )  # fmt: skip
    services.triage.clock = lambda: at + timedelta(days=3)
    for finding_id in ids[::2]:
        services.triage.act(finding_id, "resolve", username="bench", roles=roles)
    return len(ids)


def _run(name: str, database_url: str, folder: Path, work: Path, period: str) -> dict[str, Any]:
    settings = Settings(data_dir=work / name, database_url=database_url)
    initialise(settings)
    started = time.perf_counter()
    report = load_province(folder, settings, over_http=False, batch_window=LOAD_WINDOW)
    later = report.ended_at + timedelta(days=4)
    services = build_services(settings, lambda: later)
    services.inspector.follow()
    triaged = _triage_some(services, report.ended_at)
    print(f"{name}: {report.records} records loaded, inspected and {triaged} findings triaged "
          f"in {time.perf_counter() - started:.0f} s", file=sys.stderr)  # fmt: skip
    services.store.sign_checkpoint(now=later)
    size = services.store.head().size
    baseline_seconds, opened = _raw_read_and_decrypt(services, size)
    started = time.perf_counter()
    generated = services.reports.generate("assessment", period, requested_by="bench")
    end_to_end = time.perf_counter() - started
    timings = generated.computed.timings
    document = generated.computed.data.document
    institutions = document["assessment"]["institutions"]
    verify_started = time.perf_counter()
    verification = services.reports.verify(generated.computed.pdfs["zh"])
    verify_seconds = time.perf_counter() - verify_started
    services.engine.dispose()
    return {
        "database": name,
        "records": report.records,
        "entries": size,
        "institutions_assessed": len(institutions),
        "institutions_ranked": sum(1 for i in institutions if i["ranked"]),
        "pdf_bytes": {k: len(v) for k, v in generated.computed.pdfs.items()},
        "end_to_end_seconds": round(end_to_end, 2),
        "split_seconds": {
            "query": round(timings.query, 2),
            "compute": round(timings.compute, 2),
            "render": round(timings.render, 2),
            "publish_and_files": round(
                end_to_end - timings.query - timings.compute - timings.render, 2
            ),
        },
        "baseline_raw_read_and_decrypt_seconds": round(baseline_seconds, 2),
        "baseline_payloads_opened": opened,
        "ratio_to_baseline": round(end_to_end / baseline_seconds, 2),
        "verify_seconds": round(verify_seconds, 2),
        "verified": verification.ok,
        "target_seconds": TARGET_SECONDS,
        "meets_target": end_to_end <= TARGET_SECONDS,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--institutions", type=int, default=200)
    parser.add_argument("--days", type=int, default=39)
    parser.add_argument("--period", default="2026-10")
    parser.add_argument("--postgres", help="also run on this PostgreSQL database URL")
    parser.add_argument("--skip-sqlite", action="store_true", help="only PostgreSQL")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="report-bench-") as temporary:
        work = Path(temporary)
        province = generate_province(
            institutions=args.institutions,
            days=args.days,
            seed=11,
            violation_rate=0.05,
            end=date(2026, 11, 1),
        )
        write_province(province, work / "province")
        del province
        runs = [] if args.skip_sqlite else [_run("sqlite", "", work / "province", work,
                                                  args.period)]  # fmt: skip
        if args.postgres:
            with postgres_schemas(args.postgres, ["reports"]) as urls:
                runs.append(
                    _run("postgresql", urls["reports"], work / "province", work, args.period)
                )
    write_report(
        {"benchmark": "report", "province": vars(args) | {"out": None}, "runs": runs}, args.out
    )


if __name__ == "__main__":
    main()
