"""The stored hash tiles: reading them, with a process-wide cache of full tiles, and
growing the tree's right edge by compare-and-swap on each tile's width.

A tile row only grows: its C2SP bytes are a prefix of every later version
until it is 256 wide, and then it never changes again. That is why full
tiles may be cached for the life of a process, and why a write is a
compare-and-swap on the width.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Iterable, Sequence

from sqlalchemy import Connection, bindparam, select, tuple_, update

from . import schema
from .database import insert_rows
from .errors import LedgerError
from .tiles import TILE_HEIGHT, TILE_WIDTH, TileEdge, TileRows, node_location, tile_hash_at
from .tree import NodeReader, complete_subtrees

__all__ = [
    "SELECT_TILE",
    "FullTiles",
    "TileCache",
    "TileWriter",
    "load_right_edge",
    "node_reader",
    "tiles_for_ranges",
]

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


class FullTiles:
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


class TileCache:
    """Tiles read within one transaction, serving complete-subtree hashes."""

    def __init__(self, connection: Connection, full_tiles: FullTiles | None = None) -> None:
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


def tiles_for_ranges(ranges: Iterable[tuple[int, int]]) -> set[tuple[int, int]]:
    """The tiles holding the complete subtrees that the given leaf ranges decompose into."""
    return {
        node_location(level, index)[:2]
        for begin, end in ranges
        for level, index in complete_subtrees(begin, end)
    }


def node_reader(connection: Connection) -> NodeReader:
    """Complete-subtree hashes from the stored tiles, read within ``connection``'s transaction."""
    return TileCache(connection).read_node


def load_right_edge(cache: TileCache, size: int) -> dict[int, tuple[int, TileRows]]:
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


class TileWriter:
    """Extends the stored tree's right edge with new leaf hashes and writes the tiles it changed."""

    def __init__(
        self,
        cache: TileCache,
        size: int,
        open_tiles: dict[int, tuple[int, TileRows]] | None = None,
    ) -> None:
        """Start from the right edge of the stored tree of ``size`` leaves.

        ``open_tiles``, when given, is that edge as this process committed it,
        which saves reading it back from storage.
        """
        self._cache = cache
        if open_tiles is None:
            open_tiles = load_right_edge(cache, size)
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
