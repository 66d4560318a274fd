"""Faults with real processes on loopback: nothing acknowledged is ever lost.

* gunicorn workers killed with SIGKILL at random moments during an ingest from
  several clients (SQLite and PostgreSQL);
* the PostgreSQL server restarted during an ingest (a server of the test's own);
* the SQLite data folder running out of space (a small tmpfs);
* the scheduler killed while it publishes a report.

After each: every receipt a client got verifies offline and is in the final log at
the same index with the same leaf, the final checkpoint extends every receipt's,
retries with the same batch_id give the same receipt, nothing is duplicated, and
``careledger ledger verify`` passes.
"""

from __future__ import annotations

import base64
import os
import random
import signal
import subprocess
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
import pytest
from sqlalchemy import func, select

from ledger import schema as ledger_schema
from ledger.checkpoint import open_checkpoint
from ledger.proof import verify_consistency
from supervisor.client.submit import SubmitClient, SubmitError
from supervisor.database import tables
from supervisor.database.engine import open_engine
from supervisor.intake.receipts import verify_receipt
from tests.pg_cluster import own_cluster
from tests.system_tools import unavailable

from .conftest import CARELEDGER, LiveServer, running_portal, signed_batches

pytestmark = [pytest.mark.database, pytest.mark.slow]


def _post(live: LiveServer, envelope: dict[str, Any]) -> tuple[int, Any, Any]:
    """One POST, no retry: status, headers and the parsed body (None if not JSON)."""
    request = urllib.request.Request(
        f"{live.url}/api/v1/batches",
        data=orjson.dumps(envelope),
        headers={"Content-Type": "application/json"},
    )
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return response.status, response.headers, orjson.loads(response.read())
    except urllib.error.HTTPError as e:
        body = e.read()
        try:
            return e.code, e.headers, orjson.loads(body)
        except orjson.JSONDecodeError:
            return e.code, e.headers, None


def _final_checkpoint(live: LiveServer) -> Any:
    with urllib.request.urlopen(f"{live.url}/log/checkpoint", timeout=30) as response:
        return open_checkpoint(response.read(), live.verifier)[0]


def _get(live: LiveServer, path: str) -> Any:
    with urllib.request.urlopen(f"{live.url}{path}", timeout=30) as response:
        return orjson.loads(response.read())


