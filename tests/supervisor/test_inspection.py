"""The inspector over a real ledger: a labelled province submitted through the platform API
on a loopback port, inspected live as it arrives, then checked against the ground truth."""

from __future__ import annotations

import collections
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from sqlalchemy import func, select

from inspectors.rulebook import RULES_BY_ID
from ledger import schema as ledger_schema
from ledger.integrity import verify_stored_log
from supervisor.cli import cli
from supervisor.config import Settings
from supervisor.custody.data_folder import initialise
from supervisor.custody.key_files import load_log_signer
from supervisor.database import tables
from supervisor.demo.province import Label, generate_province
from supervisor.demo.province_files import (
    LoadReport,
    ReplayClock,
    load_province,
    read_labels,
    write_province,
)
from supervisor.inspection.inspector import FINDING_ENTRY, InspectionConflictError, Inspector
from supervisor.inspection.shares import ShareWorker
from supervisor.runtime.projections import rebuild_projections
from supervisor.runtime.services import Services, build_services
from tests.conftest import empty_database

pytestmark = pytest.mark.database

#: Four institutions over three days with every rule injected at least four times (seed 1).
PROVINCE = {
    "institutions": 4,
    "days": 3,
    "seed": 1,
    "violation_rate": 0.4,
    "end": date(2026, 11, 20),
}


@dataclass
class Loaded:
    settings: Settings
    services: Services
    labels: list[Label]
    ended_at: datetime
    live_passes: list[object]

    def found(self) -> set[tuple[str, str, str]]:
        with self.services.engine.connect() as connection:
            return {
                (r.institution_code, r.record_id, r.rule_id)
                for r in connection.execute(select(tables.findings))
            }

    def finalise(self) -> None:
        """Past every grace deadline: what is still missing is reported."""
        later = self.ended_at + timedelta(days=4)
        self.services.inspector.clock = lambda: later
        self.services.inspector.follow()


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def loaded(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Loaded]:
    """The province submitted over HTTP and inspected live, batch by batch. Shared by the
    module's tests: each finalises (idempotent) and none changes what another reads."""
    root = tmp_path_factory.mktemp("inspection")
    urls = empty_database(request.param, root)
    folder = root / "province"
    write_province(generate_province(**PROVINCE), folder)  # type: ignore[arg-type]
    settings = Settings(data_dir=root / "var", database_url=next(urls))
    verifier = initialise(settings).log_verifier
    services = build_services(settings)
    passes: list[object] = []

    def follow(clock: ReplayClock) -> None:
        services.inspector.clock = clock
        passes.append(services.inspector.follow_once())

    report = load_province(folder, settings, after_batch=follow)
    yield Loaded(settings, services, read_labels(folder), report.ended_at, passes)
    result = verify_stored_log(services.engine, verifier)
    assert result.ok, result.discrepancy
    services.engine.dispose()
    for _ in urls:  # drop the PostgreSQL schema
        pass


def _per_rule(
    found: set[tuple[str, str, str]], labels: set[tuple[str, str, str]]
) -> dict[str, tuple[float, float]]:
    """(precision, recall) per rule."""
    scores = {}
    for rule in RULES_BY_ID:
        f = {x for x in found if x[2] == rule}
        truth = {x for x in labels if x[2] == rule}
        hit = len(f & truth)
        scores[rule] = (hit / len(f) if f else 1.0, hit / len(truth) if truth else 1.0)
    return scores


def test_every_injected_violation_is_found_and_nothing_else(loaded: Loaded) -> None:
    labels = {(x.institution_code, x.record_id, x.rule) for x in loaded.labels}
    per_rule = collections.Counter(rule for _, _, rule in labels)
    assert set(per_rule) == set(RULES_BY_ID) and min(per_rule.values()) >= 4
    loaded.finalise()
    found = loaded.found()
    scores = _per_rule(found, labels)
    assert {rule: s for rule, s in scores.items() if s != (1.0, 1.0)} == {}
    assert found == labels
    # Live following really waited: records arriving before their consultation or filing.
    assert any(p.pending for p in loaded.live_passes)  # type: ignore[attr-defined]


