"""The append-only ledger on SQL: entries, hash tiles, head and checkpoints.

Storage contract (checked in full by ``ledger.integrity.verify_stored_log``):

* Entries are append-only. Indices are ``0 .. size-1`` with no gap; a row is
  never rewritten. Leaf ``i`` starts with ``{"index":i,"prev":"<hash of leaf
  i-1>",`` (the hash chain).
* A tile row only grows: its C2SP bytes are a prefix of every later version,
  until it is 256 wide and never changes again.
* The head ``(size, root, last_leaf_hash)`` moves in the same transaction as
  the entries and tiles it covers, under the head lock, so appenders from
  any number of processes serialise with no gap and no duplicate index.
* Checkpoints only move forward (size strictly grows) and a checkpoint is
  signed only after a consistency proof from the previous one verified.
  Commit first, publish second: a receipt is built from committed data.
* The first signature on the latest checkpoint is the log key in force. A
  key rotation (``log_keys.py``) is one entry whose checkpoint is signed by
  the new key, then the old; a process still holding the old key finds that
  when it next signs, and takes the new key (``find_signer``) or refuses.

The parts live beside it: tiles in ``stored_tiles.py``, proofs and their
cache in ``proof_reader.py``, checkpoints and signing in
``checkpoint_store.py``, the leaf-hash lookup in ``leaf_index.py``.
"""

from __future__ import annotations

import threading
from binascii import hexlify
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from hashlib import sha256

from sqlalchemy import Connection, Engine, bindparam, select, update

from . import checkpoint_store, leaf_index, schema
from .canonical import JSONValue, canonical_json
from .checkpoint import SignedCheckpoint
from .checkpoint_store import KnownCheckpoint, sign_consistent
from .database import insert_rows, read_transaction, write_transaction
from .errors import LedgerError, OutOfRangeError
from .hashing import HASH_SIZE, leaf_hash
from .leaf import LEAF_FORMAT, check_entry_type
from .log_keys import ROTATION_ENTRY, KeyChain, KeyRotation, rotation_from_leaf
from .note import Signer, Verifier, signature_key_ids
from .proof_reader import InclusionProof, ProofReader, stored_size
from .stored_tiles import TileCache, TileWriter
from .tiles import MAX_ENTRY_SIZE, TILE_WIDTH, TileRows, encode_entry_bundle
from .tree import NodeReader, tree_root

__all__ = [
    "AppendResult",
    "EntryDraft",
    "InclusionProof",
    "LedgerStore",
    "LogHead",
    "StoredEntry",
    "format_received_at",
]


@dataclass(frozen=True)
class EntryDraft:
    """An entry to append: its type, the public statement in its leaf, an opaque payload."""

    type: str
    statement: Mapping[str, JSONValue]
    payload: bytes | None = None


@dataclass(frozen=True)
class LogHead:
    size: int
    root: bytes
    last_leaf_hash: bytes


@dataclass(frozen=True)
class AppendResult:
    """What an append committed: indices ``first_index ..``, their leaf hashes, the new head."""

    first_index: int
    leaf_hashes: tuple[bytes, ...]
    size: int
    root: bytes
    checkpoint: SignedCheckpoint | None


@dataclass(frozen=True)
class StoredEntry:
    index: int
    type: str
    leaf: bytes
    leaf_hash: bytes
    payload: bytes | None


def format_received_at(now: datetime) -> str:
    """RFC 3339 UTC with microseconds; requires an aware datetime."""
    if now.tzinfo is None:
        raise ValueError("the clock must give aware datetimes")
    return now.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


# Statements are built once: constructing them per append cost about 0.5 ms.
_SELECT_HEAD = select(schema.head.c.size, schema.head.c.root, schema.head.c.last_leaf_hash).where(
    schema.head.c.id == 1
)
_LOCK_HEAD = _SELECT_HEAD.with_for_update()
#: Compare-and-swap on the size: the head only moves from the size that was locked.
_MOVE_HEAD = (
    update(schema.head)
    .where(schema.head.c.id == 1, schema.head.c.size == bindparam("old_size"))
    .values(
        size=bindparam("new_size"),
        root=bindparam("new_root"),
        last_leaf_hash=bindparam("new_last"),
    )
)


