"""The scheduler on a real database: jobs persist across restarts, one scheduler per
database, misfires coalesce into one run, failures are retried and recorded, and schedule
changes are validated ledger entries."""

from __future__ import annotations

import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import orjson
import pytest
from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore
from sqlalchemy import select

from supervisor.config import Settings
from supervisor.custody.data_folder import initialise
from supervisor.database import tables
from supervisor.ground.china_time import PROVINCE_ZONE
from supervisor.inspection.leases import Lease
from supervisor.runtime.projections import rebuild_projections
from supervisor.runtime.scheduler import JobStoreScheduler, Scheduler, SchedulerBusyError
from supervisor.runtime.schedules import ScheduleError
from supervisor.runtime.services import Services, build_services

pytestmark = pytest.mark.database

SUPERVISOR = frozenset({"supervisor"})


@pytest.fixture
def services(tmp_path: Path, database_url: str) -> Iterator[Services]:
    settings = Settings(
        data_dir=tmp_path / "var",
        database_url=database_url,
        scheduler_lease_seconds=3,
        scheduler_attempts=3,
        scheduler_retry_seconds=0,
    )
    initialise(settings)
    services = build_services(settings)
    yield services
    services.engine.dispose()


class Calls:
    """Job functions that count their calls (the real ones are exercised elsewhere)."""

    def __init__(self) -> None:
        self.counts: Counter[str] = Counter()
        self.lock = threading.Lock()

    def jobs(self, **overrides: Callable[[], str]) -> dict[str, Callable[[], str]]:
        def counting(job_id: str) -> Callable[[], str]:
            def job() -> str:
                with self.lock:
                    self.counts[job_id] += 1
                return f"{job_id} ran"

            return job

        names = (
            "checkpoint",
            "inspection",
            "daily_digest",
            "monthly_assessment",
            "quarterly_assessment",
        )
        return {name: overrides.get(name) or counting(name) for name in names}


def _runs(services: Services, job_id: str) -> list[tuple[int, str, str]]:
    with services.engine.connect() as connection:
        return [
            (r.attempt, r.status, r.detail)
            for r in connection.execute(
                select(tables.job_runs)
                .where(tables.job_runs.c.job_id == job_id)
                .order_by(tables.job_runs.c.id)
            )
        ]


def _wait_for(condition: Callable[[], bool], seconds: float = 15.0) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.05)
    raise AssertionError("condition not reached in time")


def _stored_jobs(services: Services) -> dict[str, datetime | None]:
    """Jobs as APScheduler keeps them in the database (read with a scheduler of our own)."""
    reader = JobStoreScheduler(
        jobstores={"default": SQLAlchemyJobStore(engine=services.engine)}, timezone=PROVINCE_ZONE
    )
    reader.start(paused=True)
    try:
        return {job.id: job.next_run_time for job in reader.get_jobs()}
    finally:
        reader.shutdown(wait=False)


def test_jobs_and_changed_schedules_persist_across_a_restart(services: Services) -> None:
    first = Scheduler(services, jobs=Calls().jobs())
    first.start()
    before = first.jobs()
    first.stop()
    stored = _stored_jobs(services)
    assert set(stored) == {
        "checkpoint",
        "inspection",
        "alerts",
        "case_escalation",
        "daily_digest",
        "monthly_assessment",
        "quarterly_assessment",
    }
    # The monthly assessment's next run is the first of next month, 02:00 China time.
    monthly = stored["monthly_assessment"]
    assert monthly is not None and (monthly.day, monthly.hour, monthly.minute) == (1, 2, 0)
    assert monthly == before["monthly_assessment"]
    # A supervisor moves the monthly job while no scheduler runs; the next one applies it.
    services.schedules.change(
        "monthly_assessment", "15 6 2 * *", username="zhang.min", roles=SUPERVISOR
    )
    second = Scheduler(services, jobs=Calls().jobs())
    second.start()
    try:
        after = second.jobs()
    finally:
        second.stop()
    moved = after["monthly_assessment"]
    assert moved is not None and (moved.day, moved.hour, moved.minute) == (2, 6, 15)
    assert after["daily_digest"] == before["daily_digest"]  # untouched jobs kept their time
    assert set(_stored_jobs(services)) == set(stored)  # no duplicates


