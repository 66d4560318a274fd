"""A naive RFC 9162 implementation, written straight from the RFC's recursive definitions.

It shares nothing with ``ledger/`` (not even the hasher), so agreement
between the two is evidence, not tautology. Quadratic and slow: tests only.
"""

from __future__ import annotations

import hashlib


def leaf(d: bytes) -> bytes:
    return hashlib.sha256(b"\x00" + d).digest()


def node(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(b"\x01" + left + right).digest()


def _k(n: int) -> int:
    """Largest power of two smaller than n (n > 1)."""
    k = 1
    while k * 2 < n:
        k *= 2
    return k


def mth(leaf_hashes: list[bytes]) -> bytes:
    n = len(leaf_hashes)
    if n == 0:
        return hashlib.sha256(b"").digest()
    if n == 1:
        return leaf_hashes[0]
    k = _k(n)
    return node(mth(leaf_hashes[:k]), mth(leaf_hashes[k:]))


def path(m: int, leaf_hashes: list[bytes]) -> list[bytes]:
    """PATH(m, D[n]) from RFC 9162 §2.1.3.1."""
    n = len(leaf_hashes)
    if n == 1:
        return []
    k = _k(n)
    if m < k:
        return [*path(m, leaf_hashes[:k]), mth(leaf_hashes[k:])]
    return [*path(m - k, leaf_hashes[k:]), mth(leaf_hashes[:k])]


def subproof(m: int, leaf_hashes: list[bytes], b: bool) -> list[bytes]:
    """SUBPROOF(m, D[n], b) from RFC 9162 §2.1.4.1."""
    n = len(leaf_hashes)
    if m == n:
        return [] if b else [mth(leaf_hashes)]
    k = _k(n)
    if m <= k:
        return [*subproof(m, leaf_hashes[:k], b), mth(leaf_hashes[k:])]
    return [*subproof(m - k, leaf_hashes[k:], False), mth(leaf_hashes[:k])]


def proof(m: int, leaf_hashes: list[bytes]) -> list[bytes]:
    """PROOF(m, D[n]) for 0 < m <= n."""
    return subproof(m, leaf_hashes, True)
