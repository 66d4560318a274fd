"""Settings precedence, key-file safety and the `careledger init` contract."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from ledger.note import Verifier
from supervisor.cli import cli
from supervisor.config import ConfigError, Settings, load_settings
from supervisor.custody.key_files import KeyFileError, read_secret, write_secret


def test_defaults_toml_and_environment_in_that_order(tmp_path: Path) -> None:
    assert load_settings(None, {}) == Settings()
    # The default folder is ./var of where careledger was started, made absolute at once.
    default_db = Path("var").absolute() / "careledger.db"
    assert Settings().effective_database_url == f"sqlite:///{default_db}"
    toml = tmp_path / "careledger.toml"
    toml.write_text('data_dir = "/srv/careledger"\nlog_origin = "wjw.example.gov.cn/ledger"\n')
    from_file = load_settings(toml, {})
    assert from_file.data_dir == Path("/srv/careledger")
    assert from_file.effective_database_url == "sqlite:////srv/careledger/careledger.db"
    env = {"CARELEDGER_CONFIG": str(toml), "CARELEDGER_LOG_ORIGIN": "other.example/log"}
    assert load_settings(None, env).log_origin == "other.example/log"
    assert load_settings(None, env).data_dir == Path("/srv/careledger")


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ('data_dirr = "x"\n', "unknown settings data_dirr"),
        ("data_dir = [\n", "not valid TOML"),
        ("log_origin = 5\n", "log_origin must be a string"),
        ('log_origin = "two words"\n', "must be one token"),
    ],
)
def test_bad_configuration_is_named(tmp_path: Path, content: str, message: str) -> None:
    toml = tmp_path / "bad.toml"
    toml.write_text(content)
    with pytest.raises(ConfigError, match=message):
        load_settings(toml, {})


def test_secrets_are_0600_never_overwritten_and_refused_when_readable(tmp_path: Path) -> None:
    path = tmp_path / "keys" / "k"
    write_secret(path, "secret")
    assert oct(path.stat().st_mode & 0o777) == "0o600"
    assert oct(path.parent.stat().st_mode & 0o777) == "0o700"
    with pytest.raises(KeyFileError, match="never overwrites"):
        write_secret(path, "other")
    assert read_secret(path) == "secret"
    os.chmod(path, 0o644)
    with pytest.raises(KeyFileError, match="chmod 600"):
        read_secret(path)


def test_init_creates_schema_and_key_prints_vkey_and_refuses_a_second_key(tmp_path: Path) -> None:
    env = {"CARELEDGER_DATA_DIR": str(tmp_path / "var"), "CARELEDGER_LOG_ORIGIN": "init.test/log"}
    runner = CliRunner()
    first = runner.invoke(cli, ["init"], env=env)
    assert first.exit_code == 0, first.output
    vkey = first.stdout.strip()
    verifier = Verifier.from_vkey(vkey)
    assert verifier.name == "init.test/log"
    assert (tmp_path / "var" / "log.vkey").read_text().strip() == vkey
    key_file = tmp_path / "var" / "keys" / "log-signing.key"
    before = key_file.read_text()
    second = runner.invoke(cli, ["init"], env=env)
    assert second.exit_code == 1 and "never overwrites" in second.output
    assert key_file.read_text() == before
    status = runner.invoke(cli, ["ledger", "status"], env=env)
    assert status.exit_code == 0 and "size: 0" in status.output


def test_demo_then_verify_and_a_readable_error_without_init(tmp_path: Path) -> None:
    runner = CliRunner()
    missing = runner.invoke(
        cli, ["ledger", "verify"], env={"CARELEDGER_DATA_DIR": str(tmp_path / "none")}
    )
    assert (
        missing.exit_code == 1 and "Error:" in missing.output and "Traceback" not in missing.output
    )
    env = {"CARELEDGER_DATA_DIR": str(tmp_path / "var")}
    assert runner.invoke(cli, ["init"], env=env).exit_code == 0
    demo = runner.invoke(cli, ["demo", "ledger", "--entries", "2500"], env=env)
    assert demo.exit_code == 0, demo.output
    assert "careledger.local/ledger\n2500\n" in demo.output
    verify = runner.invoke(cli, ["ledger", "verify", "--no-progress"], env=env)
    assert verify.exit_code == 0 and "2500 entries, 3 checkpoints" in verify.output


def test_a_command_whose_reader_goes_away_stops_quietly(tmp_path: Path) -> None:
    env = dict(os.environ, CARELEDGER_DATA_DIR=str(tmp_path / "var"))
    subprocess.run(
        [sys.executable, "-m", "supervisor.cli", "init"], env=env, check=True, capture_output=True
    )
    # `careledger ledger status | head -0`: the reader closes before the first line.
    process = subprocess.Popen(
        [sys.executable, "-m", "supervisor.cli", "ledger", "status"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert process.stdout is not None and process.stderr is not None
    process.stdout.close()
    errors = process.stderr.read().decode()
    process.wait(timeout=30)
    assert "Broken pipe" not in errors and "Traceback" not in errors, errors


def test_a_relative_data_folder_is_the_one_careledger_was_started_from(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    settings = load_settings(None, {"CARELEDGER_DATA_DIR": "var-demo"})
    assert settings.data_dir == tmp_path / "var-demo"
    assert Settings(data_dir=Path("var")).data_dir == tmp_path / "var"


def test_commands_before_init_say_so_and_create_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    for command in (["ledger", "status"], ["ledger", "verify"], ["report", "list"]):
        result = CliRunner().invoke(cli, command, env={"CARELEDGER_DATA_DIR": "var"})
        assert result.exit_code == 1, command
        assert "run `careledger init` first" in result.output, result.output
    assert not (tmp_path / "var").exists()  # no data folder, no empty database


def test_doctor_names_what_is_missing_and_the_fix(tmp_path: Path) -> None:
    env = {"CARELEDGER_DATA_DIR": str(tmp_path / "var")}
    before = CliRunner().invoke(cli, ["doctor"], env=env)
    assert before.exit_code == 1
    assert "FAIL  no database at" in before.output and "fix: run `careledger init`" in before.output
    assert not (tmp_path / "var").exists()  # the doctor looks, it creates nothing
    assert CliRunner().invoke(cli, ["init"], env=env).exit_code == 0
    after = CliRunner().invoke(cli, ["doctor"], env=env)
    assert after.exit_code == 0, after.output
    assert "commits are durable" in after.output and "report PDFs" in after.output
    os.chmod(tmp_path / "var" / "keys" / "master.key", 0o644)
    exposed = CliRunner().invoke(cli, ["doctor"], env=env)
    assert exposed.exit_code == 1 and "master.key is accessible to other users" in exposed.output


def test_a_command_run_in_process_gives_back_the_signal_handlers(tmp_path: Path) -> None:
    """Left behind, the inspector's SIGTERM handler made a process forked later (a
    multiprocessing pool in another test) ignore its SIGTERM: a hang."""
    env = {"CARELEDGER_DATA_DIR": str(tmp_path / "var")}
    assert CliRunner().invoke(cli, ["init"], env=env).exit_code == 0
    before = (signal.getsignal(signal.SIGTERM), signal.getsignal(signal.SIGINT))
    ran = CliRunner().invoke(cli, ["inspector", "--once"], env=env)
    assert ran.exit_code == 0, ran.output
    assert (signal.getsignal(signal.SIGTERM), signal.getsignal(signal.SIGINT)) == before
