"""The lookup from a leaf hash to its index, for proofs asked by leaf hash.

The table is derived from the level-0 tiles: it can always be rebuilt, and
its rows only ever cover ``0 .. k-1`` for some ``k <= size``.
"""

from __future__ import annotations

from sqlalchemy import Connection, Engine, func, select

from . import schema
from .database import insert_rows, read_transaction
from .stored_tiles import TileCache
from .tiles import TILE_WIDTH

__all__ = ["catch_up", "lookup"]


def lookup(engine: Engine, leaf_hash: bytes) -> int | None:
    """The indexed entry whose leaf hashes to ``leaf_hash``, if the table has it yet."""
    with read_transaction(engine) as connection:
        found = connection.execute(
            select(schema.leaf_index.c.idx).where(schema.leaf_index.c.leaf_hash == leaf_hash)
        ).scalar_one_or_none()
    return None if found is None else int(found)


def catch_up(connection: Connection, size: int) -> None:
    """Index every leaf from the last indexed one up to ``size`` (requires the head lock)."""
    indexed = connection.execute(
        select(func.coalesce(func.max(schema.leaf_index.c.idx), -1))
    ).scalar_one()
    cache = TileCache(connection)
    rows: list[tuple[object, ...]] = []
    for index in range(int(indexed) + 1, size):
        rows.append((index, cache.read_node(0, index)))
        if index % TILE_WIDTH == TILE_WIDTH - 1:
            cache.tiles.clear()  # a tile's hashes are all indexed; free it
        if len(rows) >= 20_000:
            insert_rows(connection, schema.leaf_index, rows)
            rows = []
    if rows:
        insert_rows(connection, schema.leaf_index, rows)