def test_inspecting_again_finds_the_same_and_appends_nothing(loaded: Loaded) -> None:
    loaded.finalise()
    services = loaded.services
    size = services.store.head().size
    report = services.inspector.inspect_received(
        loaded.ended_at - timedelta(days=30), loaded.ended_at + timedelta(days=1)
    )
    assert report.records > 1000
    assert report.findings == 0 and report.pending == 0
    assert services.store.head().size == size + 1  # only the inspection.run entry
    run = services.store.entry(size)
    assert run.type == "inspection.run"
    # Findings are a projection: replaying the ledger gives the same rows.
    with services.engine.connect() as connection:
        before = sorted(connection.execute(select(tables.findings)).all())
    signer = load_log_signer(loaded.settings.log_key_path, loaded.settings.log_origin)
    rebuild_projections(services.engine, services.keys, lambda last: last + 1)
    with services.engine.connect() as connection:
        after = sorted(connection.execute(select(tables.findings)).all())
    assert signer is not None and [r[:8] for r in after] == [r[:8] for r in before]


def test_a_finding_entry_names_versions_policy_and_seals_its_evidence(loaded: Loaded) -> None:
    loaded.finalise()
    services = loaded.services
    with services.engine.connect() as connection:
        index = (
            connection.execute(
                select(tables.findings.c.entry_index).where(tables.findings.c.rule_id == "RX-DAYS")
            )
            .scalars()
            .first()
        )
    assert index is not None
    entry = services.store.entry(index)
    assert entry.type == FINDING_ENTRY
    document = services.inspector.open_finding(entry.leaf, entry.payload)
    from ledger.leaf import decode_leaf

    statement = decode_leaf(entry.leaf).statement
    assert statement["rule"] == "RX-DAYS" and "evidence" not in statement
    versions = services.reference.current_versions()
    assert statement["reference_versions"] == {
        k: versions[k].version for k in ("drugs", "prices", "registry")
    }
    assert statement["policy_sha256"] == versions["policy"].version
    (item,) = document["evidence"]["items"]
    assert item["days_supply"] > item["limit"]
    assert document["legal_basis"].startswith("《处方管理办法》")


def _small_province(
    tmp_path: Path, database_url: str, *, institutions: int
) -> tuple[Path, Settings, LoadReport]:
    """A one-day province of a few institutions, submitted over HTTP, not yet inspected."""
    folder = tmp_path / "province"
    small = {**PROVINCE, "institutions": institutions, "days": 1}
    write_province(generate_province(**small), folder)  # type: ignore[arg-type]
    settings = Settings(data_dir=tmp_path / "var", database_url=database_url)
    initialise(settings)
    return folder, settings, load_province(folder, settings)


