"""The database refuses to rewrite the ledger, whoever asks: rows are insert-only, tiles only
grow, the head only moves forward. Appending still works."""

from __future__ import annotations

from datetime import datetime

import pytest
from sqlalchemy import Engine, text
from sqlalchemy.exc import DatabaseError

from ledger.store import EntryDraft, LedgerStore

pytestmark = pytest.mark.database


def _drafts(first: int, count: int) -> list[EntryDraft]:
    return [EntryDraft("test.entry", {"n": first + i}, None) for i in range(count)]


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE ledger_entries SET leaf = leaf || 'x' WHERE idx = 5",
        "UPDATE ledger_entries SET payload = NULL WHERE idx = 5",
        "DELETE FROM ledger_entries WHERE idx >= 250",
        "UPDATE ledger_checkpoints SET note = 'forged' WHERE size = 300",
        "DELETE FROM ledger_checkpoints",
        "DELETE FROM ledger_tiles WHERE level = 0 AND idx = 0",
        "UPDATE ledger_tiles SET hashes = substr(hashes, 1, 32), width = 1 "
        "WHERE level = 0 AND idx = 1",
        "UPDATE ledger_head SET size = 10",
        "DELETE FROM ledger_head",
    ],
)
def test_rewriting_the_ledger_is_refused_by_the_database(
    store: LedgerStore, engine: Engine, now: datetime, statement: str
) -> None:
    store.append(_drafts(0, 300), now=now)
    store.sign_checkpoint(now=now)
    if engine.dialect.name == "postgresql":
        statement = statement.replace("substr(hashes, 1, 32)", "substring(hashes from 1 for 32)")
        statement = statement.replace("leaf || 'x'", "leaf || '\\x78'::bytea")
    with pytest.raises(DatabaseError, match="append-only"), engine.begin() as connection:
        connection.execute(text(statement))
    assert store.head().size == 300


def test_appending_still_grows_tiles_and_moves_the_head(store: LedgerStore, now: datetime) -> None:
    for first in range(0, 600, 100):  # partial tiles grow across appends
        store.append(_drafts(first, 100), now=now)
    store.sign_checkpoint(now=now)
    assert store.head().size == 600
