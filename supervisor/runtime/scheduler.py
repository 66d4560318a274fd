"""``careledger scheduler``: the scheduled jobs, run by exactly one process per database.

APScheduler keeps the jobs in the same database (``SQLAlchemyJobStore``), so
they and their next run times survive a restart; misfires coalesce into one
run however long the scheduler was down. Only the holder of the
``scheduler_lease`` row runs jobs: the lease is taken and renewed by
compare-and-swap and expires if its holder dies, so a second scheduler
refuses to start (or waits as a standby) and never runs a job twice. A
scheduler that fails to renew stops its jobs before the lease can expire.
Each attempt of a job is a ``job_runs`` row; a failing job is retried with
doubling delays and its last failure shown on the portal. Alerts of high cases go
out every minute (their own job: a relay that is down never holds up inspection);
overdue cases are escalated daily and once at start.
"""

from __future__ import annotations

import logging
import threading
import time
import traceback
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from apscheduler.jobstores.memory import MemoryJobStore
from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.schedulers.base import STATE_STOPPED
from apscheduler.triggers.interval import IntervalTrigger
from sqlalchemy import Engine, func, insert, select, update

from ledger.database import write_transaction
from supervisor.cases.alerts import AlertDispatcher, AlertSettings
from supervisor.database import tables
from supervisor.ground.china_time import PROVINCE_ZONE
from supervisor.inspection.follower import follow_in_turn, follower_lease
from supervisor.inspection.inspector import InspectionConflictError
from supervisor.inspection.leases import Lease, default_holder
from supervisor.reporting.service import ReportService
from supervisor.runtime.schedules import cron_trigger
from supervisor.runtime.services import Services
from supervisor.transparency.witnessing import collect_cosignatures, parse_witnesses

__all__ = [
    "JobRunner",
    "JobStoreScheduler",
    "Scheduler",
    "SchedulerBusyError",
    "job_functions",
    "run_job",
]

_log = logging.getLogger(__name__)


class SchedulerBusyError(Exception):
    """Another scheduler holds the lease on this database."""


def _now() -> datetime:
    return datetime.now(PROVINCE_ZONE)


# -- the jobs ----------------------------------------------------------------


def _local_today(now: datetime) -> date:
    return now.astimezone(PROVINCE_ZONE).date()


def _previous_month(today: date) -> str:
    first = today.replace(day=1) - timedelta(days=1)
    return f"{first.year}-{first.month:02d}"


def _previous_quarter(today: date) -> str:
    quarter = (today.month - 1) // 3 + 1
    year, previous = (today.year, quarter - 1) if quarter > 1 else (today.year - 1, 4)
    return f"{year}-Q{previous}"


def _publish_once(reports: ReportService, kind: str, period: str) -> str:
    """Publish the report for a period unless one already is (a rerun changes nothing)."""
    existing = reports.list(kind=kind, period=period, limit=1)
    if existing and existing[0].period == period:
        return f"{kind} {period} already published ({existing[0].report_id})"
    generated = reports.generate(kind, period, requested_by="scheduler")
    return f"published {generated.report.report_id} at entry {generated.report.entry_index}"


def job_functions(
    services: Services, stopping: Callable[[], bool] = lambda: False
) -> dict[str, Callable[[], str]]:
    """Job id -> what it does (returns a one-line summary for ``job_runs``).

    ``stopping`` ends a long inspection sweep between passes when the scheduler stops,
    so stopping never waits for a backlog of millions of records.
    """
    settings = services.settings
    witnesses = parse_witnesses(settings.witnesses)

    def checkpoint() -> str:
        signed = services.store.sign_checkpoint(now=services.clock())
        summary = f"checkpoint at size {signed.checkpoint.size}"
        if witnesses:
            result = collect_cosignatures(services.store, witnesses, now=services.clock())
            summary += f", cosigned by {len(result.cosigned_by)} of {len(witnesses)}"
            if result.failures:
                raise RuntimeError(summary + "; failed: " + "; ".join(result.failures))
        return summary

    def inspection() -> str:
        lease = follower_lease(services.engine)
        try:
            passes = follow_in_turn(services.inspector, lease, stopping)
        except InspectionConflictError:
            return "skipped: another inspector moved the cursor first"
        finally:
            lease.release()  # a `careledger inspector` started meanwhile takes over
        if passes is None:
            # `careledger inspector` follows the ledger: the records are being inspected.
            return f"skipped: {lease.holder_text()} follows the ledger"
        findings = sum(p.findings for p in passes)
        return f"{len(passes)} passes, {findings} new findings"

    def daily_digest() -> str:
        yesterday = _local_today(services.clock()) - timedelta(days=1)
        return _publish_once(services.reports, "digest", yesterday.isoformat())

    def monthly_assessment() -> str:
        period = _previous_month(_local_today(services.clock()))
        return _publish_once(services.reports, "assessment", period)

    def quarterly_assessment() -> str:
        period = _previous_quarter(_local_today(services.clock()))
        return _publish_once(services.reports, "assessment", period)

    alert_settings = AlertSettings.from_settings(settings)

    def alerts() -> str:
        # Failed sends are recorded per alert and retried by the dispatcher's own backoff;
        # the job itself fails only if the database does.
        if not alert_settings.targets():
            return "alerts not configured (alert_smtp_host, alert_webhook_url)"
        dispatcher = AlertDispatcher(services.engine, alert_settings, services.clock)
        return dispatcher.run().summary()

    def case_escalation() -> str:
        escalated = services.cases.escalate_overdue()
        return f"escalated {len(escalated)} overdue cases" + (
            f": {', '.join(escalated[:20])}" if escalated else ""
        )

    return {
        "checkpoint": checkpoint,
        "inspection": inspection,
        "alerts": alerts,
        "case_escalation": case_escalation,
        "daily_digest": daily_digest,
        "monthly_assessment": monthly_assessment,
        "quarterly_assessment": quarterly_assessment,
    }


