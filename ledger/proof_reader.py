"""Building proofs from the stored tiles: inclusion, consistency and roots at any size.

Each proof is O(log n) tile reads in one read transaction; full tiles, which
never change, are kept in a process-wide cache shared by every proof, so the
upper levels of the tree cost no round trip. Checking a proof is elsewhere
(``proof.py``), pure, for auditors.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import Connection, Engine, select

from . import schema
from .database import read_transaction
from .errors import LedgerError, OutOfRangeError
from .stored_tiles import FullTiles, TileCache, tiles_for_ranges
from .tree import (
    consistency_proof,
    consistency_proof_ranges,
    inclusion_proof,
    inclusion_proof_ranges,
    inclusion_proofs,
    tree_root,
)

__all__ = ["InclusionProof", "ProofReader", "stored_size"]

_SELECT_SIZE = select(schema.head.c.size).where(schema.head.c.id == 1)


@dataclass(frozen=True)
class InclusionProof:
    index: int
    size: int
    leaf_hash: bytes
    hashes: tuple[bytes, ...]
    root: bytes


def stored_size(connection: Connection) -> int:
    """The head's size; ``LedgerError`` if the ledger was never initialised."""
    size = connection.execute(_SELECT_SIZE).scalar_one_or_none()
    if size is None:
        raise LedgerError("the ledger has no head row: run `careledger init`")
    return int(size)


class ProofReader:
    """Proofs from one database, with this process's cache of full tiles."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._full_tiles = FullTiles()

    def inclusion_proof(self, index: int, size: int | None = None) -> InclusionProof:
        """Audit path for leaf ``index`` in the tree of ``size`` (default: the head)."""
        with read_transaction(self._engine) as connection:
            head_size = stored_size(connection)
            size = head_size if size is None else size
            if not 0 <= index < size <= head_size:
                raise OutOfRangeError(
                    f"no inclusion proof for index {index} at size {size} (log size {head_size})"
                )
            cache = TileCache(connection, self._full_tiles)
            ranges = [(index, index + 1), *inclusion_proof_ranges(index, size), (0, size)]
            cache.preload(tiles_for_ranges(ranges))
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
        with read_transaction(self._engine) as connection:
            head_size = stored_size(connection)
            bad = [i for i in indices if not 0 <= i < size] if size <= head_size else indices
            if bad:
                raise OutOfRangeError(
                    f"no inclusion proof for index {bad[0]} at size {size} (log size {head_size})"
                )
            cache = TileCache(connection, self._full_tiles)
            root = tree_root(size, cache.read_node)
            paths = inclusion_proofs(indices, size, cache.read_node)
            return [
                InclusionProof(index, size, cache.read_node(0, index), tuple(path), root)
                for index, path in zip(indices, paths, strict=True)
            ]

    def consistency_proof(self, size1: int, size2: int | None = None) -> list[bytes]:
        """Consistency proof from ``size1`` to ``size2`` (default: the head). Requires 0 < size1."""
        with read_transaction(self._engine) as connection:
            head_size = stored_size(connection)
            size2 = head_size if size2 is None else size2
            if not 0 < size1 <= size2 <= head_size:
                raise OutOfRangeError(
                    f"no consistency proof from {size1} to {size2} (log size {head_size})"
                )
            cache = TileCache(connection, self._full_tiles)
            cache.preload(tiles_for_ranges(consistency_proof_ranges(size1, size2)))
            return consistency_proof(size1, size2, cache.read_node)

    def root_at(self, size: int) -> bytes:
        """Root of the tree of the first ``size`` leaves. Requires ``0 <= size <= head``."""
        with read_transaction(self._engine) as connection:
            if not 0 <= size <= stored_size(connection):
                raise OutOfRangeError(f"size {size} is beyond the log")
            return tree_root(size, TileCache(connection).read_node)