@dataclass
class _RightEdge:
    """What this process last committed: the head and its open tiles.

    ``latest`` is set only when this process signed the checkpoint of that
    head, the one case where no other process can have signed a later one.
    """

    head: LogHead
    open_tiles: dict[int, tuple[int, TileRows]]
    latest: KnownCheckpoint | None


@dataclass(frozen=True)
class _EncodedBatch:
    """Leaves of a batch encoded for a log of ``start_index`` entries ending in ``start_prev``."""

    start_index: int
    start_prev: bytes
    rows: list[tuple[object, ...]]
    hashes: list[bytes]
    end_index: int
    end_prev: bytes


def _encode_batch(
    drafts: Sequence[EntryDraft], index: int, prev: bytes, received_at: bytes
) -> _EncodedBatch:
    """Leaf rows and hashes for ``drafts`` appended after leaf ``index - 1`` hashing to ``prev``.

    Pure, so it can run before the head lock is taken when the head is predictable.
    """
    start_index, start_prev = index, prev
    rows: list[tuple[object, ...]] = []
    hashes: list[bytes] = []
    # The hot loop: LEAF_FORMAT is encode_leaf's format, inlined for speed.
    # Canonical bytes are used at once and dropped: keeping a list of
    # orjson's results cost more than producing them.
    for draft in drafts:
        statement = draft.statement
        leaf = LEAF_FORMAT % (
            index,
            hexlify(prev),
            received_at,
            canonical_json(statement if type(statement) is dict else dict(statement)),
            draft.type.encode(),
        )
        if len(leaf) > MAX_ENTRY_SIZE:
            raise ValueError(f"entry {index} is {len(leaf)} bytes, more than 65535")
        prev = sha256(b"\x00" + leaf).digest()
        rows.append((index, draft.type, leaf, draft.payload))
        hashes.append(prev)
        index += 1
    return _EncodedBatch(start_index, start_prev, rows, hashes, index, prev)


