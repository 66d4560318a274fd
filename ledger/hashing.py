"""The one place where RFC 9162 §2.1 hashing is defined (SHA-256 with domain separation)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from hashlib import sha256

__all__ = [
    "EMPTY_ROOT",
    "HASH_SIZE",
    "leaf_hash",
    "node_hash",
    "pair_hashes",
    "root_of_leaf_hashes",
]

HASH_SIZE = 32
_LEAF_PREFIX = b"\x00"
_NODE_PREFIX = b"\x01"

#: MTH({}) = SHA-256 of the empty string.
EMPTY_ROOT = sha256(b"").digest()


def leaf_hash(leaf: bytes) -> bytes:
    """MTH({d}) = SHA-256(0x00 || d)."""
    return sha256(_LEAF_PREFIX + leaf).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    """SHA-256(0x01 || left || right)."""
    return sha256(_NODE_PREFIX + left + right).digest()


def pair_hashes(children: Sequence[bytes], first: int, stop: int) -> list[bytes]:
    """Parents of ``children[2i], children[2i+1]`` for ``first <= i < stop``, in one call.

    The tile builder's inner loop: one function call per row instead of per node.
    """
    return [
        sha256(_NODE_PREFIX + children[2 * i] + children[2 * i + 1]).digest()
        for i in range(first, stop)
    ]


def root_of_leaf_hashes(hashes: Iterable[bytes]) -> bytes:
    """Merkle tree hash over leaf hashes, in O(n) time and O(log n) memory.

    Keeps a stack of complete subtrees (largest first); the root of a tree
    whose size is not a power of two folds them from the right, which is
    exactly RFC 9162's recursive split at the largest power of two.
    """
    stack: list[tuple[int, bytes]] = []  # (height, hash)
    for h in hashes:
        height, current = 0, h
        while stack and stack[-1][0] == height:
            current = node_hash(stack.pop()[1], current)
            height += 1
        stack.append((height, current))
    if not stack:
        return EMPTY_ROOT
    root = stack[-1][1]
    for _, left in reversed(stack[:-1]):
        root = node_hash(left, root)
    return root
