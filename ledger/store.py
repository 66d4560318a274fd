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
"""

from __future__ import annotations

import threading
from binascii import hexlify
from collections import OrderedDict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from hashlib import sha256

from sqlalchemy import Connection, Engine, bindparam, func, insert, select, tuple_, update

from . import schema
from .canonical import JSONValue, canonical_json
from .checkpoint import Checkpoint, SignedCheckpoint, sign_checkpoint
from .database import insert_rows, read_transaction, write_transaction
from .errors import ConsistencyError, LedgerError, OutOfRangeError, ProofError
from .hashing import HASH_SIZE, leaf_hash
from .leaf import LEAF_FORMAT, check_entry_type
from .log_keys import ROTATION_ENTRY, KeyChain, KeyRotation, rotation_from_leaf
from .note import Signer, Verifier, signature_key_ids
from .proof import verify_consistency
from .tiles import (
    MAX_ENTRY_SIZE,
    TILE_HEIGHT,
    TILE_WIDTH,
    TileEdge,
    TileRows,
    encode_entry_bundle,
    node_location,
    tile_hash_at,
)
from .tree import (
    NodeReader,
    complete_subtrees,
    consistency_proof,
    consistency_proof_ranges,
    inclusion_proof,
    inclusion_proof_ranges,
    inclusion_proofs,
    tree_root,
)

__all__ = [
    "SELECT_TILE",
    "AppendResult",
    "EntryDraft",
    "InclusionProof",
    "LedgerStore",
    "LogHead",
    "StoredEntry",
    "format_received_at",
    "node_reader",
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
class InclusionProof:
    index: int
    size: int
    leaf_hash: bytes
    hashes: tuple[bytes, ...]
    root: bytes


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
_SELECT_SIZE = select(schema.head.c.size).where(schema.head.c.id == 1)
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
_INSERT_CHECKPOINT = insert(schema.checkpoints)
_SELECT_LATEST_CHECKPOINT = (
    select(schema.checkpoints.c.note, schema.checkpoints.c.size, schema.checkpoints.c.root)
    .order_by(schema.checkpoints.c.size.desc())
    .limit(1)
)

#: Compare-and-swap on the width: a tile only ever grows.
_GROW_TILE = (
    update(schema.tiles)
    .where(
        schema.tiles.c.level == bindparam("tile_level"),
        schema.tiles.c.idx == bindparam("tile_index"),
        schema.tiles.c.width == bindparam("old_width"),
    )
    .values(width=bindparam("new_width"), hashes=bindparam("new_hashes"))
)

#: One tile's width and blob by (level, idx): shared with the verifier.
SELECT_TILE = select(schema.tiles.c.width, schema.tiles.c.hashes).where(
    schema.tiles.c.level == bindparam("level"), schema.tiles.c.idx == bindparam("idx")
)


#: Several tiles of any levels in one round trip (PostgreSQL plans a row-value IN on the key).
_SELECT_TILES = select(
    schema.tiles.c.level, schema.tiles.c.idx, schema.tiles.c.width, schema.tiles.c.hashes
).where(tuple_(schema.tiles.c.level, schema.tiles.c.idx).in_(bindparam("keys", expanding=True)))


class _FullTiles:
    """A process's bounded cache of full tiles, which never change once 256 wide.

    Proofs at any size share the upper tiles; serving them from memory saves a
    database round trip per proof. Used on read paths only: appends and
    checkpoint signing always read storage.
    """

    def __init__(self, capacity: int = 1024) -> None:
        self._capacity = capacity
        self._tiles: OrderedDict[tuple[int, int], bytes] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: tuple[int, int]) -> bytes | None:
        with self._lock:
            blob = self._tiles.get(key)
            if blob is not None:
                self._tiles.move_to_end(key)
            return blob

    def keep(self, key: tuple[int, int], width: int, blob: bytes) -> None:
        if width != TILE_WIDTH:
            return
        with self._lock:
            self._tiles[key] = blob
            self._tiles.move_to_end(key)
            while len(self._tiles) > self._capacity:
                self._tiles.popitem(last=False)


class _TileCache:
    """Tiles read within one transaction, serving complete-subtree hashes."""

    def __init__(self, connection: Connection, full_tiles: _FullTiles | None = None) -> None:
        self._connection = connection
        self._full_tiles = full_tiles
        self.tiles: dict[tuple[int, int], tuple[int, bytes]] = {}

    def _from_shared(self, key: tuple[int, int]) -> tuple[int, bytes] | None:
        if self._full_tiles is None:
            return None
        blob = self._full_tiles.get(key)
        if blob is None:
            return None
        found = self.tiles[key] = (TILE_WIDTH, blob)
        return found

    def _remember(self, key: tuple[int, int], width: int, blob: bytes) -> None:
        self.tiles[key] = (width, blob)
        if self._full_tiles is not None:
            self._full_tiles.keep(key, width, blob)

    def preload(self, keys: Iterable[tuple[int, int]]) -> None:
        """Read the listed tiles in one query, saving network round trips.

        Skipped on SQLite (a row-value IN scans every tile there), where a
        cached point lookup per tile is cheaper anyway.
        """
        if self._connection.dialect.name == "sqlite":
            return
        missing = [
            key for key in set(keys) if key not in self.tiles and self._from_shared(key) is None
        ]
        if not missing:
            return
        for row in self._connection.execute(_SELECT_TILES, {"keys": missing}):
            self._remember((row.level, row.idx), row.width, row.hashes)

    def load(self, level: int, index: int) -> tuple[int, bytes] | None:
        key = (level, index)
        found = self.tiles.get(key) or self._from_shared(key)
        if found is None:
            row = self._connection.execute(SELECT_TILE, {"level": level, "idx": index}).first()
            if row is None:
                return None
            self._remember(key, row.width, row.hashes)
            found = (row.width, row.hashes)
        return found

    def read_node(self, level: int, index: int) -> bytes:
        tile_level, tile_index, row, position = node_location(level, index)
        found = self.load(tile_level, tile_index)
        if found is None:
            raise LedgerError(f"tile {tile_level}/{tile_index} is missing from storage")
        width, blob = found
        return tile_hash_at(blob, width, row, position)


def _tiles_for_ranges(ranges: Iterable[tuple[int, int]]) -> set[tuple[int, int]]:
    """The tiles holding the complete subtrees that the given leaf ranges decompose into."""
    return {
        node_location(level, index)[:2]
        for begin, end in ranges
        for level, index in complete_subtrees(begin, end)
    }


def node_reader(connection: Connection) -> NodeReader:
    """Complete-subtree hashes from the stored tiles, read within ``connection``'s transaction."""
    return _TileCache(connection).read_node


