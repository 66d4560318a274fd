"""The dashboard's figures: what arrived today and this month, who sends late, what is open,
the last two weeks' trend, whether the latest signed checkpoint holds, and whether alerts
of high-severity cases get through."""

from __future__ import annotations

import base64
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import Engine, func, select

from ledger.checkpoint import open_checkpoint
from ledger.database import read_transaction
from ledger.errors import LedgerError
from supervisor.cases.alerts import AlertTrouble, alert_trouble
from supervisor.database import tables
from supervisor.database.record_counts import CHINA
from supervisor.runtime.services import Services
from supervisor.transparency.witnessing import witnessed_since

__all__ = ["OPEN_STATES", "Dashboard", "TrendBar", "dashboard"]

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


def _by_type(connection: Any, first: date, last: date) -> dict[str, int]:
    """Records received from day ``first`` to ``last`` by type, from the summary rows."""
    c = tables.record_counts.c
    return {
        str(kind): int(n)
        for kind, n in connection.execute(
            select(c.record_type, func.sum(c.records))
            .where(c.day >= first, c.day <= last)
            .group_by(c.record_type)
        )
    }


def dashboard(services: Services, now: datetime) -> Dashboard:
    """The figures as of ``now`` (days and months are China Standard Time's)."""
    today = now.astimezone(CHINA).date()
    first_of_month = today.replace(day=1)
    f = tables.findings.c
    engine: Engine = services.engine
    with read_transaction(engine) as connection:
        today_by_type = _by_type(connection, today, today)
        month_by_type = _by_type(connection, first_of_month, today)
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
        c = tables.record_counts.c
        per_day = dict(
            connection.execute(
                select(c.day, func.sum(c.records))
                .where(c.day >= start, c.day <= today)
                .group_by(c.day)
            ).all()
        )
        counts = [
            (day, int(per_day.get(day, 0)))
            for day in (start + timedelta(days=offset) for offset in range(_TREND_DAYS))
        ]
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