def test_a_second_scheduler_refuses_and_a_standby_takes_over(services: Services) -> None:
    calls = Calls()
    first = Scheduler(services, holder="first", jobs=calls.jobs())
    first.start()
    second = Scheduler(services, holder="second", jobs=calls.jobs())
    try:
        with pytest.raises(SchedulerBusyError, match="first"):
            second.start()
        standby = Scheduler(services, holder="standby", jobs=calls.jobs())
        waiting = threading.Thread(
            target=lambda: standby.start(standby=True, poll_seconds=0.1), daemon=True
        )
        waiting.start()
        time.sleep(1.0)
        assert not standby.running  # still waiting while the first holds the lease
        first.stop()
        waiting.join(10)
        assert standby.running
        assert Lease(services.engine, "x", 3).current_holder()[0] == "standby"  # type: ignore[index]
        standby.stop()
    finally:
        first.stop()


def test_the_lease_goes_to_exactly_one_of_many_racing_schedulers(services: Services) -> None:
    winners: list[str] = []
    barrier = threading.Barrier(6)

    def race(name: str) -> None:
        lease = Lease(services.engine, name, 30)
        barrier.wait()
        if lease.acquire():
            winners.append(name)

    threads = [threading.Thread(target=race, args=(f"s{i}",)) for i in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(winners) == 1


def test_a_scheduler_that_lost_its_lease_stops_running_jobs(services: Services) -> None:
    first = Scheduler(services, holder="first", jobs=Calls().jobs(), upkeep_seconds=0.2)
    first.start()
    try:
        # Its lease expires (as if it had been frozen) and another takes it.
        later = Lease(
            services.engine, "usurper", 3, clock=lambda: datetime.now(UTC) + timedelta(seconds=10)
        )
        assert later.acquire()
        _wait_for(lambda: not first.running, 10)
    finally:
        first.stop()


def test_a_misfired_monthly_job_runs_once_after_downtime(services: Services) -> None:
    calls = Calls()
    scheduler = Scheduler(services, jobs=calls.jobs())
    scheduler.start()
    scheduler.stop()
    # While it was down, three monthly runs came and went.
    editor = JobStoreScheduler(
        jobstores={"default": SQLAlchemyJobStore(engine=services.engine)}, timezone=PROVINCE_ZONE
    )
    editor.start(paused=True)
    editor.modify_job(
        "monthly_assessment", next_run_time=datetime.now(PROVINCE_ZONE) - timedelta(days=92)
    )
    editor.shutdown(wait=False)
    again = Scheduler(services, jobs=calls.jobs())
    again.start()
    try:
        _wait_for(lambda: calls.counts["monthly_assessment"] >= 1)
        time.sleep(1.5)  # room for a second (wrong) run
    finally:
        again.stop()
    assert calls.counts["monthly_assessment"] == 1
    assert [r[:2] for r in _runs(services, "monthly_assessment")] == [(1, "ok")]
    # And it is due again at the next first of the month, not in the past.
    next_run = _stored_jobs(services)["monthly_assessment"]
    assert next_run is not None and next_run > datetime.now(PROVINCE_ZONE)


def test_a_failing_job_is_retried_and_its_failure_recorded(services: Services) -> None:
    attempts = {"flaky": 0}

    def flaky() -> str:
        attempts["flaky"] += 1
        if attempts["flaky"] < 3:
            raise ConnectionError("witness unreachable")
        return "third time lucky"

    def broken() -> str:
        raise RuntimeError("report font missing")

    jobs = Calls().jobs(daily_digest=flaky, quarterly_assessment=broken)
    runner = Scheduler(services, jobs=jobs).runner
    assert runner.run("daily_digest") is True
    assert runner.run("quarterly_assessment") is False
    flaky_runs = _runs(services, "daily_digest")
    assert [r[:2] for r in flaky_runs] == [(1, "retrying"), (2, "retrying"), (3, "ok")]
    assert "ConnectionError: witness unreachable" in flaky_runs[0][2]
    assert flaky_runs[2][2] == "third time lucky"
    broken_runs = _runs(services, "quarterly_assessment")
    assert [r[:2] for r in broken_runs] == [(1, "retrying"), (2, "retrying"), (3, "failed")]
    assert "report font missing" in broken_runs[-1][2]


def test_the_real_jobs_publish_reports_once(services: Services) -> None:
    """The real job functions: checkpoint, inspection, and a digest that a rerun leaves be."""
    scheduler = Scheduler(services)
    runner = scheduler.runner
    assert runner.run("checkpoint") and runner.run("inspection")
    assert runner.run("daily_digest") and runner.run("daily_digest")
    assert runner.run("monthly_assessment")
    details = [r[2] for r in _runs(services, "daily_digest")]
    assert details[0].startswith("published digest-") and "already published" in details[1]
    reports = services.reports.list()
    assert sorted(r.kind for r in reports) == ["assessment", "digest"]
    assert all(r.requested_by == "scheduler" for r in reports)


@pytest.mark.parametrize(
    ("cron", "message"),
    [
        ("0 2 1 *", "five fields are needed"),
        ("0 25 1 * *", "not a valid cron expression"),
        ("every day", "five fields are needed"),
    ],
)
def test_a_bad_cron_expression_is_refused_and_nothing_is_appended(
    services: Services, cron: str, message: str
) -> None:
    size = services.store.head().size
    schedules = services.schedules
    with pytest.raises(ScheduleError, match=message):
        schedules.change("daily_digest", cron, username="zhang.min", roles=SUPERVISOR)
    assert services.store.head().size == size


def test_schedule_changes_are_ledger_entries_only_supervisors_make(services: Services) -> None:
    schedules = services.schedules
    with pytest.raises(ScheduleError, match="only supervisors"):
        schedules.change(
            "daily_digest", "0 7 * * *", username="li.wei", roles=frozenset({"regulator"})
        )
    with pytest.raises(ScheduleError, match="has no cron"):
        schedules.change("checkpoint", "* * * * *", username="zhang.min", roles=SUPERVISOR)
    index = schedules.change("daily_digest", "0  7 * * *", username="zhang.min", roles=SUPERVISOR)
    entry = services.store.entry(index)
    statement = orjson.loads(entry.leaf)["statement"]
    assert entry.type == "schedule.change"
    assert statement["job_id"] == "daily_digest"
    assert (statement["cron_before"], statement["cron"]) == ("30 0 * * *", "0 7 * * *")
    assert "zhang.min" not in entry.leaf.decode()  # who changed it is sealed
    current = schedules.current()["daily_digest"]
    assert (current.cron, current.changed_by) == ("0 7 * * *", "zhang.min")
    rebuild_projections(services.engine, services.keys, lambda last: last + 1)
    replayed = schedules.current()["daily_digest"]
    assert (replayed.cron, replayed.changed_by) == ("0 7 * * *", "zhang.min")


def test_careledger_scheduler_processes_refuse_to_run_twice(
    services: Services, tmp_path: Path
) -> None:
    """Two real ``careledger scheduler`` processes: the second refuses, naming the first."""
    config = tmp_path / "careledger.toml"
    settings = services.settings
    config.write_text(
        f'data_dir = "{settings.data_dir}"\ndatabase_url = "{settings.database_url}"\n',
        encoding="utf-8",
    )
    command = [sys.executable, "-m", "supervisor.cli", "--config", str(config), "scheduler"]
    first = subprocess.Popen(command, stderr=subprocess.PIPE, text=True)
    try:
        _wait_for(lambda: Lease(services.engine, "x", 3).current_holder() is not None, 30)
        second = subprocess.run(command, capture_output=True, text=True, timeout=60, check=False)
        assert second.returncode == 1
        assert "another scheduler runs the jobs on this database" in second.stderr
        assert "--standby" in second.stderr
        # The running one does its work: a checkpoint job ran and was recorded.
        _wait_for(lambda: any(r[1] == "ok" for r in _runs(services, "checkpoint")), 30)
    finally:
        first.send_signal(signal.SIGTERM)
        first.wait(30)
    assert first.returncode == 0
    holder = Lease(services.engine, "x", 3).current_holder()
    assert holder is not None and holder[1] < datetime.now(UTC)  # released on the way out


def test_a_run_left_unfinished_by_a_killed_scheduler_runs_again_at_once(
    services: Services,
) -> None:
    with services.engine.begin() as connection:  # what a scheduler killed mid-run leaves
        connection.execute(
            tables.job_runs.insert().values(
                job_id="monthly_assessment",
                attempt=1,
                status="running",
                started_at=datetime.now(UTC) - timedelta(minutes=3),
                detail="",
            )
        )
    calls = Calls()
    scheduler = Scheduler(services, jobs=calls.jobs())
    scheduler.start()
    try:
        _wait_for(lambda: calls.counts["monthly_assessment"] == 1)
    finally:
        scheduler.stop()
    runs = _runs(services, "monthly_assessment")
    assert [status for _, status, _ in runs] == ["interrupted", "ok"]
    assert "runs again" in runs[0][2]


def test_a_stop_does_not_wait_for_a_retry_and_the_next_scheduler_retries(
    services: Services,
) -> None:
    """A failed job waits (here ten minutes) before its retry; stopping cuts the wait
    short, and the next lease holder runs the job again at once."""
    with services.engine.begin() as connection:  # the job failed, its retry was due later
        connection.execute(
            tables.job_runs.insert().values(
                job_id="monthly_assessment",
                attempt=1,
                status="running",
                started_at=datetime.now(UTC),
                detail="",
            )
        )
    failing = threading.Event()

    def fails() -> str:
        failing.set()
        raise RuntimeError("report store unreachable")

    scheduler = Scheduler(services, jobs=Calls().jobs(monthly_assessment=fails))
    scheduler.runner.retry_seconds = 600
    scheduler.start()
    try:
        assert failing.wait(30)
        _wait_for(
            lambda: [r[1] for r in _runs(services, "monthly_assessment")][-1:] == ["retrying"]
        )
    finally:
        started = time.monotonic()
        scheduler.stop()
    assert time.monotonic() - started < 10  # not the 600 s retry wait
    calls = Calls()
    after = Scheduler(services, jobs=calls.jobs())
    after.start()
    try:
        _wait_for(lambda: calls.counts["monthly_assessment"] == 1)
    finally:
        after.stop()
    runs = _runs(services, "monthly_assessment")
    assert [status for _, status, _ in runs] == ["interrupted", "interrupted", "ok"]
    assert "report store unreachable" in runs[1][2] and "before retrying" in runs[1][2]


def test_a_rerun_and_the_jobs_own_run_never_overlap(services: Services) -> None:
    """The rerun of an interrupted run and the job's scheduled run are two APScheduler
    jobs; they must not run at once (two publications of one period raced)."""
    from supervisor.runtime.scheduler import JobRunner

    inside = []
    overlapped = threading.Event()

    def slow() -> str:
        inside.append(1)
        if len(inside) > 1:
            overlapped.set()
        time.sleep(0.3)
        inside.pop()
        return "done"

    runner = JobRunner(services.engine, {"daily_digest": slow}, 1, 0)
    threads = [threading.Thread(target=runner.run, args=["daily_digest"]) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not overlapped.is_set()
    assert [r[1] for r in _runs(services, "daily_digest")] == ["ok", "ok", "ok"]


def test_stopping_ends_a_long_inspection_sweep_between_passes(services: Services) -> None:
    from supervisor.runtime.scheduler import job_functions

    stopping = threading.Event()
    stopping.set()
    summary = job_functions(services, stopping.is_set)["inspection"]()
    assert summary.startswith("0 passes")