def _sleep(seconds: float) -> bool:
    """Wait before a retry; a runner without a scheduler is never stopping."""
    time.sleep(seconds)
    return False


@dataclass
class JobRunner:
    """Runs a job with retries, recording every attempt.

    One run of a job at a time in this process (an interrupted run's rerun and the
    job's own next run can fall due together). ``wait`` sleeps before a retry and
    returns True if the scheduler is stopping: the retry is then left to the next
    lease holder, which reruns it, rather than holding up the stop for minutes.
    """

    engine: Engine
    jobs: Mapping[str, Callable[[], str]]
    attempts: int
    retry_seconds: float
    clock: Callable[[], datetime] = _now
    wait: Callable[[float], bool] = _sleep
    _running: dict[str, threading.Lock] = field(default_factory=dict)
    _guard: threading.Lock = field(default_factory=threading.Lock)

    def _lock_of(self, job_id: str) -> threading.Lock:
        with self._guard:
            return self._running.setdefault(job_id, threading.Lock())

    def _start(self, job_id: str, attempt: int) -> int:
        with write_transaction(self.engine) as connection:
            return int(
                connection.execute(
                    insert(tables.job_runs).values(
                        job_id=job_id,
                        attempt=attempt,
                        status="running",
                        started_at=tables.stored_time(self.clock()),
                        detail="",
                    )
                ).inserted_primary_key[0]  # type: ignore[index]
            )

    def _finish(self, run_id: int, status: str, detail: str) -> None:
        with write_transaction(self.engine) as connection:
            connection.execute(
                update(tables.job_runs)
                .where(tables.job_runs.c.id == run_id)
                .values(
                    status=status,
                    finished_at=tables.stored_time(self.clock()),
                    detail=detail[-2000:],
                )
            )

    def interrupted(self) -> list[str]:
        """Jobs a stopped scheduler left "running" (killed mid-run) or "retrying" with no
        later attempt (stopped while waiting to retry), now marked interrupted.

        Called by the lease holder before its jobs start, so no run is really going on.
        """
        runs = tables.job_runs
        latest = select(func.max(runs.c.id)).group_by(runs.c.job_id)
        killed = runs.c.status == "running"
        never_retried = (runs.c.status == "retrying") & runs.c.id.in_(latest)
        now = tables.stored_time(self.clock())
        with write_transaction(self.engine) as connection:
            job_ids = set(
                connection.execute(select(runs.c.job_id).where(killed | never_retried)).scalars()
            )
            connection.execute(
                update(runs)
                .where(killed)
                .values(
                    status="interrupted",
                    finished_at=now,
                    detail="the scheduler stopped during this run; it runs again",
                )
            )
            connection.execute(
                update(runs)
                .where(never_retried)
                .values(
                    status="interrupted",
                    detail=runs.c.detail + "\nthe scheduler stopped before retrying; it runs again",
                )
            )
        return [job_id for job_id in sorted(job_ids) if job_id in self.jobs]

    def run(self, job_id: str) -> bool:
        """Run ``job_id`` up to ``attempts`` times; True once an attempt succeeds."""
        if job_id not in self.jobs:
            # A stored job this runner was not given (a test's or an older set): not a failure.
            _log.warning("no such job in this scheduler", extra={"job": job_id})
            return False
        with self._lock_of(job_id):
            return self._attempts(job_id)

    def _attempts(self, job_id: str) -> bool:
        for attempt in range(1, self.attempts + 1):
            run_id = self._start(job_id, attempt)
            try:
                summary = self.jobs[job_id]()
            except Exception as e:  # a job's failure is recorded and retried, never lost
                last = attempt == self.attempts
                detail = f"{type(e).__name__}: {e}\n{traceback.format_exc(limit=3)}"
                self._finish(run_id, "failed" if last else "retrying", detail)
                _log.warning("job failed", extra={"job": job_id, "attempt": attempt})
                if last or self.wait(self.retry_seconds * 2 ** (attempt - 1)):
                    return False
                continue
            self._finish(run_id, "ok", summary)
            return True
        return False


#: The runner of the scheduler in this process; APScheduler stores jobs by reference to
#: ``run_job``, so the function must be importable and find its runner here.
_ACTIVE: dict[str, JobRunner] = {}


