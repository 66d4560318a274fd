"""Recompute the stored log from its entries and report the first disagreement.

Checks, in order: the entries form an unbroken hash chain ``0 .. size-1``
with correct leaf hashes; every stored tile equals the tile recomputed from
the entries; the head's size, root and last leaf hash; every stored
checkpoint's signature, size and root, and consistency between successive
checkpoints; every leaf-hash lookup row. Checkpoint signatures are checked
against the chain of keys that starts with the verifier given and follows
each ``log.key_rotation`` entry (``log_keys.py``). Stops at the first disagreement,
naming the entry index, tile or checkpoint where it is.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from hashlib import sha256

from sqlalchemy import Connection, Engine, select

from . import schema
from .checkpoint import open_checkpoint
from .database import snapshot_transaction
from .errors import LedgerError
from .leaf import GENESIS_PREV, chain_prefix
from .log_keys import ROTATION_ENTRY, KeyChain, rotation_from_leaf
from .note import Verifier
from .proof import verify_consistency
from .stored_tiles import SELECT_TILE, node_reader
from .tiles import TILE_HEIGHT, TILE_WIDTH, TileEdge, TileRows
from .tree import NodeReader, consistency_proof, tree_root

__all__ = ["Discrepancy", "LogVerification", "verify_stored_log"]

_CHUNK = 20_000
#: How a key rotation's leaf ends (the type is the leaf's last field): found without parsing.
_ROTATION_TAIL = b'"type":"%s"}' % ROTATION_ENTRY.encode()

#: Called with the number of entries checked so far.
Progress = Callable[[int], None]


@dataclass(frozen=True)
class Discrepancy:
    """Where stored data and recomputation first disagree.

    ``kind`` is one of ``entry``, ``tile``, ``head``, ``checkpoint``, ``leaf_index``;
    ``index`` is the entry index (for ``entry`` and ``tile``, the first leaf
    the tile covers) and ``checkpoint_size`` the size of the checkpoint.
    """

    kind: str
    message: str
    index: int | None = None
    checkpoint_size: int | None = None


@dataclass(frozen=True)
class LogVerification:
    size: int
    entries_checked: int
    checkpoints_checked: int
    discrepancy: Discrepancy | None

    @property
    def ok(self) -> bool:
        return self.discrepancy is None


class _DiscrepancyFoundError(Exception):
    def __init__(self, discrepancy: Discrepancy) -> None:
        self.discrepancy = discrepancy


class _StoredTiles:
    """Stored tiles as the verification reads them, each fetched once.

    The chain scan reads a level-0 tile for its leaf hashes and the tile
    comparison needs it again; it is kept in between and released once
    compared, so memory stays bounded by one scan chunk.
    """

    def __init__(self, connection: Connection) -> None:
        self._connection = connection
        self._kept: dict[tuple[int, int], tuple[int, bytes] | None] = {}

    def read(self, level: int, index: int) -> tuple[int, bytes] | None:
        """``(width, blob)`` of the stored tile, or None if storage has none."""
        key = (level, index)
        if key not in self._kept:
            row = self._connection.execute(SELECT_TILE, {"level": level, "idx": index}).first()
            self._kept[key] = None if row is None else (row.width, row.hashes)
        return self._kept[key]

    def release(self, level: int, index: int) -> None:
        self._kept.pop((level, index), None)


class _TileRecomputer:
    """Rebuilds tiles from leaf hashes (as appends do) and compares each with storage."""

    def __init__(self, stored_tiles: _StoredTiles) -> None:
        self._stored_tiles = stored_tiles
        self._edge = TileEdge()
        self.expected_widths: dict[tuple[int, int], int] = {}

    def add_leaf_hashes(self, hashes: list[bytes]) -> None:
        for level, index, tile in self._edge.add(0, hashes):
            self._compare(level, index, tile)

    def finish(self) -> None:
        for level, index, tile in self._edge.partial_tiles():
            self._compare(level, index, tile)

    def _compare(self, level: int, index: int, tile: TileRows) -> None:
        self.expected_widths[(level, index)] = tile.width
        first_leaf = (index * TILE_WIDTH) << (TILE_HEIGHT * level)
        found = self._stored_tiles.read(level, index)
        self._stored_tiles.release(level, index)
        where = f"tile {level}/{index}"
        if found is None:
            raise _DiscrepancyFoundError(Discrepancy("tile", f"{where} is missing", first_leaf))
        stored_width, stored_blob = found
        if stored_width != tile.width:
            raise _DiscrepancyFoundError(
                Discrepancy(
                    "tile",
                    f"{where} is stored {stored_width} wide, recomputed {tile.width}",
                    first_leaf,
                )
            )
        if stored_blob != tile.blob():
            stored = TileRows.from_blob(stored_blob, stored_width)
            for r, (stored_row, computed_row) in enumerate(
                zip(stored.rows, tile.rows, strict=True)
            ):
                for position, (a, b) in enumerate(zip(stored_row, computed_row, strict=True)):
                    if a != b:
                        level_in_tree = TILE_HEIGHT * level + r
                        node_index = (index * TILE_WIDTH >> r) + position
                        leaf = node_index << level_in_tree
                        raise _DiscrepancyFoundError(
                            Discrepancy(
                                "tile",
                                f"stored subtree hash at level {level_in_tree}, index "
                                f"{node_index} (leaves from {leaf}) differs from recomputation",
                                leaf,
                            )
                        )


class _StoredLeafHashes:
    """Stored leaf hashes (the base rows of level-0 tiles), compared in bulk during the scan."""

    def __init__(self, stored_tiles: _StoredTiles) -> None:
        self._stored_tiles = stored_tiles

    def _tile(self, tile_index: int) -> bytes:
        found = self._stored_tiles.read(0, tile_index)
        return b"" if found is None else found[1]

    def first_mismatch(self, first_index: int, hashes: list[bytes]) -> int | None:
        """Index of the first of ``hashes`` (leaves ``first_index ..``) unlike its stored hash."""
        done = 0
        while done < len(hashes):
            tile_index, position = divmod(first_index + done, TILE_WIDTH)
            count = min(TILE_WIDTH - position, len(hashes) - done)
            stored = self._tile(tile_index)[position * 32 : (position + count) * 32]
            computed = hashes[done : done + count]
            if b"".join(computed) != stored:
                for offset, leaf_hash in enumerate(computed):
                    if stored[offset * 32 : offset * 32 + 32] != leaf_hash:
                        return first_index + done + offset
            done += count
        return None


def _check_entries(
    connection: Connection, size: int, progress: Progress | None
) -> tuple[int, bytes, _TileRecomputer, list[tuple[int, bytes]]]:
    """The chain scan; also returns the key rotation leaves it met, ``(index, leaf)``."""
    rotations: list[tuple[int, bytes]] = []
    stored_tiles = _StoredTiles(connection)
    recomputer = _TileRecomputer(stored_tiles)
    expected, prev = 0, GENESIS_PREV
    e = schema.entries.c
    stored_leaf_hashes = _StoredLeafHashes(stored_tiles)

    def compare_with_storage(first_index: int, leaf_hashes: list[bytes]) -> None:
        mismatch = stored_leaf_hashes.first_mismatch(first_index, leaf_hashes)
        if mismatch is not None:
            raise _DiscrepancyFoundError(
                Discrepancy(
                    "entry",
                    f"entry {mismatch}: leaf bytes do not hash to the stored leaf hash "
                    "(the entry or its tile was altered)",
                    mismatch,
                )
            )

    while True:
        rows = connection.execute(
            select(e.idx, e.leaf).where(e.idx >= expected).order_by(e.idx).limit(_CHUNK)
        ).all()
        if not rows:
            break
        first_index = expected
        leaf_hashes: list[bytes] = []
        for index, leaf in rows:
            if index != expected or not leaf.startswith(chain_prefix(index, prev)):
                # An altered entry breaks the chain at the next one: name it first.
                compare_with_storage(first_index, leaf_hashes)
                if index != expected:
                    message = f"entry {expected} is missing (next stored is {index})"
                else:
                    message = (
                        f"entry {index} does not start with its index and the previous leaf "
                        "hash (chain broken: altered, reordered or inserted)"
                    )
                raise _DiscrepancyFoundError(Discrepancy("entry", message, expected))
            prev = sha256(b"\x00" + leaf).digest()
            leaf_hashes.append(prev)
            if leaf.endswith(_ROTATION_TAIL):
                rotations.append((index, bytes(leaf)))
            expected += 1
        compare_with_storage(first_index, leaf_hashes)
        recomputer.add_leaf_hashes(leaf_hashes)
        if progress is not None:
            progress(expected)
    if expected < size:
        raise _DiscrepancyFoundError(
            Discrepancy(
                "entry",
                f"entries {expected}..{size - 1} are missing (head says size {size})",
                expected,
            )
        )
    if expected > size:
        raise _DiscrepancyFoundError(
            Discrepancy("head", f"head says size {size} but {expected} entries are stored", size)
        )
    recomputer.finish()
    return expected, prev, recomputer, rotations


def _key_chain(genesis: Verifier, rotations: list[tuple[int, bytes]]) -> KeyChain:
    chain = KeyChain.starting_with(genesis)
    for index, leaf in rotations:
        try:
            chain = chain.after(rotation_from_leaf(leaf), index)
        except LedgerError as e:
            raise _DiscrepancyFoundError(Discrepancy("entry", f"entry {index}: {e}", index)) from e
    return chain


def _check_no_extra_tiles(connection: Connection, expected: dict[tuple[int, int], int]) -> None:
    for level, index in connection.execute(select(schema.tiles.c.level, schema.tiles.c.idx)):
        if (level, index) not in expected:
            raise _DiscrepancyFoundError(
                Discrepancy("tile", f"tile {level}/{index} is stored but no entries cover it")
            )


def _check_checkpoints(
    connection: Connection, read_node: NodeReader, log_keys: KeyChain, size: int
) -> int:
    c = schema.checkpoints.c
    previous: tuple[int, bytes] | None = None
    checked = 0
    for row in connection.execute(select(c.size, c.root, c.note).order_by(c.size)):
        where = f"checkpoint of size {row.size}"
        try:
            checkpoint, _ = open_checkpoint(row.note, log_keys)
        except LedgerError as e:
            raise _DiscrepancyFoundError(
                Discrepancy("checkpoint", f"{where}: {e}", checkpoint_size=row.size)
            ) from e
        if checkpoint.size != row.size or checkpoint.root != row.root:
            raise _DiscrepancyFoundError(
                Discrepancy(
                    "checkpoint",
                    f"{where}: signed note says size {checkpoint.size} with another "
                    "root than the stored columns",
                    checkpoint_size=row.size,
                )
            )
        if checkpoint.size > size:
            raise _DiscrepancyFoundError(
                Discrepancy(
                    "checkpoint",
                    f"{where} is larger than the stored log ({size}): entries were removed",
                    checkpoint_size=row.size,
                )
            )
        root = tree_root(checkpoint.size, read_node)
        if root != checkpoint.root:
            raise _DiscrepancyFoundError(
                Discrepancy(
                    "checkpoint",
                    f"{where}: signed root {checkpoint.root.hex()} is not the "
                    f"recomputed root {root.hex()}",
                    checkpoint_size=row.size,
                )
            )
        if previous is not None and previous[0] > 0:
            proof = consistency_proof(previous[0], checkpoint.size, read_node)
            try:
                verify_consistency(
                    previous[0], checkpoint.size, proof, previous[1], checkpoint.root
                )
            except LedgerError as e:
                raise _DiscrepancyFoundError(
                    Discrepancy(
                        "checkpoint",
                        f"{where} is not consistent with checkpoint {previous[0]}: {e}",
                        checkpoint_size=row.size,
                    )
                ) from e
        previous = (checkpoint.size, checkpoint.root)
        checked += 1
    return checked


def _check_leaf_index(connection: Connection, read_node: NodeReader, size: int) -> None:
    """Every leaf-hash lookup row names the entry whose (verified) tile hash it holds."""
    rows = connection.execute(
        select(schema.leaf_index.c.idx, schema.leaf_index.c.leaf_hash).order_by(
            schema.leaf_index.c.idx
        )
    )
    for index, hashed in rows:
        if not 0 <= index < size or read_node(0, index) != hashed:
            raise _DiscrepancyFoundError(
                Discrepancy("leaf_index", f"leaf-hash lookup row {index} is wrong", index)
            )


def verify_stored_log(
    engine: Engine, verifier: Verifier, progress: Progress | None = None
) -> LogVerification:
    """Recompute everything from the entries; see the module docstring.

    ``verifier`` is the log's first key (its chain is read from the entries).
    """
    entries_checked = checkpoints_checked = 0
    with snapshot_transaction(engine) as connection:
        head = connection.execute(select(schema.head)).first()
        if head is None:
            return LogVerification(0, 0, 0, Discrepancy("head", "the ledger has no head row"))
        size = head.size
        try:
            entries_checked, last_hash, recomputer, rotations = _check_entries(
                connection, size, progress
            )
            _check_no_extra_tiles(connection, recomputer.expected_widths)
            read_node = node_reader(connection)
            root = tree_root(size, read_node)
            if root != head.root or (size and last_hash != head.last_leaf_hash):
                raise _DiscrepancyFoundError(
                    Discrepancy(
                        "head",
                        f"head root or last leaf hash differs from recomputation at size {size}",
                        size,
                    )
                )
            log_keys = _key_chain(verifier, rotations)
            checkpoints_checked = _check_checkpoints(connection, read_node, log_keys, size)
            _check_leaf_index(connection, read_node, size)
        except _DiscrepancyFoundError as mismatch:
            return LogVerification(size, entries_checked, checkpoints_checked, mismatch.discrepancy)
    return LogVerification(size, entries_checked, checkpoints_checked, None)