def _load_right_edge(cache: _TileCache, size: int) -> dict[int, tuple[int, TileRows]]:
    """The open tile of every tile level of the stored tree of ``size`` leaves."""
    open_tiles: dict[int, tuple[int, TileRows]] = {}
    level = 0
    while level == 0 or size >> (TILE_HEIGHT * level):
        tile_index, width = divmod(size >> (TILE_HEIGHT * level), TILE_WIDTH)
        tile = TileRows()
        if width:
            found = cache.load(level, tile_index)
            if found is None or found[0] != width:
                raise LedgerError(
                    f"tile {level}/{tile_index} should be {width} wide for size {size}"
                )
            tile = TileRows.from_blob(found[1], width)
        open_tiles[level] = (tile_index, tile)
        level += 1
    return open_tiles


class _TileWriter:
    """Extends the stored tree's right edge with new leaf hashes and writes the tiles it changed."""

    def __init__(
        self,
        cache: _TileCache,
        size: int,
        open_tiles: dict[int, tuple[int, TileRows]] | None = None,
    ) -> None:
        """Start from the right edge of the stored tree of ``size`` leaves.

        ``open_tiles``, when given, is that edge as this process committed it,
        which saves reading it back from storage.
        """
        self._cache = cache
        if open_tiles is None:
            open_tiles = _load_right_edge(cache, size)
        # Every open tile that holds hashes is stored at exactly that width.
        self._stored_width = {
            (level, tile_index): tile.width
            for level, (tile_index, tile) in open_tiles.items()
            if tile.width
        }
        self._edge = TileEdge(open_tiles)
        self.dirty: dict[tuple[int, int], TileRows] = {}

    @property
    def open_tiles(self) -> dict[int, tuple[int, TileRows]]:
        return self._edge.open_tiles

    def add_leaf_hashes(self, hashes: Sequence[bytes]) -> None:
        for level, index, tile in self._edge.add(0, hashes) + self._edge.partial_tiles():
            self.dirty[(level, index)] = tile

    def read_node(self, level: int, index: int) -> bytes:
        tile_level, tile_index, row, position = node_location(level, index)
        tile = self.dirty.get((tile_level, tile_index))
        if tile is not None:
            if position >= len(tile.rows[row]):
                raise LedgerError(f"node {level}/{index} is not complete")
            return tile.rows[row][position]
        return self._cache.read_node(level, index)

    def flush(self, connection: Connection) -> None:
        """Insert new tiles and grow stored ones (compare-and-swap on their width)."""
        new_rows: list[tuple[object, ...]] = []
        for (level, index), tile in self.dirty.items():
            old_width = self._stored_width.get((level, index))
            if old_width is None:
                new_rows.append((level, index, tile.width, tile.blob()))
            elif old_width != tile.width:
                grown = connection.execute(
                    _GROW_TILE,
                    {
                        "tile_level": level,
                        "tile_index": index,
                        "old_width": old_width,
                        "new_width": tile.width,
                        "new_hashes": tile.blob(),
                    },
                )
                if grown.rowcount != 1:
                    raise LedgerError(f"tile {level}/{index} changed under the head lock")
        if new_rows:
            insert_rows(connection, schema.tiles, new_rows)


