"""The scheduled jobs, their schedules, and supervisors' changes to them (ledger entries).

Schedules are cron expressions in China time. The defaults live here; a
supervisor's change is appended to the ledger as a ``schedule.change`` entry
(public: which job, the expression before and after; sealed: who) and
projected into ``schedules``, which the running scheduler polls.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from apscheduler.triggers.cron import CronTrigger
from sqlalchemy import Connection, delete, insert, select

from ledger.database import read_transaction
from ledger.store import AppendResult, LedgerStore
from supervisor.custody.payload_keys import PayloadKeys
from supervisor.database import tables
from supervisor.ground.china_time import PROVINCE_ZONE
from supervisor.ground.sealed_entries import sealed_entry

__all__ = [
    "JOBS",
    "SCHEDULE_ENTRY",
    "JobSpec",
    "ScheduleError",
    "ScheduleService",
    "cron_trigger",
    "schedule_row",
]

SCHEDULE_ENTRY = "schedule.change"
#: Who may change schedules.
SCHEDULE_ROLES = frozenset({"supervisor"})


@dataclass(frozen=True)
class JobSpec:
    job_id: str
    default_cron: str | None  # None: runs every ``every_seconds`` and is not editable
    every_seconds: float | None
    name_zh: str
    name_en: str

    def name(self, language: str) -> str:
        return self.name_zh if language == "zh" else self.name_en


JOBS: dict[str, JobSpec] = {
    spec.job_id: spec
    for spec in (
        JobSpec(
            "checkpoint",
            None,
            5.0,
            "签署检查点并收集见证签名",
            "Sign checkpoints, collect cosignatures",
        ),
        JobSpec("inspection", "* * * * *", None, "智能审核巡检", "Inspection sweep"),
        JobSpec("alerts", "* * * * *", None, "高风险案件告警推送", "Alerts of high-severity cases"),
        JobSpec("case_escalation", "15 0 * * *", None, "逾期案件升级", "Escalate overdue cases"),
        JobSpec("daily_digest", "30 0 * * *", None, "每日智能监管简报", "Daily supervision digest"),
        JobSpec("monthly_assessment", "0 2 1 * *", None, "月度绩效考核", "Monthly assessment"),
        JobSpec(
            "quarterly_assessment",
            "0 3 1 1,4,7,10 *",
            None,
            "季度绩效考核",
            "Quarterly assessment",
        ),
    )
}


class ScheduleError(Exception):
    """A schedule change that cannot be made (bad expression, unknown job, role)."""


_WEEKDAYS = ("sun", "mon", "tue", "wed", "thu", "fri", "sat", "sun")


def _named_weekdays(field: str) -> str:
    """Cron's weekday numbers (0 and 7 Sunday, 1 Monday) as names: APScheduler numbers
    weekdays from Monday = 0, so "0 3 * * 1" would otherwise run on Tuesdays. Steps keep
    their numbers ("*/2"); a number out of range is left for the trigger to refuse."""

    def named(token: str) -> str:
        return _WEEKDAYS[int(token)] if token.isdigit() and int(token) <= 7 else token

    parts = []
    for part in field.split(","):
        span, slash, step = part.partition("/")
        span = "-".join(named(end) for end in span.split("-"))
        parts.append(span + slash + step)
    return ",".join(parts)


def cron_trigger(expression: str) -> CronTrigger:
    """A five-field cron expression in China time; raises ``ScheduleError`` saying why not."""
    fields = expression.split()
    if len(fields) != 5:
        raise ScheduleError(
            f"{expression!r} is not a cron expression: five fields are needed "
            "(minute hour day month weekday), e.g. '30 0 * * *'"
        )
    fields[4] = _named_weekdays(fields[4])
    try:
        return CronTrigger.from_crontab(" ".join(fields), timezone=PROVINCE_ZONE)
    except ValueError as e:
        raise ScheduleError(f"{expression!r} is not a valid cron expression: {e}") from e


def schedule_row(
    index: int, statement: dict[str, Any], changed_by: str, at: datetime
) -> dict[str, Any]:
    return {
        "job_id": statement["job_id"],
        "cron": statement["cron"],
        "entry_index": index,
        "changed_by": changed_by,
        "changed_at": tables.stored_time(at),
    }


def apply_schedule_change(connection: Connection, row: dict[str, Any]) -> None:
    """Upsert the projection row (portable: delete then insert, in the caller's transaction)."""
    connection.execute(delete(tables.schedules).where(tables.schedules.c.job_id == row["job_id"]))
    connection.execute(insert(tables.schedules).values(row))


@dataclass(frozen=True)
class Schedule:
    spec: JobSpec
    cron: str | None
    changed_by: str | None
    changed_at: datetime | None


class ScheduleService:
    def __init__(
        self, store: LedgerStore, keys: PayloadKeys, clock: Callable[[], datetime]
    ) -> None:
        self.store = store
        self.keys = keys
        self.clock = clock

    def current(self) -> dict[str, Schedule]:
        """Every job's schedule in force: a supervisor's last change, else the default."""
        with read_transaction(self.store.engine) as connection:
            rows = {r.job_id: r for r in connection.execute(select(tables.schedules))}
        result = {}
        for job_id, spec in JOBS.items():
            row = rows.get(job_id)
            result[job_id] = (
                Schedule(spec, row.cron, row.changed_by, tables.read_time(row.changed_at))
                if row is not None
                else Schedule(spec, spec.default_cron, None, None)
            )
        return result

    def change(
        self, job_id: str, cron: str, *, username: str, roles: frozenset[str], reason: str = ""
    ) -> int:
        """Change a job's schedule; returns the ledger entry's index."""
        if not roles & SCHEDULE_ROLES:
            raise ScheduleError("only supervisors change schedules")
        spec = JOBS.get(job_id)
        if spec is None:
            raise ScheduleError(f"no scheduled job {job_id!r}")
        if spec.default_cron is None:
            raise ScheduleError(f"{job_id} runs every {spec.every_seconds:g} s; it has no cron")
        normalised = " ".join(cron.split())
        cron_trigger(normalised)
        before = self.current()[job_id].cron
        now = self.clock()
        statement = {"job_id": job_id, "cron": normalised, "cron_before": before}
        draft = sealed_entry(
            self.keys,
            SCHEDULE_ENTRY,
            "schedule",
            now,
            public=statement,
            details={"username": username, "roles": sorted(roles), "reason": reason.strip()[:500]},
        )

        def project(connection: Connection, result: AppendResult) -> None:
            apply_schedule_change(
                connection, schedule_row(result.first_index, statement, username, now)
            )

        return self.store.append([draft], now=now, within=project).first_index
