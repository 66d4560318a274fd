"""`careledger keys rotate-log`: a rotation interrupted after the ledger moved is finished by
running the command again, and the log verifies from its first key throughout."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from click.testing import CliRunner

from ledger.integrity import verify_stored_log
from ledger.note import Signer, Verifier
from ledger.store import LedgerStore
from supervisor.cli import cli
from supervisor.config import load_settings
from supervisor.custody.key_files import load_log_signer, write_secret
from supervisor.custody.log_rotation import NEXT_LOG_KEY
from supervisor.database.engine import open_engine

pytestmark = pytest.mark.database


def _run(env: dict[str, str], *args: str) -> str:
    result = CliRunner().invoke(cli, list(args), env=env)
    assert result.exit_code == 0, result.output
    return result.output


def test_an_interrupted_rotation_is_finished_and_a_second_one_follows(
    tmp_path: Path, database_url: str
) -> None:
    env = {"CARELEDGER_DATA_DIR": str(tmp_path / "var"), "CARELEDGER_DATABASE_URL": database_url}
    genesis = Verifier.from_vkey(_run(env, "init").strip().splitlines()[-1])
    _run(env, "demo", "ledger", "--entries", "120")
    settings = load_settings(None, env)
    current = load_log_signer(settings.log_key_path, settings.log_origin)
    # What a run that died after the ledger step leaves: the new key only in -next.
    new = Signer.generate(settings.log_origin)
    write_secret(settings.keys_dir / NEXT_LOG_KEY, new.skey + "\n")
    engine = open_engine(database_url)
    LedgerStore(engine, current).rotate_signer(new, now=datetime.now(UTC))
    output = _run(env, "keys", "rotate-log")
    assert "finished a rotation" in output and output.strip().endswith(new.verifier.vkey)
    assert load_log_signer(settings.log_key_path, settings.log_origin) == new
    assert not (settings.keys_dir / NEXT_LOG_KEY).exists()
    # A second, ordinary rotation; then appends sign with the third key.
    third = Verifier.from_vkey(_run(env, "keys", "rotate-log").strip().splitlines()[-1])
    assert third not in (genesis, new.verifier)
    _run(env, "demo", "ledger", "--entries", "30")
    result = verify_stored_log(engine, genesis)
    assert result.ok, result.discrepancy
    store = LedgerStore(engine)
    assert [key for _, key in store.key_chain(genesis).keys] == [genesis, new.verifier, third]
    assert "ledger verifies" in _run(env, "ledger", "verify", "--no-progress")
    engine.dispose()
