"""The dashboard's figures: what arrived today and this month, who sends late, what is open,
the last two weeks' trend, whether the latest signed checkpoint holds, and whether alerts
of high-severity cases get through."""

from __future__ import annotations

import base64
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta, timezone
from typing import Any

from sqlalchemy import Engine, func, select

from ledger.checkpoint import open_checkpoint
from ledger.database import read_transaction
from ledger.errors import LedgerError
from supervisor.cases.alerts import AlertTrouble, alert_trouble
from supervisor.database import tables
from supervisor.runtime.services import Services
from supervisor.transparency.witnessing import witnessed_since

__all__ = ["OPEN_STATES", "Dashboard", "TrendBar", "dashboard"]

CHINA = timezone(timedelta(hours=8))
OPEN_STATES = ("open", "acknowledged", "rectification_ordered")
_TREND_DAYS = 14
_CHART_HEIGHT = 120


@dataclass(frozen=True)
class TrendBar:
    day: date
    records: int
    height: int  # pixels, for the server-drawn SVG chart


@dataclass(frozen=True)
class Dashboard:
    today_by_type: dict[str, int]
    month_by_type: dict[str, int]
    late_institutions: list[tuple[str, int]]
    open_by_severity: dict[str, int]
    open_by_rule: list[tuple[str, int]]
    trend: list[TrendBar]
    size: int
    checkpoint_size: int | None
    checkpoint_root: str | None
    witnesses: list[str]
    log_holds: bool
    log_problem: str | None
    #: Alerts of high cases not getting through (relay down), or None.
    alerts: AlertTrouble | None = None


def _utc_midnight(day: date) -> datetime:
    return datetime.combine(day, time(0), tzinfo=CHINA).astimezone(UTC)


def _by_type(connection: Any, since: datetime) -> dict[str, int]:
    r = tables.records.c
    # Grouped on an expression (types are lower case already), so SQLite takes the covering
    # (received_at, record_type) index for the range instead of reading every record in type
    # order; the same expression is selected, as PostgreSQL requires.
    record_type = func.lower(r.record_type)
    return {
        row[0]: int(row[1])
        for row in connection.execute(
            select(record_type, func.count()).where(r.received_at >= since).group_by(record_type)
        )
    }


def dashboard(services: Services, now: datetime) -> Dashboard:
    """The figures as of ``now`` (days and months are China Standard Time's)."""
    today = now.astimezone(CHINA).date()
    first_of_month = today.replace(day=1)
    f = tables.findings.c
    r = tables.records.c
    engine: Engine = services.engine
    with read_transaction(engine) as connection:
        today_by_type = _by_type(connection, _utc_midnight(today))
        month_by_type = _by_type(connection, _utc_midnight(first_of_month))
        is_open = f.state.in_(OPEN_STATES)
        late = connection.execute(
            select(f.institution_code, func.count())
            .where(f.rule_id == "DATA-LATE", is_open)
            .group_by(f.institution_code)
            .order_by(func.count().desc(), f.institution_code)
            .limit(10)
        ).all()
        by_severity: dict[str, int] = dict(
            connection.execute(
                select(f.severity, func.count()).where(is_open).group_by(f.severity)
            ).all()
        )
        by_rule = connection.execute(
            select(f.rule_id, func.count())
            .where(is_open)
            .group_by(f.rule_id)
            .order_by(func.count().desc(), f.rule_id)
            .limit(12)
        ).all()
        alerts = alert_trouble(connection, now)
        start = today - timedelta(days=_TREND_DAYS - 1)
        counts = []
        for offset in range(_TREND_DAYS):
            day = start + timedelta(days=offset)
            counts.append(
                (
                    day,
                    int(
                        connection.execute(
                            select(func.count()).where(
                                r.received_at >= _utc_midnight(day),
                                r.received_at < _utc_midnight(day + timedelta(days=1)),
                            )
                        ).scalar_one()
                    ),
                )
            )
    highest = max((c for _, c in counts), default=0) or 1
    trend = [TrendBar(day, c, round(c * _CHART_HEIGHT / highest)) for day, c in counts]
    size, checkpoint_size, root, holds, problem = _log_state(services)
    witnessed = witnessed_since(services.store, checkpoint_size) if checkpoint_size else None
    return Dashboard(
        today_by_type,
        month_by_type,
        [(code, int(n)) for code, n in late],
        {k: int(v) for k, v in by_severity.items()},
        [(rule, int(n)) for rule, n in by_rule],
        trend,
        size,
        checkpoint_size,
        root,
        [] if witnessed is None else witnessed[1],
        holds,
        problem,
        alerts,
    )


def _log_state(services: Services) -> tuple[int, int | None, str | None, bool, str | None]:
    """The head, and whether the latest checkpoint's signature and root hold against the
    stored tree (a quick check; `careledger ledger verify` recomputes everything)."""
    store = services.store
    size = store.head().size
    signed = store.latest_checkpoint()
    if signed is None:
        return size, None, None, False, "no signed checkpoint yet"
    try:
        checkpoint, _ = open_checkpoint(signed.note, services.log_keys())
        if store.root_at(checkpoint.size) != checkpoint.root:
            return size, checkpoint.size, None, False, "the stored tree disagrees with it"
    except LedgerError as e:
        return size, None, None, False, str(e)
    return size, checkpoint.size, base64.b64encode(checkpoint.root).decode(), True, None
