"""SQL tables of the ledger (SQLAlchemy Core).

Migrations live in ``supervisor/database/migrations``.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Column,
    DateTime,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    SmallInteger,
    String,
    Table,
    Text,
    text,
)

__all__ = ["checkpoints", "entries", "head", "leaf_index", "metadata", "tiles"]

metadata = MetaData()

#: One row (id = 1): the log's size, root and last leaf hash. Appenders lock it.
head = Table(
    "ledger_head",
    metadata,
    Column("id", SmallInteger, primary_key=True, autoincrement=False),
    Column("size", BigInteger, nullable=False),
    Column("root", LargeBinary(32), nullable=False),
    Column("last_leaf_hash", LargeBinary(32), nullable=False),
)

#: An entry index: a rowid alias on SQLite (one B-tree, not two), BIGINT elsewhere.
ENTRY_INDEX = BigInteger().with_variant(Integer(), "sqlite")

#: Append-only: row ``idx`` holds leaf ``idx``. Leaf hashes live in the level-0 tiles;
#: no hash index here, since random-key inserts would multiply the write cost.
#: ``payload`` is opaque to the ledger and never hashed into the tree.
entries = Table(
    "ledger_entries",
    metadata,
    Column("idx", ENTRY_INDEX, primary_key=True, autoincrement=False),
    Column("type", String(64), nullable=False),
    Column("leaf", LargeBinary, nullable=False),
    Column("payload", LargeBinary, nullable=True),
    # Key rotations only (a partial index): the key chain is read without a scan.
    Index(
        "ix_ledger_entries_key_rotation",
        "idx",
        sqlite_where=text("type = 'log.key_rotation'"),
        postgresql_where=text("type = 'log.key_rotation'"),
    ),
)

#: Hash tiles (C2SP tlog-tiles plus inner rows); a row only ever grows until it is 256 wide.
tiles = Table(
    "ledger_tiles",
    metadata,
    Column("level", SmallInteger, primary_key=True, autoincrement=False),
    Column("idx", BigInteger, primary_key=True, autoincrement=False),
    Column("width", Integer, nullable=False),
    Column("hashes", LargeBinary, nullable=False),
)

#: Every checkpoint ever signed, one per size; sizes only grow.
checkpoints = Table(
    "ledger_checkpoints",
    metadata,
    Column("size", BigInteger, primary_key=True, autoincrement=False),
    Column("root", LargeBinary(32), nullable=False),
    Column("note", Text, nullable=False),
    Column("signed_at", DateTime(timezone=True), nullable=False),
)

#: Leaf hash -> index, for lookups by leaf hash. Filled lazily from the level-0 tiles,
#: off the append path (a random-key index there cost 4-5x in append throughput).
leaf_index = Table(
    "ledger_leaf_index",
    metadata,
    Column("idx", ENTRY_INDEX, primary_key=True, autoincrement=False),
    Column("leaf_hash", LargeBinary(32), nullable=False, unique=True),
)
