"""A server restored from an older backup: the monitor calls it a rollback."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from .conftest import LiveServer
from .test_audit_live import _alarm, _audit, _submit

pytestmark = [pytest.mark.database, pytest.mark.slow]


@pytest.fixture(params=["sqlite"])
def database_url(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> str:
    """Rollback is restoring a file backup: SQLite's online backup API makes one."""
    return f"sqlite:///{tmp_path_factory.mktemp('db') / 'careledger.db'}"


def test_a_restore_from_an_older_backup_is_a_rollback(live: LiveServer) -> None:
    database = Path(live.env["CARELEDGER_DATABASE_URL"].removeprefix("sqlite:///"))
    backup = live.folder / "older.db"
    _submit(live, 300, seed=6)
    with sqlite3.connect(database) as source, sqlite3.connect(backup) as target:
        source.backup(target)
    _submit(live, 300, seed=7)
    assert _audit(live).returncode == 0
    with sqlite3.connect(backup) as source, sqlite3.connect(database) as target:
        source.backup(target)
    live.tampered = True  # the restored log verifies on its own; the monitor remembers more
    _alarm(_audit(live), "rollback")


def test_deleting_the_newest_entries_is_missing_data_not_an_outage(live: LiveServer) -> None:
    database = Path(live.env["CARELEDGER_DATABASE_URL"].removeprefix("sqlite:///"))
    _submit(live, 600, seed=8)
    assert _audit(live, "--full").returncode == 0
    with sqlite3.connect(database) as connection:
        # What someone editing the file does: drop the guards, delete the newest leaves.
        for (name,) in connection.execute(
            "SELECT name FROM sqlite_master WHERE type = 'trigger' AND tbl_name LIKE 'ledger_%'"
        ).fetchall():
            connection.execute(f"DROP TRIGGER {name}")
        connection.execute("DELETE FROM ledger_entries WHERE idx >= 300")
    live.tampered = True
    done = _audit(live, "--full")
    _alarm(done, "missing")
    assert "does not serve data that its signed checkpoints cover" in done.stderr
