"""Tampering behind the server's back: `careledger ledger verify` names the right place."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import Connection, text

from ledger.store import EntryDraft, LedgerStore
from supervisor.cli import cli
from supervisor.custody.key_files import load_log_signer
from supervisor.database.engine import open_engine
from tests.tampering import take_down_ledger_guards

pytestmark = pytest.mark.database

SIZE = 1000


@pytest.fixture
def ledger_env(database_url: str, tmp_path: Path, now: datetime) -> Iterator[dict[str, str]]:
    """A data folder set up by `careledger init`, then 1000 entries in batches of 100."""
    env = {
        "CARELEDGER_DATA_DIR": str(tmp_path / "var"),
        "CARELEDGER_DATABASE_URL": database_url,
        "CARELEDGER_LOG_ORIGIN": "tamper.test/log",
    }
    result = CliRunner().invoke(cli, ["init"], env=env)
    assert result.exit_code == 0, result.output
    signer = load_log_signer(tmp_path / "var" / "keys" / "log-signing.key", "tamper.test/log")
    engine = open_engine(database_url)
    store = LedgerStore(engine, signer)
    for start in range(0, SIZE, 100):
        store.append(
            [EntryDraft("test.record", {"n": start + i, "who": f"H{i:03d}"}) for i in range(100)],
            now=now,
        )
    engine.dispose()
    yield env


def run_verify(env: dict[str, str]) -> tuple[int, str]:
    result = CliRunner().invoke(cli, ["ledger", "verify", "--no-progress"], env=env)
    return result.exit_code, result.output


def tamper(env: dict[str, str], change: Callable[[Connection], None]) -> None:
    engine = open_engine(env["CARELEDGER_DATABASE_URL"])
    with engine.begin() as connection:
        take_down_ledger_guards(connection)
        change(connection)
    engine.dispose()


def flip_byte(connection: Connection, table: str, column: str, where: str, offset: int) -> None:
    value = connection.execute(text(f"SELECT {column} FROM {table} WHERE {where}")).scalar_one()
    raw = value.encode() if isinstance(value, str) else bytes(value)
    changed = raw[:offset] + bytes([raw[offset] ^ 0x01]) + raw[offset + 1 :]
    new_value = changed.decode() if isinstance(value, str) else changed
    connection.execute(text(f"UPDATE {table} SET {column} = :v WHERE {where}"), {"v": new_value})


def test_an_honest_log_verifies(ledger_env: dict[str, str]) -> None:
    code, output = run_verify(ledger_env)
    assert code == 0, output
    assert f"{SIZE} entries, 10 checkpoints" in output


def test_one_byte_of_an_entry(ledger_env: dict[str, str]) -> None:
    tamper(ledger_env, lambda c: flip_byte(c, "ledger_entries", "leaf", "idx = 700", 150))
    code, output = run_verify(ledger_env)
    assert code == 1
    assert "first disagreement at index 700" in output


def test_one_byte_of_an_entry_index(ledger_env: dict[str, str]) -> None:
    tamper(ledger_env, lambda c: flip_byte(c, "ledger_entries", "leaf", "idx = 433", 10))
    code, output = run_verify(ledger_env)
    assert code == 1 and "first disagreement at index 433" in output


def test_one_byte_of_a_stored_subtree_hash(ledger_env: dict[str, str]) -> None:
    # Tile 0/1 holds leaf hashes 256..511; byte 5*32+3 belongs to leaf 261.
    tamper(
        ledger_env,
        lambda c: flip_byte(c, "ledger_tiles", "hashes", "level = 0 AND idx = 1", 5 * 32 + 3),
    )
    code, output = run_verify(ledger_env)
    assert code == 1
    assert "first disagreement at index 261" in output and "stored leaf hash" in output


def test_one_byte_of_an_inner_subtree_hash(ledger_env: dict[str, str]) -> None:
    # Row 1 of tile 0/0 starts after 256 base hashes: its 3rd node covers leaves 4..5.
    tamper(
        ledger_env,
        lambda c: flip_byte(c, "ledger_tiles", "hashes", "level = 0 AND idx = 0", (256 + 2) * 32),
    )
    code, output = run_verify(ledger_env)
    assert code == 1 and "level 1, index 2" in output and "index 4" in output


def test_one_byte_of_a_stored_checkpoint(ledger_env: dict[str, str]) -> None:
    tamper(ledger_env, lambda c: flip_byte(c, "ledger_checkpoints", "note", "size = 500", 30))
    code, output = run_verify(ledger_env)
    assert code == 1 and "first disagreement at checkpoint 500" in output


def test_the_root_column_of_a_stored_checkpoint(ledger_env: dict[str, str]) -> None:
    tamper(ledger_env, lambda c: flip_byte(c, "ledger_checkpoints", "root", "size = 300", 0))
    code, output = run_verify(ledger_env)
    assert code == 1 and "first disagreement at checkpoint 300" in output


def test_deleting_the_last_entries(ledger_env: dict[str, str]) -> None:
    tamper(ledger_env, lambda c: c.execute(text("DELETE FROM ledger_entries WHERE idx >= 995")))
    code, output = run_verify(ledger_env)
    assert code == 1 and "first disagreement at index 995" in output and "missing" in output


def test_reordering_two_entries(ledger_env: dict[str, str]) -> None:
    def swap(connection: Connection) -> None:
        leaves = dict(
            connection.execute(
                text("SELECT idx, leaf FROM ledger_entries WHERE idx IN (100, 200)")
            ).all()
        )
        for a, b in ((200, 100), (100, 200)):
            connection.execute(
                text("UPDATE ledger_entries SET leaf = :l WHERE idx = :i"), {"l": leaves[b], "i": a}
            )

    tamper(ledger_env, swap)
    code, output = run_verify(ledger_env)
    assert code == 1 and "first disagreement at index 100" in output and "chain broken" in output


def test_one_byte_of_a_leaf_hash_lookup_row(ledger_env: dict[str, str]) -> None:
    engine = open_engine(ledger_env["CARELEDGER_DATABASE_URL"])
    store = LedgerStore(engine)
    wanted = store.entry(500).leaf_hash
    assert store.index_new_leaves() == SIZE  # the follower fills the lookup table from tiles
    assert store.index_of_leaf(wanted) == 500
    engine.dispose()
    assert run_verify(ledger_env)[0] == 0
    tamper(
        ledger_env,
        lambda c: flip_byte(c, "ledger_leaf_index", "leaf_hash", "idx = 700", 0),
    )
    code, output = run_verify(ledger_env)
    assert code == 1 and "leaf-hash lookup row 700" in output