def _assert_nothing_acknowledged_was_lost(
    live: LiveServer, acknowledged: dict[str, tuple[dict[str, Any], dict[str, Any]]]
) -> None:
    """Every receipt: verifies offline, its leaves are the log's, the log extends it."""
    final = _final_checkpoint(live)
    for envelope, receipt in acknowledged.values():
        verified = verify_receipt(receipt, live.verifier, envelope)
        consistency = _get(
            live, f"/log/proof/consistency?old={verified.tree_size}&size={final.size}"
        )
        verify_consistency(
            verified.tree_size,
            final.size,
            [base64.b64decode(h) for h in consistency["hashes"]],
            verified.root,
            final.root,
        )
        for record in receipt["records"][:: max(1, len(receipt["records"]) // 3)]:
            served = _get(live, f"/log/entries/{record['index']}")
            assert served["leaf_bytes"] == record["leaf"]


def _assert_retries_are_idempotent_and_nothing_doubled(
    live: LiveServer, acknowledged: dict[str, tuple[dict[str, Any], dict[str, Any]]], sent: int
) -> None:
    client = SubmitClient(live.url, attempts=10, backoff=0.2)
    for envelope, receipt in acknowledged.values():
        status, again = client.submit(envelope)
        assert status == 200
        assert [r["index"] for r in again["records"]] == [r["index"] for r in receipt["records"]]
    client.close()
    engine = open_engine(live.env["CARELEDGER_DATABASE_URL"])
    try:
        with engine.connect() as connection:
            records = connection.execute(
                select(func.count()).select_from(tables.records)
            ).scalar_one()
            entries = connection.execute(
                select(func.count())
                .select_from(ledger_schema.entries)
                .where(ledger_schema.entries.c.type.like("record.%"))
            ).scalar_one()
            in_batches = connection.execute(
                select(func.sum(tables.batches.c.record_count))
            ).scalar_one()
    finally:
        engine.dispose()
    assert records == entries == in_batches == sent


# -- workers killed --------------------------------------------------------------------------


def test_workers_killed_at_random_moments_lose_no_acknowledged_batch(live: LiveServer) -> None:
    clients, batches, per_batch = 3, 80, 40
    envelopes = signed_batches(live, clients * batches, per_batch, "kill")
    acknowledged: dict[str, tuple[dict[str, Any], dict[str, Any]]] = {}
    failures: list[str] = []
    done = threading.Event()

    def client(number: int) -> None:
        submitter = SubmitClient(live.url, attempts=12, backoff=0.05)
        for envelope in envelopes[number::clients]:
            try:
                status, receipt = submitter.submit(envelope)
            except SubmitError as e:
                failures.append(f"{envelope['batch_id']}: {e}")
                continue
            assert status in (200, 201)
            acknowledged[envelope["batch_id"]] = (envelope, receipt)
        submitter.close()

    kills = 0

    def killer() -> None:
        nonlocal kills
        chooser = random.Random(8)
        while not done.wait(chooser.uniform(0.1, 0.4)):
            workers = live.worker_pids()
            if workers:
                try:
                    os.kill(chooser.choice(workers), signal.SIGKILL)
                    kills += 1
                except ProcessLookupError:
                    pass

    threads = [threading.Thread(target=client, args=(n,)) for n in range(clients)]
    chaos = threading.Thread(target=killer)
    chaos.start()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=240)
    done.set()
    chaos.join()
    assert failures == []
    assert kills >= 5, f"only {kills} workers were killed"
    assert len(acknowledged) == clients * batches
    time.sleep(1)  # let gunicorn replace the last killed worker
    _assert_nothing_acknowledged_was_lost(live, acknowledged)
    _assert_retries_are_idempotent_and_nothing_doubled(
        live, acknowledged, len(envelopes) * per_batch
    )
    # Killed workers leave tracebacks of nothing: gunicorn logs the kill, not a Python error.


# -- PostgreSQL restarted ----------------------------------------------------------------------


@pytest.fixture
def restartable_postgres(tmp_path: Path) -> Iterator[Any]:
    with own_cluster() as cluster:
        yield cluster


def test_a_postgresql_restart_gives_503_with_retry_after_and_recovers_by_itself(
    tmp_path: Path, restartable_postgres: Any
) -> None:
    cluster = restartable_postgres
    with running_portal(tmp_path, cluster.url, {}) as live:
        envelopes = signed_batches(live, 60, 30, "restart")
        answers: list[tuple[str, int, str | None]] = []
        acknowledged: dict[str, tuple[dict[str, Any], dict[str, Any]]] = {}
        restarted = threading.Event()

        def ingest() -> None:
            # One attempt per request: we want to see each answer during the outage.
            pending = list(envelopes)
            deadline = time.monotonic() + 120
            while pending and time.monotonic() < deadline:
                envelope = pending[0]
                try:
                    status, headers, body = _post(live, envelope)
                except OSError as e:  # the portal itself never goes away here
                    answers.append((envelope["batch_id"], -1, str(e)))
                    time.sleep(0.2)
                    continue
                answers.append((envelope["batch_id"], status, headers.get("Retry-After")))
                if status in (200, 201):
                    acknowledged[envelope["batch_id"]] = (envelope, body)
                    pending.pop(0)
                    if len(acknowledged) == 15:
                        restarted.set()
                else:
                    time.sleep(0.2)

        writer = threading.Thread(target=ingest)
        writer.start()
        assert restarted.wait(60)
        cluster.stop("fast")
        # Meanwhile requests meet a server that is down: 503 with Retry-After, at once.
        asked = time.monotonic()
        status, headers, body = _post(live, envelopes[-1])
        assert (status, headers["Retry-After"]) == (503, "5"), body
        assert "nothing of this request was stored" in body["detail"]
        assert time.monotonic() - asked < 10
        time.sleep(2)
        cluster.start()
        writer.join(timeout=150)
        assert len(acknowledged) == len(envelopes), answers[-5:]
        outage = [a for a in answers if a[1] not in (200, 201)]
        assert outage, "no request met the outage"
        assert {(a[1], a[2]) for a in outage} == {(503, "5")}, outage[:5]
        _assert_nothing_acknowledged_was_lost(live, acknowledged)
        _assert_retries_are_idempotent_and_nothing_doubled(live, acknowledged, 60 * 30)


# -- disk full ------------------------------------------------------------------------------


@pytest.fixture
def small_folder(tmp_path: Path) -> Iterator[Path]:
    folder = tmp_path / "small"
    folder.mkdir()
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=6m,mode=0700", "tmpfs", str(folder)],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    if mounted.returncode != 0:
        unavailable(f"cannot mount a small tmpfs (run as root): {mounted.stderr.strip()}")
    try:
        yield folder
    finally:
        subprocess.run(["umount", "-l", str(folder)], check=False)


def test_a_full_disk_gives_a_clear_error_loses_nothing_and_recovers(
    tmp_path: Path, small_folder: Path
) -> None:
    url = f"sqlite:///{small_folder / 'careledger.db'}"
    with running_portal(tmp_path, url, {}) as live:
        envelopes = signed_batches(live, 400, 50, "full")
        acknowledged: dict[str, tuple[dict[str, Any], dict[str, Any]]] = {}
        refusal: tuple[int, Any, Any] | None = None
        for envelope in envelopes:
            status, headers, body = _post(live, envelope)
            if status != 201:
                refusal = (status, headers, body)
                break
            acknowledged[envelope["batch_id"]] = (envelope, body)
        assert refusal is not None, "the folder never filled up"
        status, headers, body = refusal
        assert (status, headers["Retry-After"]) == (507, "60"), body
        assert "storage is full" in body["detail"] and "same batch_id" in body["detail"]
        assert acknowledged
        # Space returns; the refused batch and the rest go in with their same batch_ids.
        subprocess.run(["mount", "-o", "remount,size=512m", str(small_folder)], check=True)
        submitter = SubmitClient(live.url, attempts=3, backoff=0.2)
        for envelope in envelopes[len(acknowledged) :]:
            status, receipt = submitter.submit(envelope)
            assert status == 201
            acknowledged[envelope["batch_id"]] = (envelope, receipt)
        submitter.close()
        _assert_nothing_acknowledged_was_lost(live, acknowledged)
        _assert_retries_are_idempotent_and_nothing_doubled(live, acknowledged, 400 * 50)


# -- scheduler killed during a report --------------------------------------------------------


def test_a_scheduler_killed_while_publishing_runs_the_report_again_whole(live: LiveServer) -> None:
    """The digest job, moved to every minute, is killed mid-run; a new scheduler reruns it.

    Whether the kill lands before or after the publication entry, the period ends up
    published exactly once, with files whose hashes are those the ledger states.
    """
    client = SubmitClient(live.url, attempts=5, backoff=0.2)
    for envelope in signed_batches(live, 40, 50, "report"):
        client.submit(envelope)
    client.close()
    engine = open_engine(live.env["CARELEDGER_DATABASE_URL"])
    with engine.begin() as connection:
        connection.execute(
            tables.schedules.insert().values(
                job_id="daily_digest",
                cron="* * * * *",
                entry_index=0,
                changed_by="fault-test",
                changed_at=datetime.now(UTC),
            )
        )
    log = (live.folder / "scheduler.log").open("w")
    env = dict(live.env, CARELEDGER_SCHEDULER_LEASE_SECONDS="5")
    first = subprocess.Popen(
        [*CARELEDGER, "scheduler"], env=env, stdout=log, stderr=subprocess.STDOUT
    )
    try:
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            with engine.connect() as connection:
                running = connection.execute(
                    select(tables.job_runs.c.id).where(
                        tables.job_runs.c.job_id == "daily_digest",
                        tables.job_runs.c.status == "running",
                    )
                ).first()
            if running is not None:
                break
            time.sleep(0.02)
        assert running is not None, "the digest job never started"
        first.send_signal(signal.SIGKILL)
        first.wait(timeout=10)
        # As deployed: a standby, which takes over once the dead one's lease expires.
        second = subprocess.Popen(
            [*CARELEDGER, "scheduler", "--standby"], env=env, stdout=log, stderr=subprocess.STDOUT
        )
        try:
            deadline = time.monotonic() + 90
            while time.monotonic() < deadline:
                with engine.connect() as connection:
                    runs = (
                        connection.execute(
                            select(tables.job_runs.c.status)
                            .where(tables.job_runs.c.job_id == "daily_digest")
                            .order_by(tables.job_runs.c.id)
                        )
                        .scalars()
                        .all()
                    )
                if "ok" in runs:
                    break
                time.sleep(0.2)
            assert runs[0] == "interrupted" and "ok" in runs, runs
        finally:
            second.terminate()
            second.wait(timeout=30)
    finally:
        log.close()
        if first.poll() is None:
            first.kill()
    with engine.connect() as connection:
        digests = (
            connection.execute(select(tables.reports).where(tables.reports.c.kind == "digest"))
            .mappings()
            .all()
        )
    engine.dispose()
    periods = [d["period"] for d in digests]
    assert len(periods) == len(set(periods)) >= 1  # each period published once
    for digest in digests:
        verified = live.careledger(
            "report", "verify", str(live.folder / "var" / "reports" / f"{digest['report_id']}.json")
        )
        assert "verified" in verified.stdout.lower()
