"""The deployment files under ops/ stay true to the code: every setting documented, every
command a unit runs exists, gunicorn loads its configuration and the app, and the pre-start
check refuses what it should."""

from __future__ import annotations

import configparser
import os
import re
import shlex
import stat
import subprocess
import sys
from dataclasses import fields
from pathlib import Path

import pytest
from click.testing import CliRunner

from supervisor.cli import cli
from supervisor.config import Settings
from supervisor.custody.backup import write_backup
from supervisor.custody.data_folder import initialise
from supervisor.database.engine import open_engine

OPS = Path(__file__).resolve().parents[2] / "ops"


def test_every_setting_is_in_the_environment_reference() -> None:
    reference = (OPS / "environment.md").read_text(encoding="utf-8")
    documented = set(re.findall(r"^\| `([a-z_]+)` \|", reference, flags=re.MULTILINE))
    assert documented == {f.name for f in fields(Settings)}


def _unit_commands() -> list[list[str]]:
    commands = []
    for unit in sorted((OPS / "systemd").glob("*.service")):
        parser = configparser.ConfigParser(strict=False, interpolation=None)
        parser.read(unit)
        for key in ("ExecStartPre", "ExecStart"):
            line = parser["Service"].get(key)
            if line and "/careledger " in line:
                words = shlex.split(line.replace("'", ""))
                start = next(i for i, w in enumerate(words) if w.endswith("/careledger"))
                commands.append([w for w in words[start + 1 :] if not w.startswith("/var/")])
    return commands


@pytest.mark.parametrize("command", _unit_commands(), ids=" ".join)
def test_every_careledger_command_a_unit_runs_exists(command: list[str]) -> None:
    subcommands = [w for w in command if not w.startswith("-") and not w.startswith("$")]
    result = CliRunner().invoke(cli, [*subcommands, "--help"])
    assert result.exit_code == 0, result.output
    for option in (w for w in command if w.startswith("--")):
        assert option in result.output


def test_gunicorn_loads_its_configuration_and_the_app(tmp_path: Path) -> None:
    initialise(Settings(data_dir=tmp_path / "var"))
    env = dict(os.environ, CARELEDGER_DATA_DIR=str(tmp_path / "var"), CARELEDGER_WORKERS="2")
    checked = subprocess.run(
        [sys.executable, "-m", "gunicorn", "--check-config", "-c", str(OPS / "gunicorn.conf.py"),
         "supervisor.web.wsgi:app"],
        env=env, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert checked.returncode == 0, checked.stderr


def test_the_pre_start_check_refuses_exposed_keys_and_an_old_schema(tmp_path: Path) -> None:
    data_dir = tmp_path / "var"
    initialise(Settings(data_dir=data_dir))
    env = {"CARELEDGER_DATA_DIR": str(data_dir)}
    assert CliRunner().invoke(cli, ["db", "check"], env=env).exit_code == 0

    os.chmod(data_dir / "keys" / "master.key", 0o640)
    refused = CliRunner().invoke(cli, ["db", "check"], env=env)
    assert refused.exit_code == 1 and "master.key is accessible to other users" in refused.output
    os.chmod(data_dir / "keys" / "master.key", 0o600)

    engine = open_engine(f"sqlite:///{data_dir / 'careledger.db'}")
    with engine.begin() as connection:
        connection.exec_driver_sql("UPDATE alembic_version SET version_num = '0011'")
    engine.dispose()
    old = CliRunner().invoke(cli, ["db", "check"], env=env)
    assert old.exit_code == 1 and "run `careledger db upgrade`" in old.output


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_data_at_rest_is_private_whatever_the_umask(tmp_path: Path) -> None:
    data_dir = tmp_path / "var"
    previous = os.umask(0o022)  # what most machines have: files readable by everyone
    try:
        settings = Settings(data_dir=data_dir)
        initialise(settings)
        engine = open_engine(settings.effective_database_url)
        with engine.begin() as connection:  # a write makes SQLite create its WAL files
            connection.exec_driver_sql("CREATE TABLE IF NOT EXISTS t_probe (x INTEGER)")
        engine.dispose()
        summary = write_backup(
            open_engine(settings.effective_database_url),
            tmp_path / "backup",
            origin=settings.log_origin,
            vkey=(data_dir / "log.vkey").read_text().strip(),
        )
    finally:
        os.umask(previous)
    assert _mode(data_dir) == 0o700
    for name in ("careledger.db", "careledger.db-wal", "careledger.db-shm", "log.vkey"):
        if (data_dir / name).exists():
            assert _mode(data_dir / name) == 0o600, name
    assert _mode(summary.folder) == 0o700
    assert {_mode(p) for p in summary.folder.rglob("*") if p.is_file()} == {0o600}
    assert {_mode(p) for p in summary.folder.rglob("*") if p.is_dir()} == {0o700}

    env = {"CARELEDGER_DATA_DIR": str(data_dir)}
    assert CliRunner().invoke(cli, ["db", "check"], env=env).exit_code == 0
    os.chmod(data_dir, 0o755)
    os.chmod(data_dir / "careledger.db", 0o644)
    refused = CliRunner().invoke(cli, ["db", "check"], env=env)
    assert refused.exit_code == 1
    assert f"{data_dir} is accessible to other users (mode 755): chmod 700" in refused.output
    assert "careledger.db is accessible to other users (mode 644): chmod 600" in refused.output
