"""Heavy actions a portal user starts run as jobs: beside the request, with progress, at
most one per person at a time.

A job runs in a thread of the worker that took the request and writes its progress
to ``portal_jobs``, so the page that waits for it may be served by any worker. A job
whose worker died stops beating; after ``STALE_AFTER`` it is shown as failed, and the
person may start it again.
"""

from __future__ import annotations

import logging
import secrets
import threading
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

import orjson
from sqlalchemy import Engine, insert, select, update
from sqlalchemy.exc import IntegrityError

from ledger.database import read_transaction, write_transaction
from supervisor.database import tables

__all__ = ["STALE_AFTER", "Job", "JobRunningError", "PortalJobs", "Progress"]

_jobs = tables.portal_jobs
_log = logging.getLogger("careledger.portal.jobs")
STALE_AFTER = timedelta(minutes=2)
#: How often a running job says it is alive, whatever step it is in.
HEARTBEAT = timedelta(seconds=30)
_STOPPED = "the server process running it stopped"

#: Called by the work with the name of the step it starts (one of its ``steps``).
Progress = Callable[[str], None]


class JobRunningError(Exception):
    """This person has a job running already; ``job_id`` names it."""

    def __init__(self, job_id: str) -> None:
        super().__init__(f"job {job_id} is still running")
        self.job_id = job_id


@dataclass(frozen=True)
class Job:
    job_id: str
    username: str
    kind: str
    subject: str
    state: str  # running | done | failed
    step: str | None
    done_steps: int
    total_steps: int
    result: dict[str, Any] | None
    started_at: datetime

    @property
    def finished(self) -> bool:
        return self.state != "running"


class PortalJobs:
    """Starts and reads jobs (see the module docstring)."""

    def __init__(self, engine: Engine, clock: Callable[[], datetime]) -> None:
        self.engine = engine
        self.clock = clock

    def start(
        self,
        username: str,
        kind: str,
        subject: str,
        steps: tuple[str, ...],
        work: Callable[[Progress], dict[str, Any]],
        *,
        wait: bool = False,
    ) -> str:
        """Record the job and run ``work`` in a thread; returns its id.

        Raises ``JobRunningError`` if this person has a job running. ``wait`` runs it to
        the end before returning (for callers that have no page to wait on).
        """
        self._retire_stale(username)
        job_id = secrets.token_hex(16)
        now = self.clock()
        try:
            with write_transaction(self.engine) as connection:
                connection.execute(
                    insert(_jobs).values(
                        job_id=job_id,
                        username=username,
                        kind=kind,
                        subject=subject[:200],
                        state="running",
                        step=None,
                        done_steps=0,
                        total_steps=len(steps),
                        started_at=tables.stored_time(now),
                        heartbeat_at=tables.stored_time(now),
                    )
                )
        except IntegrityError as e:  # the unique index: one running job per person
            running = self.running(username)
            raise JobRunningError(running.job_id if running else "?") from e
        thread = threading.Thread(
            target=self._run, args=(job_id, steps, work), name=f"job-{job_id}", daemon=True
        )
        thread.start()
        if wait:
            thread.join()
        return job_id

    def _run(
        self, job_id: str, steps: tuple[str, ...], work: Callable[[Progress], dict[str, Any]]
    ) -> None:
        def progress(step: str) -> None:
            done = steps.index(step) if step in steps else 0
            self._update(job_id, step=step, done_steps=done)

        done = threading.Event()

        def beat() -> None:  # a long step (recomputing a month) must not look dead
            while not done.wait(HEARTBEAT.total_seconds()):
                self._update(job_id)

        threading.Thread(target=beat, name=f"job-{job_id}-beat", daemon=True).start()
        try:
            result = work(progress)
        except Exception as e:
            _log.exception("portal job failed", extra={"job_id": job_id})
            self._finish(job_id, "failed", {"error": f"{type(e).__name__}: {e}"})
            return
        finally:
            done.set()
        self._finish(job_id, "done", result)

    def _update(self, job_id: str, **values: Any) -> None:
        with write_transaction(self.engine) as connection:
            connection.execute(
                update(_jobs)
                .where(_jobs.c.job_id == job_id, _jobs.c.state == "running")
                .values(heartbeat_at=tables.stored_time(self.clock()), **values)
            )

    def _finish(self, job_id: str, state: str, result: dict[str, Any]) -> None:
        now = tables.stored_time(self.clock())
        with write_transaction(self.engine) as connection:
            connection.execute(
                update(_jobs)
                .where(_jobs.c.job_id == job_id)
                .values(
                    state=state,
                    done_steps=_jobs.c.total_steps,
                    result=orjson.dumps(result).decode(),
                    heartbeat_at=now,
                    finished_at=now,
                )
            )

    def _retire_stale(self, username: str) -> None:
        """A job whose worker stopped beating is failed, so that it may be started again."""
        since = tables.stored_time(self.clock() - STALE_AFTER)
        with write_transaction(self.engine) as connection:
            connection.execute(
                update(_jobs)
                .where(
                    _jobs.c.username == username,
                    _jobs.c.state == "running",
                    _jobs.c.heartbeat_at < since,
                )
                .values(
                    state="failed",
                    result=orjson.dumps(
                        {"error": "the server process running it stopped"}
                    ).decode(),
                    finished_at=tables.stored_time(self.clock()),
                )
            )

    def running(self, username: str) -> Job | None:
        with read_transaction(self.engine) as connection:
            row = connection.execute(
                select(_jobs).where(_jobs.c.username == username, _jobs.c.state == "running")
            ).first()
        return None if row is None else _job(row)

    def get(self, job_id: str, username: str) -> Job | None:
        """The job, if it is this person's (nobody sees another's)."""
        with read_transaction(self.engine) as connection:
            row = connection.execute(
                select(_jobs).where(_jobs.c.job_id == job_id[:32], _jobs.c.username == username)
            ).first()
        if row is None:
            return None
        job = _job(row)
        if not job.finished and self.clock() - tables.read_time(row.heartbeat_at) > STALE_AFTER:
            return replace(job, state="failed", result={"error": _STOPPED})
        return job


def _job(row: Any) -> Job:
    return Job(
        row.job_id,
        row.username,
        row.kind,
        row.subject,
        row.state,
        row.step,
        row.done_steps,
        row.total_steps,
        None if row.result is None else orjson.loads(row.result),
        tables.read_time(row.started_at),
    )
