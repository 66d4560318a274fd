"""The SQL ledger store on SQLite and PostgreSQL: appends, proofs, checkpoints, reads."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime

import pytest
from sqlalchemy import Engine, func, select, text

from ledger import leaf_index, schema
from ledger.checkpoint import open_checkpoint
from ledger.database import write_transaction
from ledger.errors import ConsistencyError, OutOfRangeError
from ledger.leaf import decode_leaf
from ledger.leaf_index import LeafIndexBehindError
from ledger.note import Signer
from ledger.proof import verify_consistency, verify_inclusion
from ledger.store import EntryDraft, LedgerStore
from ledger.tiles import parse_entry_bundle
from tests.tampering import take_down_ledger_guards

from . import reference

pytestmark = pytest.mark.database


def drafts(start: int, count: int) -> list[EntryDraft]:
    return [
        EntryDraft("test.record", {"n": start + i, "institution": "H001"}, payload=b"p%d" % i)
        for i in range(count)
    ]


def test_appends_assign_consecutive_indices_and_sign_each_state(
    store: LedgerStore, signer: Signer, now: datetime
) -> None:
    sizes = [1, 255, 1, 513, 7, 2000]
    leaf_hashes: list[bytes] = []
    for count in sizes:
        result = store.append(drafts(len(leaf_hashes), count), now=now)
        assert result.first_index == len(leaf_hashes)
        leaf_hashes += result.leaf_hashes
        assert result.size == len(leaf_hashes)
        assert result.root == reference.mth(leaf_hashes)
        assert result.checkpoint is not None
        checkpoint, _ = open_checkpoint(result.checkpoint.note, signer.verifier)
        assert (checkpoint.size, checkpoint.root) == (result.size, result.root)
    assert store.checkpoint_count() == len(sizes)
    entry = store.entry(300)
    assert entry.leaf_hash == leaf_hashes[300] == reference.leaf(entry.leaf)
    header = decode_leaf(entry.leaf)
    assert header.index == 300 and header.prev == leaf_hashes[299]
    assert header.statement == {"n": 300, "institution": "H001"}
    assert header.received_at == "2026-11-23T08:00:00.000000Z"


def test_proofs_at_every_historical_size_verify(store: LedgerStore, now: datetime) -> None:
    leaf_hashes = list(store.append(drafts(0, 700), now=now).leaf_hashes)
    for size in (1, 2, 3, 255, 256, 257, 511, 512, 513, 700):
        root = reference.mth(leaf_hashes[:size])
        assert store.root_at(size) == root
        for index in {0, size // 2, size - 1}:
            proof = store.inclusion_proof(index, size)
            assert list(proof.hashes) == reference.path(index, leaf_hashes[:size])
            verify_inclusion(index, size, leaf_hashes[index], proof.hashes, root)
        for size1 in {1, size // 3 or 1, size}:
            proof_hashes = store.consistency_proof(size1, size)
            assert proof_hashes == reference.proof(size1, leaf_hashes[:size])
            verify_consistency(size1, size, proof_hashes, reference.mth(leaf_hashes[:size1]), root)


def test_out_of_range_requests_are_refused(store: LedgerStore, now: datetime) -> None:
    store.append(drafts(0, 10), now=now)
    for index, size in ((10, None), (-1, None), (0, 11), (5, 5)):
        with pytest.raises(OutOfRangeError):
            store.inclusion_proof(index, size)
    for size1, size2 in ((0, 10), (5, 11), (6, 5)):
        with pytest.raises(OutOfRangeError):
            store.consistency_proof(size1, size2)
    with pytest.raises(OutOfRangeError):
        store.entry(10)


def test_tiles_and_entry_bundles_are_c2sp_bytes(store: LedgerStore, now: datetime) -> None:
    leaf_hashes = list(store.append(drafts(0, 600), now=now).leaf_hashes)
    assert store.tile(0, 0) == b"".join(leaf_hashes[:256])
    assert store.tile(0, 2, 88) == b"".join(leaf_hashes[512:600])
    assert store.tile(0, 2, 10) == b"".join(leaf_hashes[512:522])
    level1 = [reference.mth(leaf_hashes[:256]), reference.mth(leaf_hashes[256:512])]
    assert store.tile(1, 0, 2) == b"".join(level1)
    with pytest.raises(OutOfRangeError):
        store.tile(0, 2)  # not full yet
    bundle = store.entry_bundle(1)
    leaves = [store.entry(i).leaf for i in range(256, 512)]
    # C2SP: each entry as a big-endian uint16 length followed by its bytes.
    assert bundle == b"".join(len(leaf).to_bytes(2, "big") + leaf for leaf in leaves)
    assert [reference.leaf(x) for x in parse_entry_bundle(bundle)] == leaf_hashes[256:512]
    assert store.entry_bundle(2, 88) == b"".join(
        len(x).to_bytes(2, "big") + x for x in (store.entry(i).leaf for i in range(512, 600))
    )
    with pytest.raises(OutOfRangeError):
        store.entry_bundle(2, 89)


def test_a_failed_append_stores_nothing(store: LedgerStore, engine, now: datetime) -> None:  # type: ignore[no-untyped-def]
    store.append(drafts(0, 3), now=now)
    with pytest.raises(ValueError):
        store.append([*drafts(3, 2), EntryDraft("test.record", {"x": 1.5})], now=now)
    with pytest.raises(ValueError):
        store.append([*drafts(3, 2), EntryDraft("test.record", {"x": "y" * 70_000})], now=now)
    with pytest.raises(ValueError):
        store.append([EntryDraft("Bad Type", {})], now=now)
    with engine.connect() as connection:
        assert (
            connection.execute(select(func.count()).select_from(schema.entries)).scalar_one() == 3
        )
    assert store.head().size == 3


def test_a_checkpoint_is_never_signed_for_a_log_that_is_not_consistent_with_the_last(
    store: LedgerStore,
    engine: Engine,
    signer: Signer,
    now: datetime,
) -> None:
    store.append(drafts(0, 300), now=now)
    # Corrupt the stored hash of leaves [0, 256) (tile 1/0), which the next root depends on.
    with engine.begin() as connection:
        blob = connection.execute(
            text("SELECT hashes FROM ledger_tiles WHERE level = 1 AND idx = 0")
        ).scalar_one()
        corrupted = bytes([blob[0] ^ 1]) + blob[1:]
        take_down_ledger_guards(connection)
        connection.execute(
            text("UPDATE ledger_tiles SET hashes = :h WHERE level = 1 AND idx = 0"),
            {"h": corrupted},
        )
    # A process that reads the right edge from storage (a restarted server) refuses to sign.
    restarted = LedgerStore(engine, signer)
    with pytest.raises(ConsistencyError):
        restarted.append(drafts(300, 5), now=now)
    assert restarted.head().size == 300
    with engine.begin() as connection:  # repair so the teardown verification can pass
        take_down_ledger_guards(connection)
        connection.execute(
            text("UPDATE ledger_tiles SET hashes = :h WHERE level = 1 AND idx = 0"), {"h": blob}
        )


def test_appenders_taking_turns_never_reuse_a_stale_right_edge(
    store: LedgerStore, engine: Engine, signer: Signer, now: datetime
) -> None:
    """Each store keeps the edge it committed; another store's append must invalidate it."""
    other = LedgerStore(engine, signer)
    leaf_hashes: list[bytes] = []
    for turn, count in enumerate([300, 1, 256, 5, 700, 255, 1, 2]):
        appender = store if turn % 2 == 0 else other
        leaf_hashes += appender.append(drafts(len(leaf_hashes), count), now=now).leaf_hashes
        assert appender.head().root == reference.mth(leaf_hashes)
    assert store.checkpoint_count() == 8


