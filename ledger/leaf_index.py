"""The lookup from a leaf hash to its index, for proofs asked by leaf hash.

The table is derived from the level-0 tiles: it can always be rebuilt, and
its rows cover ``0 .. k-1`` for some ``k <= size``. It is filled off the
append path (a random-key index there cost 4-5x in append throughput) by the
follower (``catch_up``), and looked up read-only: a lookup never writes and
never waits for the head lock, so nobody can make ingestion wait by asking.
Leaves appended since the last catch-up are found by reading their tiles,
up to ``SCAN_LIMIT`` of them; past that the index is said to be behind.
"""

from __future__ import annotations

from sqlalchemy import Connection, Engine, func, select

from . import schema
from .database import insert_rows, snapshot_transaction
from .errors import LedgerError
from .stored_tiles import TileCache
from .tiles import TILE_WIDTH

__all__ = ["SCAN_LIMIT", "LeafIndexBehindError", "catch_up", "indexed_size", "lookup"]

#: Unindexed leaves a lookup may read from tiles (64 tiles, 512 KiB) before giving up:
#: what an anonymous miss may cost. The follower and the scheduler keep far below it.
SCAN_LIMIT = 16_384


class LeafIndexBehindError(LedgerError):
    """More leaves than ``SCAN_LIMIT`` are not indexed yet: the follower is behind."""

    def __init__(self, behind: int) -> None:
        super().__init__(
            f"the leaf-hash index is {behind} entries behind the log; try again shortly, "
            "or ask by index"
        )
        self.behind = behind


def indexed_size(connection: Connection) -> int:
    """How many leaves, from index 0, the table holds."""
    found = connection.execute(
        select(func.coalesce(func.max(schema.leaf_index.c.idx), -1))
    ).scalar_one()
    return int(found) + 1


def lookup(engine: Engine, leaf_hash: bytes, size: int | None = None) -> int | None:
    """The index of the leaf hashing to ``leaf_hash`` (among the first ``size``), or None.

    Read-only. Raises ``LeafIndexBehindError`` when it cannot tell without reading more
    than ``SCAN_LIMIT`` unindexed leaves.
    """
    # One snapshot: in autocommit, a catch-up committed between the lookup and reading
    # how far the index goes would make the scan skip the very leaf asked for.
    with snapshot_transaction(engine) as connection:
        found = connection.execute(
            select(schema.leaf_index.c.idx).where(schema.leaf_index.c.leaf_hash == leaf_hash)
        ).scalar_one_or_none()
        if found is not None:
            return int(found)
        head = int(connection.execute(select(schema.head.c.size)).scalar_one())
        size = head if size is None else min(size, head)
        start = indexed_size(connection)
        if size - start > SCAN_LIMIT:
            raise LeafIndexBehindError(size - start)
        cache = TileCache(connection)
        for index in range(start, size):
            if cache.read_node(0, index) == leaf_hash:
                return index
    return None


def catch_up(connection: Connection, size: int, limit: int | None = None) -> int:
    """Index leaves from the last indexed one up to ``size`` (at most ``limit`` of them).

    Needs no head lock: the leaves below a committed ``size`` never change. Returns how
    many were indexed. Two catch-ups at once would collide on the key; only the follower
    (one at a time, by its lease) and ``db upgrade`` call it.
    """
    start = indexed_size(connection)
    end = size if limit is None else min(size, start + limit)
    cache = TileCache(connection)
    rows: list[tuple[object, ...]] = []
    for index in range(start, end):
        rows.append((index, cache.read_node(0, index)))
        if index % TILE_WIDTH == TILE_WIDTH - 1:
            cache.tiles.clear()  # a tile's hashes are all indexed; free it
        if len(rows) >= 20_000:
            insert_rows(connection, schema.leaf_index, rows)
            rows = []
    if rows:
        insert_rows(connection, schema.leaf_index, rows)
    return max(0, end - start)
