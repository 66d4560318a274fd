"""Prometheus metrics, read from the database at scrape time.

Every figure comes from the shared database, not from counters in one
process: gunicorn runs several workers on several machines, and a scrape
reaching any of them must see the same totals. Each query is a single-row
lookup or an indexed five-minute window, so a scrape stays cheap at any
ledger size.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from importlib.metadata import PackageNotFoundError, version

from sqlalchemy import Connection, func, select

from ledger import schema as ledger_schema
from supervisor.config import Settings
from supervisor.database import tables

__all__ = ["WINDOW", "Metric", "collect_metrics", "quantile", "render_metrics"]

#: The window of rates, latency quantiles and failed sign-ins.
WINDOW = timedelta(minutes=5)
_LOGIN_WINDOW = timedelta(minutes=15)  # the throttling window of the portal's sign-in
_QUANTILES = (0.5, 0.95, 0.99)


@dataclass(frozen=True)
class Metric:
    name: str
    kind: str  # gauge, counter or summary
    help: str
    samples: Sequence[tuple[str, dict[str, str], float]] = field(default_factory=tuple)

    @staticmethod
    def single(name: str, kind: str, help: str, value: float) -> Metric:
        return Metric(name, kind, help, ((name, {}, value),))


def _escape_help(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n")


def _escape_label(value: str) -> str:  # label values also escape the double quote
    return _escape_help(value).replace('"', '\\"')


def _number(value: float) -> str:
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    return repr(float(value)) if value != int(value) else str(int(value))


def render_metrics(metrics: Iterable[Metric]) -> str:
    """The Prometheus text exposition format, version 0.0.4."""
    lines = []
    for metric in metrics:
        lines.append(f"# HELP {metric.name} {_escape_help(metric.help)}")
        lines.append(f"# TYPE {metric.name} {metric.kind}")
        for name, labels, value in metric.samples:
            text = ",".join(f'{k}="{_escape_label(v)}"' for k, v in sorted(labels.items()))
            lines.append(
                f"{name}{{{text}}} {_number(value)}" if text else f"{name} {_number(value)}"
            )
    return "\n".join(lines) + "\n"


def quantile(sorted_values: Sequence[float], q: float) -> float:
    """Nearest-rank quantile of already sorted values; NaN when there are none."""
    if not sorted_values:
        return math.nan
    rank = max(1, math.ceil(q * len(sorted_values)))
    return sorted_values[rank - 1]


def _package_version() -> str:
    try:
        return version("careledger")
    except PackageNotFoundError:
        return "unknown"


def collect_metrics(connection: Connection, settings: Settings, now: datetime) -> list[Metric]:
    """Read every metric in one transaction (one consistent view)."""
    since = tables.stored_time(now - WINDOW)
    size = connection.execute(select(ledger_schema.head.c.size)).scalar_one()
    latest = connection.execute(
        select(ledger_schema.checkpoints.c.size, ledger_schema.checkpoints.c.signed_at)
        .order_by(ledger_schema.checkpoints.c.size.desc())
        .limit(1)
    ).first()
    cursor = connection.execute(
        select(func.min(tables.inspection_cursor.c.next_index))
    ).scalar_one()
    batches = tables.batches
    timings = sorted(
        row.processing_ms / 1000
        for row in connection.execute(
            select(batches.c.processing_ms).where(
                batches.c.received_at >= since, batches.c.processing_ms.is_not(None)
            )
        )
    )
    recent_records = connection.execute(
        select(func.coalesce(func.sum(batches.c.record_count), 0)).where(
            batches.c.received_at >= since
        )
    ).scalar_one()
    failures = connection.execute(
        select(func.count()).where(
            tables.login_failures.c.failed_at >= tables.stored_time(now - _LOGIN_WINDOW)
        )
    ).scalar_one()
    cosigned = connection.execute(
        select(tables.cosignatures.c.witness, func.max(tables.cosignatures.c.size)).group_by(
            tables.cosignatures.c.witness
        )
    ).all()
    lease = connection.execute(select(tables.scheduler_lease.c.expires_at)).scalar()
    job_failures = connection.execute(
        select(tables.job_runs.c.job_id, func.count())
        .where(
            tables.job_runs.c.status == "failed",
            tables.job_runs.c.started_at >= tables.stored_time(now - timedelta(days=1)),
        )
        .group_by(tables.job_runs.c.job_id)
    ).all()

    checkpoint_size = latest.size if latest else 0
    age = (now - tables.read_time(latest.signed_at)).total_seconds() if latest else math.nan
    # A configured witness that never cosigned lags by the whole log (vkey: name+hash+key).
    witnesses = {w.split()[1].split("+", 1)[0]: 0 for w in settings.witnesses}
    witnesses.update({str(w): int(s) for w, s in cosigned})
    return [
        Metric(
            "careledger_build_info",
            "gauge",
            "The running careledger version.",
            (("careledger_build_info", {"version": _package_version()}, 1),),
        ),
        Metric.single(
            "careledger_ledger_entries_total", "counter", "Entries in the ledger (its size).", size
        ),
        Metric.single(
            "careledger_ingest_records_per_second",
            "gauge",
            "Records accepted per second over the last five minutes.",
            recent_records / WINDOW.total_seconds(),
        ),
        Metric(
            "careledger_batch_processing_seconds",
            "summary",
            "Time from a batch's arrival to its ledger write, over the last five minutes.",
            (
                *(
                    (
                        "careledger_batch_processing_seconds",
                        {"quantile": str(q)},
                        quantile(timings, q),
                    )
                    for q in _QUANTILES
                ),
                ("careledger_batch_processing_seconds_sum", {}, sum(timings)),
                ("careledger_batch_processing_seconds_count", {}, len(timings)),
            ),
        ),
        Metric.single(
            "careledger_inspection_lag_entries",
            "gauge",
            "Ledger entries the inspector has not looked at yet.",
            size - (cursor if cursor is not None else 0),
        ),
        Metric.single(
            "careledger_checkpoint_age_seconds",
            "gauge",
            "Seconds since the latest checkpoint was signed (NaN: none yet).",
            age,
        ),
        Metric.single(
            "careledger_unsigned_entries",
            "gauge",
            "Entries not yet covered by a signed checkpoint.",
            size - checkpoint_size,
        ),
        Metric(
            "careledger_witness_lag_entries",
            "gauge",
            "Entries between the latest checkpoint and the largest one each witness cosigned.",
            tuple(
                ("careledger_witness_lag_entries", {"witness": name}, checkpoint_size - cosigned)
                for name, cosigned in sorted(witnesses.items())
            ),
        ),
        Metric.single(
            "careledger_login_failures_recent",
            "gauge",
            "Failed portal sign-ins in the last fifteen minutes.",
            failures,
        ),
        Metric.single(
            "careledger_scheduler_lease_held",
            "gauge",
            "1 while a scheduler holds an unexpired lease.",
            1 if lease is not None and tables.read_time(lease) > now else 0,
        ),
        Metric(
            "careledger_job_failures_recent",
            "gauge",
            "Scheduled jobs recorded as failed in the last day.",
            tuple(
                ("careledger_job_failures_recent", {"job": str(job)}, count)
                for job, count in job_failures
            ),
        ),
    ]