@dataclass(frozen=True)
class _KnownCheckpoint:
    """The latest checkpoint as this process knows it (``None``: none signed yet)."""

    checkpoint: Checkpoint | None


@dataclass
class _RightEdge:
    """What this process last committed: the head and its open tiles.

    ``latest`` is set only when this process signed the checkpoint of that
    head, the one case where no other process can have signed a later one.
    """

    head: LogHead
    open_tiles: dict[int, tuple[int, TileRows]]
    latest: _KnownCheckpoint | None


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


def _stored_checkpoint(note: str) -> SignedCheckpoint:
    """A checkpoint note as this log stored it (signed by this log, so only the body is parsed)."""
    return SignedCheckpoint(Checkpoint.parse(note[: note.rindex("\n\n") + 1]), note)


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
        self._full_tiles = _FullTiles()

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
        cache = _TileCache(connection)
        writer = _TileWriter(cache, head.size, None if edge is None else edge.open_tiles)
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
            latest = _KnownCheckpoint(signed.checkpoint)
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
                connection, head.size, head.root, _TileCache(connection).read_node, now=now
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
        known: _KnownCheckpoint | None = None,
        rotating_to: Signer | None = None,
    ) -> SignedCheckpoint:
        """Sign ``(size, root)`` after checking consistency with the previous checkpoint.

        ``known`` spares the query for the previous checkpoint when the caller knows it
        (this process signed it, so its key is still the one in force).
        """
        assert self.signer is not None
        if known is None:
            stored = self._latest_checkpoint(connection)
            if stored is not None:
                self._follow_rotation(stored.note)
            known = _KnownCheckpoint(None if stored is None else stored.checkpoint)
        previous = known.checkpoint
        if previous is not None:
            if previous.size >= size:
                raise ConsistencyError(
                    f"refusing to sign size {size}: a checkpoint of size {previous.size} exists"
                )
            if previous.size > 0:
                proof = consistency_proof(previous.size, size, read_node)
                try:
                    verify_consistency(previous.size, size, proof, previous.root, root)
                except ProofError as e:
                    raise ConsistencyError(
                        f"refusing to sign size {size}: not consistent with checkpoint "
                        f"{previous.size}: {e}"
                    ) from e
        checkpoint = Checkpoint(self.signer.name, size, root)
        if rotating_to is None:
            signed = sign_checkpoint(checkpoint, self.signer)
        else:
            signed = sign_checkpoint(checkpoint, rotating_to, self.signer)
        connection.execute(
            _INSERT_CHECKPOINT, {"size": size, "root": root, "note": signed.note, "signed_at": now}
        )
        return signed

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

    def _size(self, connection: Connection) -> int:
        size = connection.execute(_SELECT_SIZE).scalar_one_or_none()
        if size is None:
            raise LedgerError("the ledger has no head row: run `careledger init`")
        return int(size)

    def inclusion_proof(self, index: int, size: int | None = None) -> InclusionProof:
        """Audit path for leaf ``index`` in the tree of ``size`` (default: the head)."""
        with read_transaction(self.engine) as connection:
            head_size = self._size(connection)
            size = head_size if size is None else size
            if not 0 <= index < size <= head_size:
                raise OutOfRangeError(
                    f"no inclusion proof for index {index} at size {size} (log size {head_size})"
                )
            cache = _TileCache(connection, self._full_tiles)
            ranges = [(index, index + 1), *inclusion_proof_ranges(index, size), (0, size)]
            cache.preload(_tiles_for_ranges(ranges))
            hashes = inclusion_proof(index, size, cache.read_node)
            return InclusionProof(
                index,
                size,
                cache.read_node(0, index),
                tuple(hashes),
                tree_root(size, cache.read_node),
            )

    def inclusion_proofs(self, indices: Sequence[int], size: int) -> list[InclusionProof]:
        """Audit paths for several leaves in the tree of ``size``, read in one transaction.

        Requires ``0 <= index < size <= head`` for every index (a receipt's batch).
        """
        with read_transaction(self.engine) as connection:
            head_size = self._size(connection)
            bad = [i for i in indices if not 0 <= i < size] if size <= head_size else indices
            if bad:
                raise OutOfRangeError(
                    f"no inclusion proof for index {bad[0]} at size {size} (log size {head_size})"
                )
            cache = _TileCache(connection, self._full_tiles)
            root = tree_root(size, cache.read_node)
            paths = inclusion_proofs(indices, size, cache.read_node)
            return [
                InclusionProof(index, size, cache.read_node(0, index), tuple(path), root)
                for index, path in zip(indices, paths, strict=True)
            ]

    def consistency_proof(self, size1: int, size2: int | None = None) -> list[bytes]:
        """Consistency proof from ``size1`` to ``size2`` (default: the head). Requires 0 < size1."""
        with read_transaction(self.engine) as connection:
            head_size = self._size(connection)
            size2 = head_size if size2 is None else size2
            if not 0 < size1 <= size2 <= head_size:
                raise OutOfRangeError(
                    f"no consistency proof from {size1} to {size2} (log size {head_size})"
                )
            cache = _TileCache(connection, self._full_tiles)
            cache.preload(_tiles_for_ranges(consistency_proof_ranges(size1, size2)))
            return consistency_proof(size1, size2, cache.read_node)

    def index_of_leaf(self, leaf_hash: bytes) -> int:
        """Index of the entry whose leaf hashes to ``leaf_hash``; ``OutOfRangeError`` if none.

        The lookup table is brought up to the head first, from the level-0
        tiles, under the append lock (so only the first lookup after many
        appends pays for indexing them).
        """
        if len(leaf_hash) != HASH_SIZE:
            raise OutOfRangeError("a leaf hash has 32 bytes")
        found = self._indexed_leaf(leaf_hash)
        if found is None:
            self._catch_up_leaf_index()
            found = self._indexed_leaf(leaf_hash)
        if found is None:
            raise OutOfRangeError("no entry has this leaf hash")
        return found

    def _indexed_leaf(self, leaf_hash: bytes) -> int | None:
        with read_transaction(self.engine) as connection:
            found = connection.execute(
                select(schema.leaf_index.c.idx).where(schema.leaf_index.c.leaf_hash == leaf_hash)
            ).scalar_one_or_none()
        return None if found is None else int(found)

    def _catch_up_leaf_index(self) -> None:
        with write_transaction(self.engine) as connection:
            head = self._lock_head(connection)
            indexed = connection.execute(
                select(func.coalesce(func.max(schema.leaf_index.c.idx), -1))
            ).scalar_one()
            cache = _TileCache(connection)
            rows: list[tuple[object, ...]] = []
            for index in range(int(indexed) + 1, head.size):
                rows.append((index, cache.read_node(0, index)))
                if index % TILE_WIDTH == TILE_WIDTH - 1:
                    cache.tiles.clear()  # a tile's hashes are all indexed; free it
                if len(rows) >= 20_000:
                    insert_rows(connection, schema.leaf_index, rows)
                    rows = []
            if rows:
                insert_rows(connection, schema.leaf_index, rows)

    def root_at(self, size: int) -> bytes:
        """Root of the tree of the first ``size`` leaves. Requires ``0 <= size <= head``."""
        with read_transaction(self.engine) as connection:
            if not 0 <= size <= self._size(connection):
                raise OutOfRangeError(f"size {size} is beyond the log")
            return tree_root(size, _TileCache(connection).read_node)

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
            found = _TileCache(connection).load(level, index)  # what is served is what is stored
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
            return self._latest_checkpoint(connection)

    def _latest_checkpoint(self, connection: Connection) -> SignedCheckpoint | None:
        row = connection.execute(_SELECT_LATEST_CHECKPOINT).first()
        if row is None:
            return None
        return _stored_checkpoint(row.note)

    def checkpoints_after(self, size: int, limit: int) -> list[SignedCheckpoint]:
        """Up to ``limit`` checkpoints of sizes above ``size``, smallest first."""
        with read_transaction(self.engine) as connection:
            notes = connection.execute(
                select(schema.checkpoints.c.note)
                .where(schema.checkpoints.c.size > size)
                .order_by(schema.checkpoints.c.size)
                .limit(limit)
            ).scalars()
            return [_stored_checkpoint(note) for note in notes]

    def checkpoint_at(self, size: int) -> SignedCheckpoint | None:
        """The checkpoint signed for exactly ``size`` entries, if one was."""
        with read_transaction(self.engine) as connection:
            note = connection.execute(
                select(schema.checkpoints.c.note).where(schema.checkpoints.c.size == size)
            ).scalar_one_or_none()
        if note is None:
            return None
        return _stored_checkpoint(note)

    def checkpoint_count(self) -> int:
        with read_transaction(self.engine) as connection:
            return int(
                connection.execute(
                    select(func.count()).select_from(schema.checkpoints)
                ).scalar_one()
            )
