"""Pure verification of RFC 9162 inclusion and consistency proofs.

No database, no network: bytes and ints in, a root out or a typed error
raised. An auditor can copy this module with ``hashing.py`` and
``errors.py`` and check any careledger proof offline.

Every hash (leaf hash, root, proof element) must be exactly 32 bytes.
A consistency proof from the empty tree is rejected: every tree is
consistent with it, so a caller asking for one has a bug.
"""

from __future__ import annotations

from collections.abc import Sequence

from .errors import InvalidProofError, RootMismatchError
from .hashing import HASH_SIZE, node_hash

__all__ = [
    "root_from_consistency_proof",
    "root_from_inclusion_proof",
    "verify_consistency",
    "verify_inclusion",
]


def _require_hash(value: bytes, what: str) -> None:
    if len(value) != HASH_SIZE:
        raise InvalidProofError(f"{what} is {len(value)} bytes, want {HASH_SIZE}")


def _require_proof_hashes(proof: Sequence[bytes]) -> None:
    for i, element in enumerate(proof):
        _require_hash(element, f"proof element {i}")


def _decompose(index: int, size: int) -> tuple[int, int]:
    """Split a proof for leaf ``index`` in a tree of ``size`` into (inner, border) lengths.

    Inner nodes sit where the paths from ``index`` and from ``size - 1`` to
    the root differ; border nodes are the left siblings on the right edge.
    """
    inner = (index ^ (size - 1)).bit_length()
    border = (index >> inner).bit_count()
    return inner, border


def _chain_inner(seed: bytes, proof: Sequence[bytes], index: int) -> bytes:
    for i, sibling in enumerate(proof):
        seed = node_hash(seed, sibling) if (index >> i) & 1 == 0 else node_hash(sibling, seed)
    return seed


def _chain_inner_right(seed: bytes, proof: Sequence[bytes], index: int) -> bytes:
    for i, sibling in enumerate(proof):
        if (index >> i) & 1:
            seed = node_hash(sibling, seed)
    return seed


def _chain_border_right(seed: bytes, proof: Sequence[bytes]) -> bytes:
    for sibling in proof:
        seed = node_hash(sibling, seed)
    return seed


def root_from_inclusion_proof(
    index: int, size: int, leaf_hash: bytes, proof: Sequence[bytes]
) -> bytes:
    """The root implied by an inclusion proof. Requires ``0 <= index < size``."""
    if not 0 <= index < size:
        raise InvalidProofError(f"index {index} is outside a tree of size {size}")
    _require_hash(leaf_hash, "leaf hash")
    _require_proof_hashes(proof)
    inner, border = _decompose(index, size)
    if len(proof) != inner + border:
        raise InvalidProofError(f"proof has {len(proof)} hashes, want {inner + border}")
    seed = _chain_inner(leaf_hash, proof[:inner], index)
    return _chain_border_right(seed, proof[inner:])


def verify_inclusion(
    index: int, size: int, leaf_hash: bytes, proof: Sequence[bytes], root: bytes
) -> None:
    """Raise unless ``proof`` shows ``leaf_hash`` at ``index`` in the tree ``(size, root)``."""
    _require_hash(root, "root")
    calculated = root_from_inclusion_proof(index, size, leaf_hash, proof)
    if calculated != root:
        raise RootMismatchError(root, calculated)


def root_from_consistency_proof(
    size1: int, size2: int, proof: Sequence[bytes], root1: bytes
) -> bytes:
    """The larger tree's root implied by a consistency proof, checking ``root1`` on the way.

    Requires ``0 < size1 <= size2``. Raises ``RootMismatchError`` when the
    proof does not lead back to ``root1``.
    """
    _require_hash(root1, "first root")
    _require_proof_hashes(proof)
    if size1 == 0:
        raise InvalidProofError("a consistency proof from the empty tree is meaningless")
    if size2 < size1:
        raise InvalidProofError(f"size2 ({size2}) < size1 ({size1})")
    if size1 == size2:
        if proof:
            raise InvalidProofError("sizes are equal but the proof is not empty")
        return root1
    if not proof:
        raise InvalidProofError("empty proof for different sizes")

    inner, border = _decompose(size1 - 1, size2)
    shift = (size1 & -size1).bit_length() - 1  # trailing zeros of size1
    inner -= shift
    # When size1 is a power of two its root is a node of the larger tree and
    # is not repeated in the proof.
    if size1 == 1 << shift:
        seed, start = root1, 0
    else:
        seed, start = proof[0], 1
    if len(proof) != start + inner + border:
        raise InvalidProofError(f"proof has {len(proof)} hashes, want {start + inner + border}")
    path = proof[start:]
    mask = (size1 - 1) >> shift

    calculated1 = _chain_border_right(_chain_inner_right(seed, path[:inner], mask), path[inner:])
    if calculated1 != root1:
        raise RootMismatchError(root1, calculated1)
    return _chain_border_right(_chain_inner(seed, path[:inner], mask), path[inner:])


def verify_consistency(
    size1: int, size2: int, proof: Sequence[bytes], root1: bytes, root2: bytes
) -> None:
    """Raise unless ``proof`` shows tree ``(size1, root1)`` is a prefix of ``(size2, root2)``."""
    _require_hash(root2, "second root")
    calculated = root_from_consistency_proof(size1, size2, proof, root1)
    if calculated != root2:
        raise RootMismatchError(root2, calculated)
