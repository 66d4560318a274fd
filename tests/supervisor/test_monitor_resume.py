"""The auditor's monitor resumes: each run recomputes only the entries added since the last
one, from the compact range it saved, and agrees with a recomputation from entry 0."""

from __future__ import annotations

import dataclasses
from datetime import datetime
from pathlib import Path

import pytest
from sqlalchemy import Engine, text

from ledger.note import Signer
from ledger.store import EntryDraft, LedgerStore
from ledger.tiles import TILE_WIDTH
from supervisor.transparency.monitor import MonitorAlarmError, MonitorState, audit
from supervisor.transparency.store_source import StoreLogSource
from tests.tampering import take_down_ledger_guards

from ..ledger import reference

pytestmark = pytest.mark.database


class _CountingSource(StoreLogSource):
    """The log's public data straight from a store, counting the level-0 tiles served."""

    def __init__(self, store: LedgerStore) -> None:
        super().__init__(store)
        self.tiles: list[int] = []

    def tile(self, level: int, index: int, width: int) -> bytes:
        if level == 0:
            self.tiles.append(index)
        return super().tile(level, index, width)


def _grow(store: LedgerStore, now: datetime, count: int) -> None:
    start = store.head().size
    store.append(
        [EntryDraft("test.record", {"n": start + i}, payload=b"p") for i in range(count)], now=now
    )


def _run(
    source: _CountingSource, signer: Signer, state_path: Path, *, full: bool = False
) -> tuple[int, int, list[int]]:
    """One ``audit log`` run as the CLI makes it: (size, entries recomputed, tiles fetched)."""
    source.tiles.clear()
    report = audit(source, signer.verifier, MonitorState.load(state_path), full=full, resume=True)
    checkpoint = report.checkpoint
    MonitorState(checkpoint.size, checkpoint.root, report.note, report.entries).save(state_path)
    return checkpoint.size, report.entries_recomputed, sorted(set(source.tiles))


def test_each_run_recomputes_only_what_the_log_grew_by(
    store: LedgerStore, signer: Signer, now: datetime, tmp_path: Path
) -> None:
    source = _CountingSource(store)
    state = tmp_path / "monitor.json"
    _grow(store, now, 700)
    assert _run(source, signer, state) == (700, 700, [0, 1, 2])  # the first run: everything
    _grow(store, now, 1000)
    # The partial tile 2 again (its new entries), then tiles 3 to 6: not tiles 0 and 1.
    assert _run(source, signer, state) == (1700, 1000, [2, 3, 4, 5, 6])
    assert _run(source, signer, state) == (1700, 0, [6])  # nothing new
    _grow(store, now, 3 * TILE_WIDTH - 1700 % TILE_WIDTH)  # ends on a tile boundary
    size, recomputed, tiles = _run(source, signer, state)
    assert (size, recomputed, tiles) == (2304, 604, [6, 7, 8])
    resumed = MonitorState.load(state)
    assert resumed is not None and resumed.entries is not None
    # The saved compact range is what recomputing from entry 0 gives, and folds to the root.
    everything = audit(source, signer.verifier, None, full=True)
    assert everything.entries == resumed.entries and everything.entries_recomputed == 2304
    hashes = [store.entry(i).leaf_hash for i in range(2304)]
    assert resumed.root == reference.mth(hashes)
    assert [h for _, h in resumed.entries.stack] == [
        reference.mth(hashes[:2048]),
        reference.mth(hashes[2048:2304]),
    ]
    assert resumed.entries.last_leaf == hashes[-1]


@pytest.fixture
def tampered_store(engine: Engine, signer: Signer) -> LedgerStore:
    """A store these tests alter behind its back (the shared fixture verifies the log after
    each test)."""
    return LedgerStore(engine, signer)


def _edit_leaf(engine: Engine, index: int) -> None:
    with engine.begin() as connection:
        leaf = connection.execute(
            text("SELECT leaf FROM ledger_entries WHERE idx = :i"), {"i": index}
        ).scalar_one()
        take_down_ledger_guards(connection)
        connection.execute(
            text("UPDATE ledger_entries SET leaf = :leaf WHERE idx = :i"),
            {"leaf": bytes(leaf).replace(b'"n":', b'"n": ', 1), "i": index},
        )


def test_an_edited_new_entry_raises_the_alarm(
    tampered_store: LedgerStore, signer: Signer, engine: Engine, now: datetime, tmp_path: Path
) -> None:
    store = tampered_store
    source = _CountingSource(store)
    state = tmp_path / "monitor.json"
    _grow(store, now, 600)
    _run(source, signer, state)
    _grow(store, now, 300)
    _edit_leaf(engine, 800)  # among the entries this run recomputes
    with pytest.raises(MonitorAlarmError) as alarm:
        _run(source, signer, state)
    assert alarm.value.kind == "tile"
    saved = MonitorState.load(state)
    assert saved is not None and saved.size == 600  # an alarm leaves the state as it was


def test_an_old_entry_edited_after_it_was_checked_is_found_by_full(
    tampered_store: LedgerStore, signer: Signer, engine: Engine, now: datetime, tmp_path: Path
) -> None:
    """A resumed run does not fetch what it checked before (that is its point); ``--full``
    recomputes from entry 0 and finds what was changed since."""
    store = tampered_store
    source = _CountingSource(store)
    state = tmp_path / "monitor.json"
    _grow(store, now, 600)
    _run(source, signer, state)
    _edit_leaf(engine, 10)
    _grow(store, now, 10)
    assert _run(source, signer, state)[:2] == (610, 10)
    with pytest.raises(MonitorAlarmError) as alarm:
        _run(source, signer, state, full=True)
    assert alarm.value.kind == "tile"


def test_a_saved_state_that_does_not_hold_together_is_refused(
    store: LedgerStore, signer: Signer, now: datetime, tmp_path: Path
) -> None:
    source = _CountingSource(store)
    state = tmp_path / "monitor.json"
    _grow(store, now, 300)
    _run(source, signer, state)
    saved = MonitorState.load(state)
    assert saved is not None and saved.entries is not None
    wrong = bytes(32)
    broken = dataclasses.replace(
        saved.entries, stack=((saved.entries.stack[0][0], wrong), *saved.entries.stack[1:])
    )
    dataclasses.replace(saved, entries=broken).save(state)
    _grow(store, now, 5)
    with pytest.raises(MonitorAlarmError) as alarm:
        _run(source, signer, state)
    assert alarm.value.kind == "state" and "--full" in str(alarm.value)
    assert _run(source, signer, state, full=True)[:2] == (305, 305)  # --full starts again


def test_a_state_from_before_resuming_existed_starts_from_entry_zero(
    store: LedgerStore, signer: Signer, now: datetime, tmp_path: Path
) -> None:
    source = _CountingSource(store)
    state = tmp_path / "monitor.json"
    _grow(store, now, 300)
    seen = audit(source, signer.verifier, None)
    old = MonitorState(seen.checkpoint.size, seen.checkpoint.root, seen.note)
    old.save(state)
    assert "entries" not in state.read_text()
    _grow(store, now, 20)
    assert _run(source, signer, state)[:2] == (320, 320)