def test_sign_checkpoint_only_moves_forward(
    store: LedgerStore, engine, signer: Signer, now: datetime
) -> None:  # type: ignore[no-untyped-def]
    unsigned = LedgerStore(engine)
    unsigned.append(drafts(0, 5), now=now)
    assert store.latest_checkpoint() is None
    first = store.sign_checkpoint(now=now)
    assert first.checkpoint.size == 5
    assert store.sign_checkpoint(now=now) == first  # nothing new: same checkpoint
    unsigned.append(drafts(5, 5), now=now)
    assert store.sign_checkpoint(now=now).checkpoint.size == 10
    assert store.checkpoint_count() == 2


@contextmanager
def _head_lock_held(engine: Engine) -> Iterator[None]:
    """Another connection in the middle of an append: it holds the head lock."""
    with write_transaction(engine) as holder:
        # SQLite: the write transaction's first statement takes the database's write lock.
        suffix = "" if engine.dialect.name == "sqlite" else " FOR UPDATE"
        holder.execute(text("SELECT size FROM ledger_head WHERE id = 1" + suffix))
        yield


def test_a_leaf_hash_lookup_never_waits_for_the_head_lock(
    store: LedgerStore, engine: Engine, now: datetime
) -> None:
    store.append(drafts(0, 600), now=now)
    store.index_new_leaves()
    store.append(drafts(600, 50), now=now)  # appended since the follower last indexed
    known_old, known_new = store.entry(123).leaf_hash, store.entry(620).leaf_hash
    with _head_lock_held(engine):
        for wanted, expected in ((bytes(32), None), (known_old, 123), (known_new, 620)):
            started = time.perf_counter()
            if expected is None:
                with pytest.raises(OutOfRangeError):
                    store.index_of_leaf(wanted)
            else:
                assert store.index_of_leaf(wanted) == expected
            assert time.perf_counter() - started < 0.1
    with engine.connect() as connection:  # the lookups wrote nothing
        indexed = connection.execute(select(func.count()).select_from(schema.leaf_index))
        assert indexed.scalar_one() == 600


def test_the_follower_brings_the_leaf_index_to_the_head_in_steps(
    store: LedgerStore, now: datetime
) -> None:
    store.append(drafts(0, 700), now=now)
    assert store.index_new_leaves(limit=500) == 500
    assert store.index_new_leaves(limit=500) == 200
    assert store.index_new_leaves() == 0
    for index in (0, 499, 500, 699):
        assert store.index_of_leaf(store.entry(index).leaf_hash) == index


def test_a_lookup_past_the_scan_limit_says_the_index_is_behind(
    store: LedgerStore, now: datetime, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(leaf_index, "SCAN_LIMIT", 100)
    store.append(drafts(0, 300), now=now)
    with pytest.raises(LeafIndexBehindError, match="300 entries behind"):
        store.index_of_leaf(bytes(32))
    store.index_new_leaves()
    with pytest.raises(OutOfRangeError):
        store.index_of_leaf(bytes(32))
