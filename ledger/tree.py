"""Building RFC 9162 proofs from stored complete subtrees.

Pure: the functions here compute which subtrees a proof needs and fold
them, reading complete-subtree hashes through a ``NodeReader`` supplied by
the storage layer. Checking proofs lives in ``proof.py``.

A complete subtree is named ``(level, index)``: it covers leaves
``[index << level, (index + 1) << level)``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from .errors import OutOfRangeError
from .hashing import EMPTY_ROOT, node_hash

__all__ = [
    "NodeReader",
    "complete_subtrees",
    "consistency_proof",
    "consistency_proof_ranges",
    "inclusion_proof",
    "inclusion_proof_ranges",
    "inclusion_proofs",
    "range_hash",
    "tree_root",
]

#: Returns the hash of the complete subtree ``(level, index)``.
NodeReader = Callable[[int, int], bytes]


def _largest_power_of_two_below(n: int) -> int:
    """Largest k = 2^i with k < n. Requires n > 1."""
    return 1 << ((n - 1).bit_length() - 1)


def complete_subtrees(begin: int, end: int) -> list[tuple[int, int]]:
    """Decompose ``[begin, end)`` into maximal aligned complete subtrees, left to right."""
    nodes: list[tuple[int, int]] = []
    while begin < end:
        level = (begin & -begin).bit_length() - 1 if begin else (end - begin).bit_length() - 1
        while (1 << level) > end - begin:
            level -= 1
        nodes.append((level, begin >> level))
        begin += 1 << level
    return nodes


def range_hash(begin: int, end: int, read_node: NodeReader) -> bytes:
    """MTH of leaves ``[begin, end)`` for a range that occurs in RFC 9162's recursion.

    Such a range starts at a multiple of a power of two at least as large as
    its own largest block, so its complete subtrees come largest first and
    folding them from the right is RFC 9162's split.
    """
    nodes = complete_subtrees(begin, end)
    result = read_node(*nodes[-1])
    for level, index in reversed(nodes[:-1]):
        result = node_hash(read_node(level, index), result)
    return result


def tree_root(size: int, read_node: NodeReader) -> bytes:
    """MTH of the first ``size`` leaves."""
    return EMPTY_ROOT if size == 0 else range_hash(0, size, read_node)


def inclusion_proof_ranges(index: int, size: int) -> list[tuple[int, int]]:
    """Leaf ranges whose hashes form PATH(index, D[0:size]), deepest first (RFC 9162 §2.1.3.1)."""
    if not 0 <= index < size:
        raise OutOfRangeError(f"index {index} is outside a tree of size {size}")
    ranges: list[tuple[int, int]] = []
    begin, end = 0, size
    while end - begin > 1:
        k = _largest_power_of_two_below(end - begin)
        if index < begin + k:
            ranges.append((begin + k, end))
            end = begin + k
        else:
            ranges.append((begin, begin + k))
            begin += k
    ranges.reverse()
    return ranges


def consistency_proof_ranges(size1: int, size2: int) -> list[tuple[int, int]]:
    """Leaf ranges whose hashes form PROOF(size1, D[0:size2]) (RFC 9162 §2.1.4.1).

    Requires ``0 < size1 <= size2``; equal sizes give an empty proof.
    """
    if not 0 < size1 <= size2:
        raise OutOfRangeError(f"no consistency proof from size {size1} to size {size2}")
    ranges: list[tuple[int, int]] = []
    begin, end, m, whole = 0, size2, size1, True
    while True:
        n = end - begin
        if m == n:
            if not whole:
                ranges.append((begin, end))
            break
        k = _largest_power_of_two_below(n)
        if m <= k:
            ranges.append((begin + k, end))
            end = begin + k
        else:
            ranges.append((begin, begin + k))
            begin += k
            m -= k
            whole = False
    ranges.reverse()
    return ranges


def inclusion_proof(index: int, size: int, read_node: NodeReader) -> list[bytes]:
    """The audit path for leaf ``index`` in the tree of ``size`` leaves."""
    return [range_hash(b, e, read_node) for b, e in inclusion_proof_ranges(index, size)]


def inclusion_proofs(indices: Iterable[int], size: int, read_node: NodeReader) -> list[list[bytes]]:
    """Audit paths for several leaves of one tree (a receipt's batch).

    Neighbouring leaves share most of their paths; each subtree hash is
    computed once.
    """
    memo: dict[tuple[int, int], bytes] = {}

    def shared_range_hash(begin: int, end: int) -> bytes:
        found = memo.get((begin, end))
        if found is None:
            found = memo[(begin, end)] = range_hash(begin, end, read_node)
        return found

    return [
        [shared_range_hash(b, e) for b, e in inclusion_proof_ranges(index, size)]
        for index in indices
    ]


def consistency_proof(size1: int, size2: int, read_node: NodeReader) -> list[bytes]:
    """The consistency proof between the trees of ``size1`` and ``size2`` leaves."""
    return [range_hash(b, e, read_node) for b, e in consistency_proof_ranges(size1, size2)]
