"""Backups: a consistent snapshot that restores into an empty database and verifies.

Restored logs are checked by the same code an auditor runs (``verify_stored_log``
and the monitor's ``audit``), never by comparing the backup with itself alone.
"""

from __future__ import annotations

import gzip
import shutil
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
from click.testing import CliRunner, Result
from sqlalchemy import Engine, func, select

from ledger.checkpoint import open_checkpoint
from ledger.integrity import verify_stored_log
from ledger.proof import verify_inclusion
from ledger.store import LedgerStore
from supervisor.cli import cli
from supervisor.custody.backup import (
    BackupError,
    all_tables,
    decode_value,
    encode_value,
    read_manifest,
)
from supervisor.database import tables
from supervisor.database.engine import open_engine
from supervisor.transparency.monitor import MonitorAlarmError, MonitorState, audit
from supervisor.transparency.store_source import StoreLogSource
from tests.conftest import postgres_schema_url

from .conftest import Portal

pytestmark = pytest.mark.database


def _careledger(portal: Portal, database_url: str, *args: str) -> Result:
    env = {
        "CARELEDGER_DATA_DIR": str(portal.settings.data_dir),
        "CARELEDGER_DATABASE_URL": database_url,
    }
    return CliRunner().invoke(cli, list(args), env=env)


def _tables(engine: Engine) -> dict[str, list[Any]]:
    with engine.connect() as connection:
        return {
            t.name: [
                [encode_value(v) for v in row]
                for row in connection.execute(
                    select(t).order_by(*(t.primary_key.columns or t.columns))
                )
            ]
            for t in all_tables()
        }


_SUBMITTED: dict[int, int] = {}


def _submit(portal: Portal, count: int) -> None:
    """Send the next ``count`` records of the portal's synthetic stream (ids never repeat)."""
    done = _SUBMITTED.get(id(portal), 0)
    records = portal.records(done + count)[done:]
    _SUBMITTED[id(portal)] = done + count
    for first in range(0, count, 50):
        response = portal.post(portal.envelope(records[first : first + 50]))
        assert response.status_code == 201, response.get_data(as_text=True)


@pytest.fixture(params=["sqlite", "postgresql"])
def empty_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path}/restored/careledger.db"
    else:
        yield from postgres_schema_url()


def test_a_backup_restores_every_table_and_the_log_verifies(
    portal: Portal, empty_url: str, tmp_path: Path
) -> None:
    """Also across databases: SQLite to PostgreSQL is how a pilot moves to production."""
    _submit(portal, 200)
    portal.services.inspector.follow_once()
    before = _tables(portal.services.engine)
    folder = tmp_path / "backups" / "b1"
    made = _careledger(portal, portal.settings.effective_database_url, "backup", str(folder))
    assert made.exit_code == 0, made.output
    assert f"{portal.log_size()} entries" in made.output
    assert not (folder.parent / "b1.partial").exists()
    manifest = read_manifest(folder)
    checkpoint, _ = open_checkpoint((folder / "checkpoint.txt").read_text(), portal.verifier)
    assert checkpoint.size == manifest["checkpoint_size"] == portal.log_size()

    _submit(portal, 100)  # the live log moves on; the backup does not

    restored = _careledger(portal, empty_url, "restore", str(folder))
    assert restored.exit_code == 0, restored.output
    assert "the log verifies" in restored.output
    engine = open_engine(empty_url)
    try:
        assert _tables(engine) == before
        assert verify_stored_log(engine, portal.verifier).ok
        # A receipt's inclusion proof, served by the restored log, checks against the
        # backup's signed checkpoint.
        store = LedgerStore(engine, None)
        entry = store.entry(150)
        proof = store.inclusion_proof(150, checkpoint.size)
        verify_inclusion(150, checkpoint.size, entry.leaf_hash, proof.hashes, checkpoint.root)
    finally:
        engine.dispose()


def test_a_restore_from_an_older_backup_is_a_rollback_to_monitors(
    portal: Portal, tmp_path: Path
) -> None:
    _submit(portal, 100)
    folder = tmp_path / "older"
    made = _careledger(portal, portal.settings.effective_database_url, "backup", str(folder))
    assert made.exit_code == 0, made.output
    _submit(portal, 100)
    seen = audit(StoreLogSource(portal.services.store), portal.verifier, None)
    state = MonitorState(seen.checkpoint.size, seen.checkpoint.root, seen.note)

    url = f"sqlite:///{tmp_path}/restored.db"
    assert _careledger(portal, url, "restore", str(folder)).exit_code == 0
    engine = open_engine(url)
    try:
        with pytest.raises(MonitorAlarmError) as alarm:
            audit(StoreLogSource(LedgerStore(engine, None)), portal.verifier, state)
        assert alarm.value.kind == "rollback"
    finally:
        engine.dispose()


def test_a_damaged_backup_is_refused_before_anything_is_loaded(
    portal: Portal, tmp_path: Path
) -> None:
    _submit(portal, 50)
    folder = tmp_path / "b"
    made = _careledger(portal, portal.settings.effective_database_url, "backup", str(folder))
    assert made.exit_code == 0, made.output
    target = folder / "tables" / "ledger_entries.jsonl.gz"
    lines = gzip.decompress(target.read_bytes()).splitlines()
    row = orjson.loads(lines[7])
    row[1] = "record.prescription"  # an entry's type, changed
    lines[7] = orjson.dumps(row)
    target.write_bytes(gzip.compress(b"\n".join(lines) + b"\n"))

    url = f"sqlite:///{tmp_path}/restored.db"
    refused = _careledger(portal, url, "restore", str(folder))
    assert refused.exit_code == 1
    assert "ledger_entries.jsonl.gz is missing or does not match" in refused.output
    assert not Path(f"{tmp_path}/restored.db").exists()