def test_a_crash_in_the_commit_loses_and_doubles_nothing(
    tmp_path: Path, database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder, settings, report = _small_province(tmp_path, database_url, institutions=2)
    services = build_services(settings, lambda: report.ended_at + timedelta(days=4))
    size = services.store.head().size

    def crash(*args: object) -> None:
        raise OSError("disk gone")

    with monkeypatch.context() as patch:
        patch.setattr("supervisor.inspection.inspector._store_pending", crash)
        with pytest.raises(OSError, match="disk gone"):
            services.inspector.follow_once()
    assert services.store.head().size == size  # nothing of the pass was kept
    with services.engine.connect() as connection:
        assert connection.execute(select(func.count()).select_from(tables.findings)).scalar() == 0
        assert connection.execute(select(tables.inspection_cursor)).first() is None
    services.inspector.follow()
    labels = {(x.institution_code, x.record_id, x.rule) for x in read_labels(folder)}
    with services.engine.connect() as connection:
        found = [
            (r.institution_code, r.record_id, r.rule_id)
            for r in connection.execute(select(tables.findings))
        ]
        entries = connection.execute(
            select(func.count())
            .select_from(ledger_schema.entries)
            .where(ledger_schema.entries.c.type == FINDING_ENTRY)
        ).scalar()
    assert sorted(found) == sorted(labels) and entries == len(found)
    services.engine.dispose()


def test_two_inspectors_cannot_both_inspect_the_same_records(
    tmp_path: Path, database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    _, settings, report = _small_province(tmp_path, database_url, institutions=2)
    later = report.ended_at + timedelta(days=4)
    first = build_services(settings, lambda: later)
    second = build_services(settings, lambda: later)
    inspect_share = Inspector._inspect_share
    raced = []

    def inspect_then_lose_the_race(self: Inspector, *args: object, **kwargs: object) -> object:
        if self is first.inspector and not raced:
            raced.append(second.inspector.follow_once())  # the other inspector commits first
        return inspect_share(self, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(Inspector, "_inspect_share", inspect_then_lose_the_race)
    with pytest.raises(InspectionConflictError):
        first.inspector.follow_once()
    with first.engine.connect() as connection:
        ids = connection.execute(select(tables.findings.c.finding_id)).scalars().all()
    assert len(ids) == len(set(ids)) == raced[0].findings > 0  # type: ignore[attr-defined]
    for services in (first, second):
        services.engine.dispose()


def test_followers_take_turns_so_each_record_is_inspected_once(
    tmp_path: Path, database_url: str
) -> None:
    """While `careledger inspector` holds the inspection lease, the scheduler's sweep and a
    second inspector step aside; when it stops (or dies and its lease expires) one takes over."""
    from supervisor.inspection.follower import follow_in_turn, follower_lease
    from supervisor.runtime.scheduler import job_functions

    _, settings, report = _small_province(tmp_path, database_url, institutions=1)
    later = report.ended_at + timedelta(days=4)
    services = build_services(settings, lambda: later)
    active = follower_lease(services.engine, "inspector-a")
    standby = follower_lease(services.engine, "inspector-b")
    assert active.acquire()
    assert follow_in_turn(services.inspector, standby) is None
    sweep = job_functions(services)["inspection"]()
    assert sweep.startswith("skipped: inspector-a") and "follows the ledger" in sweep
    with services.engine.connect() as connection:
        assert connection.execute(select(tables.inspection_cursor)).first() is None
    passes = follow_in_turn(services.inspector, active)
    assert passes is not None and sum(p.records for p in passes) == report.records
    active.release()
    taken_over = follow_in_turn(services.inspector, standby)
    assert taken_over is not None and sum(p.records for p in taken_over) == 0  # none twice
    assert job_functions(services)["inspection"]().startswith("skipped: inspector-b")
    dead = follower_lease(
        services.engine, "inspector-c", clock=lambda: datetime.now(UTC) + timedelta(minutes=2)
    )
    assert dead.acquire()  # b's lease has expired by c's clock: b died
    services.engine.dispose()


def test_an_idle_follower_appends_nothing_and_catches_up(tmp_path: Path, database_url: str) -> None:
    """With no new records a pass appends no run entry (it appended one covering its own
    last one, every two seconds, for ever); the cursor still moves to the head."""
    _, settings, report = _small_province(tmp_path, database_url, institutions=1)
    services = build_services(settings, lambda: report.ended_at + timedelta(days=4))
    assert sum(p.records for p in services.inspector.follow()) == report.records
    size = services.store.head().size
    for _ in range(3):
        idle = services.inspector.follow()
        assert [p.entry_index for p in idle] == [None]
    assert services.store.head().size == size
    with services.engine.connect() as connection:
        cursor = connection.execute(select(tables.inspection_cursor.c.next_index)).scalar()
    assert cursor == size  # no lag left: the run entry itself was passed over
    services.engine.dispose()


def test_a_second_inspector_waits_as_a_standby(tmp_path: Path, database_url: str) -> None:
    from supervisor.inspection.follower import follower_lease

    _, settings, report = _small_province(tmp_path, database_url, institutions=1)
    env = {"CARELEDGER_DATA_DIR": str(settings.data_dir), "CARELEDGER_DATABASE_URL": database_url}
    services = build_services(settings)
    assert follower_lease(services.engine, "inspector-a").acquire()
    result = CliRunner().invoke(cli, ["inspector", "--once"], env=env)
    assert result.exit_code == 0, result.output
    assert "standby: inspector-a" in result.output
    with services.engine.connect() as connection:
        assert connection.execute(select(tables.inspection_cursor)).first() is None
    follower_lease(services.engine, "inspector-a").release()
    result = CliRunner().invoke(cli, ["inspector", "--once"], env=env)
    assert result.exit_code == 0 and "standby" not in result.output, result.output
    with services.engine.connect() as connection:
        cursor = connection.execute(select(tables.inspection_cursor.c.next_index)).scalar()
    assert cursor is not None and cursor >= report.records
    assert follower_lease(services.engine, "inspector-a").acquire()  # --once released it
    services.engine.dispose()


def test_reference_import_from_the_command_line(tmp_path: Path, database_url: str) -> None:
    data = tmp_path / "var"
    env = {"CARELEDGER_DATA_DIR": str(data), "CARELEDGER_DATABASE_URL": database_url}
    runner = CliRunner()
    assert runner.invoke(cli, ["init"], env=env).exit_code == 0
    good = tmp_path / "drugs.csv"
    good.write_text(
        "drug_code,drug_name,category,online_prescribable,max_days_supply\n"
        "XN02AAM,盐酸吗啡缓释片,narcotic,false,\nXA10BAE,二甲双胍,rx,true,30\n",
        encoding="utf-8",
    )
    first = runner.invoke(cli, ["reference", "import", "drugs", str(good)], env=env)
    assert first.exit_code == 0, first.output
    assert "(2 rows) in force from ledger entry 0" in first.output
    again = runner.invoke(cli, ["reference", "import", "drugs", str(good)], env=env)
    assert "already in force; nothing appended" in again.output
    bad = tmp_path / "bad.csv"
    bad.write_text(
        "drug_code,drug_name,category,online_prescribable,max_days_supply\n"
        "XN02AAM,盐酸吗啡缓释片,opioid,false,\nX 1,,rx,perhaps,400\n",
        encoding="utf-8",
    )
    refused = runner.invoke(cli, ["reference", "import", "drugs", str(bad)], env=env)
    assert refused.exit_code == 1
    for expected in (
        "drugs rejected, 5 problem(s); the version in force is unchanged",
        "line 2, column 3 (category): 'opioid' is not one of",
        "line 3, column 1 (drug_code): 'X 1' is not a code",
        "line 3, column 2 (drug_name): required",
        "line 3, column 4 (online_prescribable): 'perhaps' is not true or false",
        "line 3, column 5 (max_days_supply): '400' is not a number of days",
    ):
        assert expected in refused.output
    listed = runner.invoke(cli, ["reference", "list"], env=env)
    assert len(listed.output.splitlines()) == 1 and "2 rows" in listed.output


def test_demo_generate_load_and_export_from_the_command_line(tmp_path: Path) -> None:
    env = {"CARELEDGER_DATA_DIR": str(tmp_path / "var")}
    runner = CliRunner()
    province = tmp_path / "province"
    generated = runner.invoke(
        cli,
        [
            "demo",
            "generate",
            "--out",
            str(province),
            "--institutions",
            "4",
            "--days",
            "3",
            "--violation-rate",
            "0.2",
            "--end",
            "2026-10-01",
        ],
        env=env,
    )
    assert generated.exit_code == 0, generated.output
    assert (
        (province / "registry.csv").read_text(encoding="utf-8").startswith("license_no,name,role")
    )
    loaded = runner.invoke(cli, ["demo", "load", str(province)], env=env)
    assert loaded.exit_code == 0, loaded.output
    assert "every receipt verified" in loaded.output
    out = tmp_path / "findings.csv"
    exported = runner.invoke(
        cli, ["findings", "export", "--format", "csv", "--out", str(out)], env=env
    )
    assert exported.exit_code == 0, exported.output
    from reports.spreadsheet import read_table  # headers are "规则 / rule": read by machine name

    rows = read_table(out.read_text(encoding="utf-8-sig"))
    labels = {(x.institution_code, x.record_id, x.rule) for x in read_labels(province)}
    # Loaded weeks ago, so every grace period has passed: the findings are final.
    assert {(r["institution_code"], r["record_id"], r["rule"]) for r in rows} == labels
    assert all(r["legal_basis"].startswith("《") and r["evidence"].startswith("{") for r in rows)
    again = runner.invoke(
        cli, ["inspect", "--since", "2026-09-01", "--until", "2026-10-15"], env=env
    )
    assert again.exit_code == 0, again.output
    assert re.search(r"on_demand: entries \d+\.\.\d+, \d+ records, 0 new findings", again.output)
    assert runner.invoke(cli, ["inspector", "--once"], env=env).exit_code == 0
    backwards = runner.invoke(
        cli, ["inspect", "--since", "2026-10-15", "--until", "2026-09-01"], env=env
    )
    assert backwards.exit_code == 2 and "--until must be after --since" in backwards.output
    only = runner.invoke(
        cli,
        ["findings", "export", "--rule", "RX-BANNED-DRUG", "--institution", "H330100001"],
        env=env,
    )
    lines = [line for line in only.output.splitlines() if line.startswith("{")]
    assert lines and all(
        '"rule":"RX-BANNED-DRUG"' in line and "H330100001" in line for line in lines
    )


def test_records_committed_while_a_pass_reads_are_not_skipped(
    tmp_path: Path, database_url: str
) -> None:
    from sqlalchemy import event

    from supervisor.client.submit import load_platform_key, sign_envelope
    from supervisor.custody.key_files import read_secret
    from supervisor.demo.synthetic import synthetic_records

    _, settings, report = _small_province(tmp_path, database_url, institutions=1)
    now = report.ended_at
    reader = build_services(settings, lambda: now + timedelta(days=4))
    writer = build_services(settings, lambda: now)
    key = load_platform_key(read_secret(settings.data_dir / "platform-keys" / "H330100001.key"))
    envelope = sign_envelope(
        platform_id="PLT-H330100001",
        key=key,
        batch_id="late-arrivals",
        created_at=now,
        records=list(synthetic_records("H330100001", 30, start=now - timedelta(hours=1), seed=9)),
    )
    raced: list[bool] = []

    @event.listens_for(reader.engine, "before_cursor_execute")
    def append_meanwhile(conn: object, cursor: object, statement: str, *args: object) -> None:
        # Another worker commits a batch just as the inspector asks for the head.
        if "ledger_head" in statement and "inspection_cursor" not in statement and not raced:
            raced.append(True)
            writer.submissions.submit(envelope)

    passes = reader.inspector.follow()
    passes += reader.inspector.follow()
    assert raced
    with reader.engine.connect() as connection:
        stored = connection.execute(select(func.count()).select_from(tables.records)).scalar()
    assert sum(p.records for p in passes) == stored == report.records + 30
    for services in (reader, writer):
        services.engine.dispose()


def test_the_follower_carries_on_when_another_inspector_moved_the_cursor(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Beside the scheduler's sweep, `careledger inspector` loses a race now and then: it
    must follow on, not exit (a soak found it exiting)."""
    env = {"CARELEDGER_DATA_DIR": str(tmp_path / "var")}
    assert CliRunner().invoke(cli, ["init"], env=env).exit_code == 0
    passes = []

    def lost_race(self: Inspector, **_: object) -> list[object]:
        passes.append(1)
        raise InspectionConflictError("another inspector moved the cursor first")

    monkeypatch.setattr(Inspector, "follow", lost_race)
    result = CliRunner().invoke(cli, ["inspector", "--once"], env=env)
    assert result.exit_code == 0, result.output
    assert "following on" in result.output and passes == [1]


def _findings_and_pending(services: Services) -> tuple[set[tuple[Any, ...]], set[tuple[Any, ...]]]:
    with services.engine.connect() as connection:
        found = {
            (r.finding_id, r.record_id, r.rule_id)
            for r in connection.execute(select(tables.findings))
        }
        pending = {
            (str(r.entry_index), r.institution_code, str(r.waiting_for))
            for r in connection.execute(select(tables.inspection_pending))
        }
    return found, pending


def _inspect_again(
    settings: Settings,
    now: datetime,
    *,
    chunk: int,
    start_worker: Callable[[], ShareWorker] | None = None,
) -> tuple[int, set[tuple[Any, ...]], set[tuple[Any, ...]]]:
    """A follow from an empty cursor: (passes, findings, pending rows)."""
    services = build_services(settings, lambda: now)
    with services.engine.begin() as connection:
        for table in (
            tables.findings,
            tables.cases,
            tables.inspection_cursor,
            tables.inspection_pending,
        ):
            connection.execute(table.delete())
    inspector = Inspector(
        services.store,
        services.keys,
        services.reference,
        lambda: now,
        chunk=chunk,
        start_worker=start_worker,
    )
    passes = inspector.follow()
    found, pending = _findings_and_pending(services)
    services.engine.dispose()
    return len(passes), found, pending


def _worker_starter(
    url: str, keys_dir: Path, shares: list[int], *, wait: bool = True
) -> Callable[[], ShareWorker]:
    """Starts a real worker process; waits for it (so that every later chunk is shared)
    and counts the shares it is sent."""

    def start() -> ShareWorker:
        worker = ShareWorker(url, keys_dir)
        if wait:
            assert worker.settled(timeout=120), "the inspector's worker did not start"
        submit = worker.submit

        def counted(*args: Any, **kwargs: Any) -> Any:
            shares.append(1)
            return submit(*args, **kwargs)

        worker.submit = counted  # type: ignore[method-assign]
        return worker

    return start


def test_a_follow_shared_with_a_second_process_finds_what_one_process_finds(
    tmp_path: Path, database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A backlog is shared out by institution between the follower and a worker process;
    the findings, and the records left waiting (before every deadline has passed), are
    those of one process inspecting the whole province at once."""
    _, settings, report = _small_province(tmp_path, database_url, institutions=4)
    monkeypatch.setattr("supervisor.inspection.inspector.SHARED_FROM", 1)
    waiting = []
    for now in (report.ended_at, report.ended_at + timedelta(days=4)):
        shares: list[int] = []
        start = _worker_starter(settings.effective_database_url, settings.keys_dir, shares)
        passes, shared, shared_pending = _inspect_again(
            settings, now, chunk=150, start_worker=start
        )
        _, alone, pending = _inspect_again(settings, now, chunk=100_000)
        assert len(shares) >= passes - 2 > 3  # every chunk after the first was shared
        assert len(alone) > 20 and shared == alone
        assert shared_pending == pending
        waiting.append(len(pending))
    assert waiting[0] > 0 and waiting[1] == 0  # before the deadlines some wait; after, none


def test_a_worker_that_fails_leaves_its_share_to_the_follower(
    tmp_path: Path,
    database_url: str,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The worker only saves time: one that cannot start, or whose share fails, changes
    nothing found; the follower inspects that share itself and says so in the log."""
    _, settings, report = _small_province(tmp_path, database_url, institutions=2)
    later = report.ended_at + timedelta(days=4)
    monkeypatch.setattr("supervisor.inspection.inspector.SHARED_FROM", 1)
    _, alone, _ = _inspect_again(settings, later, chunk=100_000)
    elsewhere = f"sqlite:///{tmp_path / 'another.db'}"  # starts, then fails every share
    shares: list[int] = []
    start = _worker_starter(elsewhere, settings.keys_dir, shares)
    _, found, _ = _inspect_again(settings, later, chunk=150, start_worker=start)
    assert shares and found == alone
    assert "inspecting its share here" in caplog.text
    no_keys = _worker_starter(
        settings.effective_database_url, tmp_path / "no-keys", shares, wait=False
    )

    def start_and_fail() -> ShareWorker:
        worker = no_keys()
        assert not worker.settled(timeout=120)
        return worker

    _, found, _ = _inspect_again(settings, later, chunk=150, start_worker=start_and_fail)
    assert found == alone
    assert "could not start" in caplog.text


def test_the_findings_do_not_depend_on_the_chunk_size(tmp_path: Path, database_url: str) -> None:
    """A follow remembers the records it opened for its later chunks (filings, and what
    the next chunk's records refer to). With small chunks nearly every record leans on
    earlier chunks, so any record remembered wrongly, or missed, changes the findings."""
    _, settings, report = _small_province(tmp_path, database_url, institutions=4)
    later = report.ended_at + timedelta(days=4)

    chunks, small, _ = _inspect_again(settings, later, chunk=97)
    _, whole, _ = _inspect_again(settings, later, chunk=100_000)
    assert chunks > report.records // 97 and len(whole) > 20
    assert small == whole
