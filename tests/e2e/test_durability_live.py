"""Receipts are durable whatever the server's defaults say, and `db check` says when they
cannot be: a throwaway PostgreSQL of the test's own, set up the way a careless operator
might leave one."""

from __future__ import annotations

from pathlib import Path

import psycopg
import pytest
from click.testing import CliRunner

from supervisor.cli import cli
from supervisor.config import Settings
from supervisor.custody.data_folder import initialise
from supervisor.database.engine import open_engine
from tests.pg_cluster import own_cluster

pytestmark = pytest.mark.slow


def _check(data_dir: Path, url: str) -> tuple[int, str]:
    env = {"CARELEDGER_DATA_DIR": str(data_dir), "CARELEDGER_DATABASE_URL": url}
    result = CliRunner().invoke(cli, ["db", "check"], env=env)
    return result.exit_code, result.output


def test_commits_are_synchronous_on_every_connection_and_db_check_refuses_fsync_off(
    tmp_path: Path,
) -> None:
    with own_cluster() as cluster:
        plain = cluster.url.replace("postgresql+psycopg", "postgresql")
        with psycopg.connect(plain, autocommit=True) as admin:
            admin.execute("ALTER DATABASE postgres SET synchronous_commit = off")
        with psycopg.connect(plain) as other:  # what any other client now gets
            assert other.execute("SHOW synchronous_commit").fetchone() == ("off",)
        engine = open_engine(cluster.url)
        with engine.connect() as connection:
            assert connection.exec_driver_sql("SHOW synchronous_commit").scalar_one() == "on"
        engine.dispose()

        settings = Settings(data_dir=tmp_path / "var", database_url=cluster.url)
        initialise(settings)
        code, output = _check(settings.data_dir, cluster.url)
        assert code == 0 and "commits durable" in output, output

        cluster.stop()
        cluster.start("fsync=off")
        code, output = _check(settings.data_dir, cluster.url)
        assert code == 1 and "fsync is 'off'" in output, output


def test_db_check_reads_sqlite_durability(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path / "var")
    initialise(settings)
    code, output = _check(settings.data_dir, settings.effective_database_url)
    assert code == 0 and "commits durable" in output, output