def test_restore_refuses_a_database_that_holds_a_ledger(portal: Portal, tmp_path: Path) -> None:
    _submit(portal, 50)
    folder = tmp_path / "b"
    url = portal.settings.effective_database_url
    assert _careledger(portal, url, "backup", str(folder)).exit_code == 0
    refused = _careledger(portal, url, "restore", str(folder))
    assert refused.exit_code == 1 and "restore only into an empty one" in refused.output
    again = _careledger(portal, url, "backup", str(folder))
    assert again.exit_code == 1 and "exists already" in again.output


def test_a_backup_taken_during_ingest_is_consistent(portal: Portal, tmp_path: Path) -> None:
    """The snapshot cuts between batches, never through one: the restored log verifies."""
    records = portal.records(650)[50:]
    _submit(portal, 50)
    errors: list[str] = []

    def ingest() -> None:
        with portal.app.test_client() as client:
            for first in range(0, 600, 25):
                envelope = portal.envelope(records[first : first + 25])
                response = client.post("/api/v1/batches", json=envelope)
                if response.status_code != 201:
                    errors.append(response.get_data(as_text=True))

    writer = threading.Thread(target=ingest)
    writer.start()
    folders = []
    for n in range(3):
        folder = tmp_path / f"during-{n}"
        made = _careledger(portal, portal.settings.effective_database_url, "backup", str(folder))
        assert made.exit_code == 0, made.output
        folders.append(folder)
    writer.join()
    assert errors == []
    sizes = []
    for n, folder in enumerate(folders):
        url = f"sqlite:///{tmp_path}/restored-{n}.db"
        restored = _careledger(portal, url, "restore", str(folder))
        assert restored.exit_code == 0, restored.output  # the log verifies
        engine = open_engine(url)
        try:  # whole batches only: every batch's records, and no record without its batch
            with engine.connect() as connection:
                batched = connection.execute(
                    select(func.coalesce(func.sum(tables.batches.c.record_count), 0))
                ).scalar_one()
                projected = connection.execute(
                    select(func.count()).select_from(tables.records)
                ).scalar_one()
            assert batched == projected
            sizes.append(LedgerStore(engine, None).head().size)
        finally:
            engine.dispose()
    assert sizes == sorted(sizes)


def test_an_unknown_tagged_value_is_refused() -> None:
    with pytest.raises(BackupError, match="unknown tagged value"):
        decode_value({"x": 1})


def _in(folder: Path, *args: str) -> Result:
    result = CliRunner().invoke(cli, list(args), env={"CARELEDGER_DATA_DIR": str(folder)})
    assert result.exit_code == 0, result.output
    return result


def _status(folder: Path) -> tuple[str, str]:
    lines = _in(folder, "ledger", "status").output.splitlines()
    return lines[0], lines[1]  # size, root


def test_disaster_recovery_from_the_keys_folder_and_a_backup_alone(tmp_path: Path) -> None:
    """The README's promise: keep keys/ apart from the backups; with those two, a fresh
    machine gets the log back, also after a rotation of the log key."""
    original = tmp_path / "var"
    _in(original, "init")
    _in(original, "demo", "ledger", "--entries", "700")
    _in(original, "backup", str(tmp_path / "before"))
    shutil.copytree(original / "keys", tmp_path / "keys-before")
    before = _status(original)
    _in(original, "keys", "rotate-log")
    _in(original, "demo", "ledger", "--entries", "300", "--seed", "2")
    _in(original, "backup", str(tmp_path / "after"))
    after = _status(original)

    for keys, backup, expected in (
        ("keys-before", "before", before),
        ("keys", "after", after),  # keys/ as it is now, after the rotation
    ):
        fresh = tmp_path / f"fresh-{backup}"
        fresh.mkdir(mode=0o700)
        shutil.copytree(original / "keys" if keys == "keys" else tmp_path / keys, fresh / "keys")
        restored = _in(fresh, "restore", str(tmp_path / backup))
        assert "the log verifies" in restored.output
        assert _status(fresh) == expected
        assert (fresh / "log.vkey").read_text() == (original / "log.vkey").read_text()
        assert "ledger verifies" in _in(fresh, "ledger", "verify", "--no-progress").output

    # The keys of another moment do not pass for the backup's.
    wrong = tmp_path / "fresh-wrong"
    wrong.mkdir(mode=0o700)
    shutil.copytree(tmp_path / "keys-before", wrong / "keys")
    refused = CliRunner().invoke(
        cli, ["restore", str(tmp_path / "after")], env={"CARELEDGER_DATA_DIR": str(wrong)}
    )
    assert refused.exit_code == 1 and "is not the key in force" in refused.output
    assert not (wrong / "log.vkey").exists()


def test_restore_without_a_keys_folder_says_to_restore_it_first(tmp_path: Path) -> None:
    original = tmp_path / "var"
    _in(original, "init")
    _in(original, "demo", "ledger", "--entries", "10")
    _in(original, "backup", str(tmp_path / "b"))
    refused = CliRunner().invoke(
        cli, ["restore", str(tmp_path / "b")], env={"CARELEDGER_DATA_DIR": str(tmp_path / "new")}
    )
    assert refused.exit_code == 1 and "restore the keys folder" in refused.output
