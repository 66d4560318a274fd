"""Portal benchmark (issues 6 and 19): dashboard, search and record-page latency with the
demo province loaded, printed as JSON.

    python ops/bench/portal_bench.py [--institutions 130] [--days 60] [--requests 200]
                                     [--postgres URL] [--out FILE]

For each database: a fresh data folder; the province (about 1,000,000
records with the defaults) submitted through the submission service with a
replay clock and inspected, as the inspection benchmark does. The folder
then carries the demo marker and demo accounts, so a regulator signs in to
`careledger serve` (2 workers, loopback) through the demo directory. One
client then asks for the dashboard and for searches (by institution, by
type and dates, by rule, by practitioner) in turn, each ``--requests``
times, over a keep-alive connection with the session cookie. Beside each
figure, the same page's queries run in-process on the same database (the
floor the HTTP path is built on).

The record page (issue 19: p95 <= 150 ms with its timeline and names) is
asked for a spread of consultations, prescriptions and charges across the
ledger, after a checkpoint covering them all is signed, so every page
proves every record of its consultation. Each view appends its access entry
to the ledger, as in production. Its raw baseline, in the same run, is the
stored entry alone (one indexed read of the ledger's row): the ratio says
what the page costs over the least any page showing a record must do.
"""

from __future__ import annotations

import argparse
import http.cookiejar
import re
import sys
import tempfile
import time
import urllib.parse
import urllib.request
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from bench_support import percentile, postgres_schemas, serving_portal, write_report

from supervisor.config import Settings
from supervisor.custody.data_folder import initialise
from supervisor.demo.directory import DEMO_MARKER, create_demo_accounts
from supervisor.demo.province import generate_province
from supervisor.demo.province_files import load_province, write_province
from supervisor.runtime.services import build_services
from supervisor.web.portal.dashboard import dashboard
from supervisor.web.portal.record_page import load_record_view
from supervisor.web.portal.search import RecordQuery, search_records

TARGET_P95_MS = 300.0
RECORD_TARGET_P95_MS = 150.0
LOAD_WINDOW = timedelta(hours=6)


def _searches(institution: str, practitioner: str) -> dict[str, str]:
    return {
        "by institution": f"institution={institution}",
        "by type and dates": "type=prescription&from=2026-09-10&to=2026-09-20",
        "by rule": "rule=RX-DAYS",
        "by practitioner": f"practitioner={practitioner}",
    }


def _sign_in(url: str, password: str) -> urllib.request.OpenerDirector:
    opener = urllib.request.build_opener(
        urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar())
    )
    page = opener.open(f"{url}/portal/login").read().decode()
    token = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert token, page
    form = urllib.parse.urlencode(
        {"username": "demo-regulator", "password": password, "csrf_token": token.group(1)}
    ).encode()
    home = opener.open(f"{url}/portal/login", data=form).read().decode()
    assert "demo-regulator" in home or "演示监管员" in home, home[:500]
    return opener


def _state_purpose(opener: urllib.request.OpenerDirector, url: str) -> None:
    page = opener.open(f"{url}/portal/purpose").read().decode()
    token = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert token, page[:500]
    form = urllib.parse.urlencode(
        {"purpose": "性能基准测试", "back": "/portal/", "csrf_token": token.group(1)}
    ).encode()
    opener.open(f"{url}/portal/purpose", data=form).read()