class LedgerStore:
    """The ledger on one SQL database (see the module docstring for the contract).

    With a ``signer`` (whose name is the log origin), every append also signs
    a checkpoint of the new size in the same transaction, so the caller can
    hand out a final receipt.
    """

    def __init__(
        self,
        engine: Engine,
        signer: Signer | None = None,
        *,
        find_signer: Callable[[bytes], Signer | None] | None = None,
    ) -> None:
        """``find_signer(key_id)`` gives the log key with that id, if this process can load
        it: how a process follows a key rotation made by another one."""
        self.engine = engine
        self.signer = signer
        self._find_signer = find_signer
        self._right_edge: _RightEdge | None = None
        self._right_edge_lock = threading.Lock()
        self._proofs = ProofReader(engine)

    # -- writing -----------------------------------------------------------

    def append(
        self,
        drafts: Sequence[EntryDraft],
        *,
        now: datetime,
        within: Callable[[Connection, AppendResult], None] | None = None,
    ) -> AppendResult:
        """Append entries atomically and return their indices and the new head.

        Requires at least one draft. A draft that cannot be canonicalised
        raises inside the transaction, so nothing of the batch is stored.
        ``within``, if given, runs in the same transaction after the append
        (the caller's own rows, such as search projections); if it raises,
        nothing of the batch is stored.
        """
        if any(draft.type == ROTATION_ENTRY for draft in drafts):
            raise ValueError("a log key rotation is appended by rotate_signer only")
        return self._append(drafts, now, within)

    def _append(
        self,
        drafts: Sequence[EntryDraft],
        now: datetime,
        within: Callable[[Connection, AppendResult], None] | None,
        rotating_to: Signer | None = None,
    ) -> AppendResult:
        if not drafts:
            raise ValueError("nothing to append")
        for entry_type in {draft.type for draft in drafts}:
            check_entry_type(entry_type)
        received_at = format_received_at(now).encode()

        with write_transaction(self.engine) as connection:
            head = self._lock_head(connection)
            if rotating_to is not None:
                self._require_key_in_force(connection)
            encoded = _encode_batch(drafts, head.size, head.last_leaf_hash, received_at)
            result, edge = self._commit_encoded(connection, head, encoded, now, rotating_to)
            if within is not None:
                within(connection, result)
        # Committed: the new right edge may serve this process's next append.
        self._keep_right_edge(edge)
        return result

    def _commit_encoded(
        self,
        connection: Connection,
        head: LogHead,
        encoded: _EncodedBatch,
        now: datetime,
        rotating_to: Signer | None = None,
    ) -> tuple[AppendResult, _RightEdge]:
        """Store an encoded batch on top of the locked ``head``: entries, tiles, head, checkpoint.

        Returns the result and the right edge to keep once the transaction commits.
        ``rotating_to``: the batch is a key rotation; its checkpoint is signed by both keys.
        """
        index, prev = encoded.end_index, encoded.end_prev
        insert_rows(connection, schema.entries, encoded.rows)
        # Reuse the right edge this process committed last, if nobody appended since.
        edge = self._take_right_edge()
        if edge is not None and edge.head != head:
            edge = None
        cache = TileCache(connection)
        writer = TileWriter(cache, head.size, None if edge is None else edge.open_tiles)
        writer.add_leaf_hashes(encoded.hashes)
        root = tree_root(index, writer.read_node)
        writer.flush(connection)
        moved = connection.execute(
            _MOVE_HEAD,
            {"old_size": head.size, "new_size": index, "new_root": root, "new_last": prev},
        )
        if moved.rowcount != 1:
            raise LedgerError("the head moved under the head lock")
        signed = latest = None
        if self.signer is not None:
            previous = edge.latest if edge is not None else None
            signed = self._sign(
                connection,
                index,
                root,
                writer.read_node,
                now=now,
                known=previous,
                rotating_to=rotating_to,
            )
            latest = KnownCheckpoint(signed.checkpoint)
        result = AppendResult(head.size, tuple(encoded.hashes), index, root, signed)
        return result, _RightEdge(LogHead(index, root, prev), writer.open_tiles, latest)

    def _take_right_edge(self) -> _RightEdge | None:
        with self._right_edge_lock:
            edge, self._right_edge = self._right_edge, None
        return edge

    def _keep_right_edge(self, edge: _RightEdge | None) -> None:
        with self._right_edge_lock:
            self._right_edge = edge

    def sign_checkpoint(self, *, now: datetime) -> SignedCheckpoint:
        """Sign the current head if no checkpoint covers it yet; return the latest checkpoint."""
        if self.signer is None:
            raise RuntimeError("this store has no signing key")
        self._take_right_edge()  # a checkpoint signed here would make its `latest` stale
        with write_transaction(self.engine) as connection:
            head = self._lock_head(connection)
            latest = self._latest_checkpoint(connection)
            if latest is not None and latest.checkpoint.size == head.size:
                return latest
            return self._sign(
                connection, head.size, head.root, TileCache(connection).read_node, now=now
            )

    def _lock_head(self, connection: Connection) -> LogHead:
        # SQLite holds the write lock already (BEGIN IMMEDIATE); elsewhere lock the row.
        query = _SELECT_HEAD if connection.dialect.name == "sqlite" else _LOCK_HEAD
        row = connection.execute(query).first()
        if row is None:
            raise LedgerError("the ledger has no head row: run `careledger init`")
        return LogHead(row.size, row.root, row.last_leaf_hash)

    def _sign(
        self,
        connection: Connection,
        size: int,
        root: bytes,
        read_node: NodeReader,
        *,
        now: datetime,
        known: KnownCheckpoint | None = None,
        rotating_to: Signer | None = None,
    ) -> SignedCheckpoint:
        """Sign ``(size, root)`` after checking consistency with the previous checkpoint.

        ``known`` spares the query for the previous checkpoint when the caller knows it
        (this process signed it, so its key is still the one in force).
        """
        assert self.signer is not None
        if known is None:
            stored = checkpoint_store.latest_checkpoint(connection)
            if stored is not None:
                self._follow_rotation(stored.note)
            known = KnownCheckpoint(None if stored is None else stored.checkpoint)
        return sign_consistent(
            connection,
            self.signer,
            size,
            root,
            read_node,
            now=now,
            previous=known.checkpoint,
            rotating_to=rotating_to,
        )

    def _follow_rotation(self, latest_note: str) -> None:
        """Take the key in force (the latest checkpoint's first signer) if it is not ours."""
        assert self.signer is not None
        in_force = signature_key_ids(latest_note)[0]
        if in_force == self.signer.key_id:
            return
        found = None if self._find_signer is None else self._find_signer(in_force)
        if found is None or found.key_id != in_force or found.name != self.signer.name:
            raise LedgerError(
                f"the log key was rotated to key {in_force.hex()}, which this process cannot "
                f"load (it holds {self.signer.key_id.hex()}): install the new log key"
            )
        self.signer = found

    def key_id_in_force(self) -> bytes | None:
        """The id of the log key signing now (None before the first checkpoint)."""
        with read_transaction(self.engine) as connection:
            return self._key_id_in_force(connection)

    def _key_id_in_force(self, connection: Connection) -> bytes | None:
        latest = self._latest_checkpoint(connection)
        return None if latest is None else signature_key_ids(latest.note)[0]

    def _require_key_in_force(self, connection: Connection) -> None:
        assert self.signer is not None
        in_force = self._key_id_in_force(connection)
        if in_force is not None and in_force != self.signer.key_id:
            raise LedgerError(
                "the key this process holds is not the log key in force: the log was rotated "
                "already"
            )

    def rotate_signer(self, new: Signer, *, now: datetime) -> AppendResult:
        """Hand the log over to ``new``: a ``log.key_rotation`` entry signed by both keys.

        The entry is appended alone and its checkpoint is signed by ``new`` and then
        the current key; from then on this store signs with ``new``. Requires the
        current key to be the one in force (``LedgerError`` otherwise).
        """
        if self.signer is None:
            raise RuntimeError("this store has no signing key")
        rotation = KeyRotation.sign(self.signer, new)
        self._take_right_edge()  # the previous checkpoint is read, and checked, from storage
        result = self._append(
            [EntryDraft(ROTATION_ENTRY, rotation.statement(), None)], now, None, rotating_to=new
        )
        self.signer = new
        return result

    def key_chain(self, genesis: Verifier) -> KeyChain:
        """The log's keys from ``genesis`` (the key ``init`` printed), following each rotation.

        Raises ``KeyRotationError`` if a stored rotation does not follow from the chain.
        """
        e = schema.entries.c
        with read_transaction(self.engine) as connection:
            rows = connection.execute(
                select(e.idx, e.leaf).where(e.type == ROTATION_ENTRY).order_by(e.idx)
            ).all()
        chain = KeyChain.starting_with(genesis)
        for index, leaf in rows:
            chain = chain.after(rotation_from_leaf(bytes(leaf)), index)
        return chain

    # -- reading -----------------------------------------------------------

    def head(self) -> LogHead:
        with read_transaction(self.engine) as connection:
            row = connection.execute(_SELECT_HEAD).first()
        if row is None:
            raise LedgerError("the ledger has no head row: run `careledger init`")
        return LogHead(row.size, row.root, row.last_leaf_hash)

    def inclusion_proof(self, index: int, size: int | None = None) -> InclusionProof:
        """Audit path for leaf ``index`` in the tree of ``size`` (default: the head)."""
        return self._proofs.inclusion_proof(index, size)

    def inclusion_proofs(self, indices: Sequence[int], size: int) -> list[InclusionProof]:
        """Audit paths for several leaves in the tree of ``size`` (``ProofReader``)."""
        return self._proofs.inclusion_proofs(indices, size)

    def consistency_proof(self, size1: int, size2: int | None = None) -> list[bytes]:
        """Consistency proof from ``size1`` to ``size2`` (default: the head). Requires 0 < size1."""
        return self._proofs.consistency_proof(size1, size2)

    def index_of_leaf(self, leaf_hash: bytes) -> int:
        """Index of the entry whose leaf hashes to ``leaf_hash``; ``OutOfRangeError`` if none.

        Read-only and lock-free (``leaf_index``): a public lookup never makes an append
        wait. ``LeafIndexBehindError`` if the follower has left too much unindexed.
        """
        if len(leaf_hash) != HASH_SIZE:
            raise OutOfRangeError("a leaf hash has 32 bytes")
        found = leaf_index.lookup(self.engine, leaf_hash)
        if found is None:
            raise OutOfRangeError("no entry has this leaf hash")
        return found

    def index_new_leaves(self, limit: int = 100_000) -> int:
        """Bring the leaf-hash index towards the head (the follower's job); returns how many.

        Takes no head lock. On SQLite the write transaction still queues behind an
        append for as long as it runs, hence the ``limit`` per call.
        """
        with write_transaction(self.engine) as connection:
            return leaf_index.catch_up(connection, stored_size(connection), limit)

    def root_at(self, size: int) -> bytes:
        """Root of the tree of the first ``size`` leaves. Requires ``0 <= size <= head``."""
        return self._proofs.root_at(size)

    def entry(self, index: int) -> StoredEntry:
        with read_transaction(self.engine) as connection:
            row = connection.execute(
                select(schema.entries).where(schema.entries.c.idx == index)
            ).first()
        if row is None:
            raise OutOfRangeError(f"no entry at index {index}")
        return StoredEntry(row.idx, row.type, row.leaf, leaf_hash(row.leaf), row.payload)

    def tile(self, level: int, index: int, width: int = TILE_WIDTH) -> bytes:
        """C2SP bytes of tile ``level/index`` at ``width``; ``OutOfRangeError`` if narrower."""
        with read_transaction(self.engine) as connection:
            found = TileCache(connection).load(level, index)  # what is served is what is stored
        if found is None or found[0] < width:
            raise OutOfRangeError(f"tile {level}/{index} is not {width} wide")
        return found[1][: width * 32]

    def entry_bundle(self, index: int, width: int = TILE_WIDTH) -> bytes:
        """C2SP bytes of entry bundle ``index`` (leaves ``index*256 ..``), ``width`` of them.

        Leaves only: payloads never leave the ledger this way.
        """
        first = index * TILE_WIDTH
        with read_transaction(self.engine) as connection:
            leaves = list(
                connection.execute(
                    select(schema.entries.c.leaf)
                    .where(schema.entries.c.idx >= first, schema.entries.c.idx < first + width)
                    .order_by(schema.entries.c.idx)
                ).scalars()
            )
        if len(leaves) != width:
            raise OutOfRangeError(f"entry bundle {index} does not have {width} entries yet")
        return encode_entry_bundle(leaves)

    def latest_checkpoint(self) -> SignedCheckpoint | None:
        with read_transaction(self.engine) as connection:
            return checkpoint_store.latest_checkpoint(connection)

    def _latest_checkpoint(self, connection: Connection) -> SignedCheckpoint | None:
        return checkpoint_store.latest_checkpoint(connection)

    def checkpoints_after(self, size: int, limit: int) -> list[SignedCheckpoint]:
        """Up to ``limit`` checkpoints of sizes above ``size``, smallest first."""
        with read_transaction(self.engine) as connection:
            return checkpoint_store.checkpoints_after(connection, size, limit)

    def checkpoint_at(self, size: int) -> SignedCheckpoint | None:
        """The checkpoint signed for exactly ``size`` entries, if one was."""
        with read_transaction(self.engine) as connection:
            return checkpoint_store.checkpoint_at(connection, size)

    def checkpoint_count(self) -> int:
        with read_transaction(self.engine) as connection:
            return checkpoint_store.checkpoint_count(connection)