def run_job(job_id: str) -> None:
    runner = _ACTIVE.get("runner")
    if runner is None:
        _log.error("no scheduler runner in this process", extra={"job": job_id})
        return
    runner.run(job_id)


class JobStoreScheduler(BackgroundScheduler):  # type: ignore[misc]
    """APScheduler's background scheduler, minus one hazard.

    APScheduler 3 processes due jobs once more after ``shutdown()``: a job due
    then is handed to the stopped executor, fails to start, and its next run
    time still moves on, so that run is lost. Here a stopped scheduler
    processes nothing.
    """

    def _process_jobs(self) -> float | None:
        if self.state == STATE_STOPPED:
            return None
        result: float | None = super()._process_jobs()
        return result


class Scheduler:
    """One scheduler process: lease, APScheduler with the persistent job store, upkeep."""

    def __init__(
        self,
        services: Services,
        *,
        holder: str | None = None,
        jobs: Mapping[str, Callable[[], str]] | None = None,
        upkeep_seconds: float = 2.0,
    ) -> None:
        settings = services.settings
        self.services = services
        self.schedules = services.schedules
        self.lease = Lease(
            services.engine, holder or default_holder(), settings.scheduler_lease_seconds
        )
        self._stopped = threading.Event()
        self.runner = JobRunner(
            services.engine,
            jobs or job_functions(services, self._stopped.is_set),
            settings.scheduler_attempts,
            settings.scheduler_retry_seconds,
            wait=self._stopped.wait,
        )
        self.upkeep_seconds = upkeep_seconds
        self._scheduler: JobStoreScheduler | None = None

    # -- starting and stopping ---------------------------------------------------

    def start(self, *, standby: bool = False, poll_seconds: float = 1.0) -> None:
        """Take the lease and start the jobs. Without ``standby``, refuse if it is taken."""
        while not self.lease.acquire():
            if not standby:
                raise SchedulerBusyError(
                    "another scheduler runs the jobs on this database: "
                    f"{self.lease.holder_text()}; "
                    "start this one with --standby to take over when it stops"
                )
            if self._stopped.wait(poll_seconds):
                return
        _ACTIVE["runner"] = self.runner
        scheduler = JobStoreScheduler(
            jobstores={
                "default": SQLAlchemyJobStore(engine=self.services.engine),
                "upkeep": MemoryJobStore(),
            },
            job_defaults={"coalesce": True, "misfire_grace_time": None, "max_instances": 1},
            timezone=PROVINCE_ZONE,
        )
        scheduler.start(paused=True)
        self._scheduler = scheduler
        self.sync_schedules()
        for job_id in self.runner.interrupted():
            # Its next run time moved on when it started: run it again now (period jobs
            # publish once, so a run that did finish its work changes nothing).
            scheduler.add_job(
                run_job,
                args=[job_id],
                id=f"{job_id}-rerun",
                name=f"{job_id} (interrupted, run again)",
                jobstore="default",
                replace_existing=True,
            )
        if "case_escalation" in self.runner.jobs:
            # Deadlines passed while no scheduler ran are escalated now, not at 00:15.
            scheduler.add_job(
                run_job,
                args=["case_escalation"],
                id="case_escalation-start",
                name="case_escalation (at start)",
                jobstore="upkeep",
            )
        scheduler.add_job(
            self._upkeep,
            IntervalTrigger(seconds=self.upkeep_seconds),
            id="upkeep",
            jobstore="upkeep",
        )
        scheduler.resume()

    def stop(self) -> None:
        self._stopped.set()
        scheduler, self._scheduler = self._scheduler, None
        if scheduler is not None:
            scheduler.shutdown(wait=True)
            self.lease.release()
        if _ACTIVE.get("runner") is self.runner:
            del _ACTIVE["runner"]

    @property
    def running(self) -> bool:
        return self._scheduler is not None

    # -- keeping it right ------------------------------------------------------

    def _upkeep(self) -> None:
        if not self.lease.renew():
            _log.error("scheduler lease lost; stopping the jobs")
            threading.Thread(target=self.stop, daemon=True).start()
            return
        self.sync_schedules()

    def sync_schedules(self) -> None:
        """Make the stored jobs match the schedules in force (added, or rescheduled)."""
        scheduler = self._scheduler
        if scheduler is None:
            return
        for job_id, schedule in self.schedules.current().items():
            spec = schedule.spec
            trigger: Any = (
                IntervalTrigger(seconds=spec.every_seconds)
                if schedule.cron is None
                else cron_trigger(schedule.cron)
            )
            job = scheduler.get_job(job_id, jobstore="default")
            if job is None:
                scheduler.add_job(
                    run_job,
                    trigger,
                    args=[job_id],
                    id=job_id,
                    name=spec.name_en,
                    jobstore="default",
                )
            elif str(job.trigger) != str(trigger):
                scheduler.reschedule_job(job_id, jobstore="default", trigger=trigger)

    def jobs(self) -> dict[str, datetime | None]:
        """Job id -> next run time (of the running scheduler)."""
        scheduler = self._scheduler
        if scheduler is None:
            return {}
        return {job.id: job.next_run_time for job in scheduler.get_jobs(jobstore="default")}