def _record_sample(services: Any, per_type: int) -> list[int]:
    """Records spread over the whole ledger: ``per_type`` of each service record type."""
    with services.engine.connect() as connection:
        head = connection.exec_driver_sql("SELECT max(entry_index) FROM records").scalar_one()
        chosen: list[int] = []
        for kind in ("consultation", "prescription", "charge"):
            for step in range(per_type):
                chosen.append(
                    connection.exec_driver_sql(
                        "SELECT min(entry_index) FROM records "
                        "WHERE record_type = %s AND entry_index >= %s"
                        if services.engine.dialect.name == "postgresql"
                        else "SELECT min(entry_index) FROM records "
                        "WHERE record_type = ? AND entry_index >= ?",
                        (kind, head * step // per_type),
                    ).scalar_one()
                )
    return chosen


def _cycled(items: list[int]) -> Any:
    position = iter(range(10**9))
    return lambda: items[next(position) % len(items)]


def _timed(fetch: Any, count: int) -> list[float]:
    samples = []
    for _ in range(count):
        started = time.perf_counter()
        fetch()
        samples.append((time.perf_counter() - started) * 1000)
    return samples


def _figures(samples: list[float]) -> dict[str, float]:
    return {
        "p50_ms": round(percentile(samples, 0.50), 1),
        "p95_ms": round(percentile(samples, 0.95), 1),
    }


def _run(name: str, database_url: str, folder: Path, work: Path, requests: int) -> dict[str, Any]:
    settings = Settings(
        data_dir=work / name, database_url=database_url, portal_secure_cookies=False
    )
    initialise(settings)
    started = time.perf_counter()
    report = load_province(folder, settings, over_http=False, batch_window=LOAD_WINDOW)
    services = build_services(settings, lambda: report.ended_at + timedelta(days=4))
    services.inspector.follow()
    load_seconds = time.perf_counter() - started
    print(f"{name}: {report.records} records loaded and inspected in {load_seconds:.0f} s",
          file=sys.stderr)  # fmt: skip
    (settings.data_dir / DEMO_MARKER).write_text("portal benchmark\n")
    password = create_demo_accounts(settings.data_dir)["demo-regulator"]
    institution = "H330100001"
    with services.engine.connect() as connection:
        practitioner = connection.exec_driver_sql(
            "SELECT practitioner_license_no FROM records WHERE record_type = 'consultation' "
            "GROUP BY practitioner_license_no ORDER BY count(*) DESC LIMIT 1"
        ).scalar_one()
    searches = _searches(institution, practitioner)
    now = report.ended_at + timedelta(days=4)
    services.store.sign_checkpoint(now=now)  # every record page proves its whole consultation
    sample = _record_sample(services, 20)
    floor = {"dashboard": _figures(_timed(lambda: dashboard(services, now), requests))}
    for label, query in searches.items():
        parsed, _ = RecordQuery.from_args(dict(urllib.parse.parse_qsl(query)))
        floor[label] = _figures(
            _timed(lambda p=parsed: search_records(services.engine, p, None), requests)
        )
    raw_next, page_next = _cycled(sample), _cycled(sample)
    floor["record page raw baseline (stored entry)"] = _figures(
        _timed(lambda: services.store.entry(raw_next()), requests)
    )
    floor["record page"] = _figures(
        _timed(lambda: load_record_view(services, page_next()), requests)
    )
    services.engine.dispose()
    env = {"CARELEDGER_PORTAL_SECURE_COOKIES": "false"}
    over_http: dict[str, dict[str, float]] = {}
    with serving_portal(settings.data_dir, database_url, workers=2, extra_env=env) as url:
        opener = _sign_in(url, password)
        over_http["dashboard"] = _figures(
            _timed(lambda: opener.open(f"{url}/portal/").read(), requests)
        )
        for label, query in searches.items():
            over_http[label] = _figures(
                _timed(lambda q=query: opener.open(f"{url}/portal/search?{q}").read(), requests)
            )
        _state_purpose(opener, url)
        http_next = _cycled(sample)
        record_page = _figures(
            _timed(lambda: opener.open(f"{url}/portal/records/{http_next()}").read(), requests)
        )
    raw = floor["record page raw baseline (stored entry)"]["p95_ms"]
    return {
        "database": name,
        "records": report.records,
        "over_http": over_http,
        "in_process_floor": floor,
        "worst_p95_ms": max(v["p95_ms"] for v in over_http.values()),
        "target_p95_ms": TARGET_P95_MS,
        "meets_target": all(v["p95_ms"] <= TARGET_P95_MS for v in over_http.values()),
        "record_page": {
            "records_sampled": len(sample),
            "over_http": record_page,
            "target_p95_ms": RECORD_TARGET_P95_MS,
            "meets_target": record_page["p95_ms"] <= RECORD_TARGET_P95_MS,
            "ratio_to_raw_baseline_p95": round(record_page["p95_ms"] / max(raw, 0.001), 1),
        },
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--institutions", type=int, default=130)
    parser.add_argument("--days", type=int, default=60)
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--postgres", help="also run on this PostgreSQL database URL")
    parser.add_argument("--skip-sqlite", action="store_true", help="only PostgreSQL")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="portal-bench-") as temporary:
        work = Path(temporary)
        province = generate_province(
            institutions=args.institutions,
            days=args.days,
            seed=5,
            violation_rate=0.05,
            end=date(2026, 11, 1),
        )
        write_province(province, work / "province")
        del province
        runs = (
            [] if args.skip_sqlite else [_run("sqlite", "", work / "province", work, args.requests)]
        )
        if args.postgres:
            with postgres_schemas(args.postgres, ["portal"]) as urls:
                runs.append(
                    _run("postgresql", urls["portal"], work / "province", work, args.requests)
                )
    write_report(
        {"benchmark": "portal", "province": vars(args) | {"out": None}, "runs": runs}, args.out
    )


if __name__ == "__main__":
    main()
