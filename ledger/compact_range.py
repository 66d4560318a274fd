"""Proving that a run of entries belongs to a signed tree without hashing the rest of it.

A report covers a period: a few contiguous runs of entry indices. Re-hashing every entry
from 0 to prove them costs the whole history; a compact range costs the period. The
compact range of ``[begin, end)`` is the hashes of its maximal aligned complete subtrees,
left to right (``tree.complete_subtrees``). Two adjacent compact ranges merge into one,
and the compact range of ``[0, size)`` folded from the right is the tree's root (RFC
9162's split). So a run ``[begin, end)`` of a tree of ``size`` is proved by the compact
ranges of ``[0, begin)`` and ``[end, size)``: at most 2·log2(size) hashes, while the
verifier hashes only the run's own leaves.

Pure: the prover reads complete-subtree hashes through a ``NodeReader``.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from .errors import InvalidProofError, OutOfRangeError, RootMismatchError
from .hashing import EMPTY_ROOT, HASH_SIZE, node_hash
from .tree import NodeReader, complete_subtrees

__all__ = ["CompactRange", "RangeProof", "prove_range", "verify_range"]


@dataclass(frozen=True)
class CompactRange:
    """``[begin, end)`` and the hash of each of its maximal aligned complete subtrees."""

    begin: int
    end: int
    hashes: tuple[bytes, ...]

    def __post_init__(self) -> None:
        if not 0 <= self.begin <= self.end:
            raise InvalidProofError(f"bad range [{self.begin}, {self.end})")
        if len(self.hashes) != len(complete_subtrees(self.begin, self.end)):
            raise InvalidProofError(
                f"[{self.begin}, {self.end}) has {len(complete_subtrees(self.begin, self.end))}"
                f" complete subtrees, not {len(self.hashes)} hashes"
            )
        if any(len(h) != HASH_SIZE for h in self.hashes):
            raise InvalidProofError("a hash of the wrong size")

    @classmethod
    def of_leaves(cls, begin: int, leaf_hashes: Iterable[bytes]) -> CompactRange:
        """The compact range of consecutive leaf hashes starting at index ``begin``."""
        stack: list[tuple[int, int, bytes]] = []
        end = begin
        for leaf in leaf_hashes:
            _push(stack, (0, end, leaf))
            end += 1
        return cls(begin, end, tuple(h for _, _, h in stack))

    def merge(self, right: CompactRange) -> CompactRange:
        """This range followed by the adjacent ``right``."""
        if right.begin != self.end:
            raise InvalidProofError(
                f"[{self.begin}, {self.end}) and [{right.begin}, {right.end}) are not adjacent"
            )
        stack = list(_nodes(self))
        for node in _nodes(right):
            _push(stack, node)
        return CompactRange(self.begin, right.end, tuple(h for _, _, h in stack))

    def root(self) -> bytes:
        """The tree head of the first ``end`` leaves (a range from 0 only)."""
        if self.begin != 0:
            raise InvalidProofError("only a range from entry 0 folds into a tree head")
        if not self.hashes:
            return EMPTY_ROOT
        result = self.hashes[-1]
        for left in reversed(self.hashes[:-1]):
            result = node_hash(left, result)
        return result


def _nodes(compact: CompactRange) -> Iterable[tuple[int, int, bytes]]:
    """(level, index, hash) of each subtree, left to right."""
    subtrees = complete_subtrees(compact.begin, compact.end)
    return ((level, index, h) for (level, index), h in zip(subtrees, compact.hashes, strict=True))


def _push(stack: list[tuple[int, int, bytes]], node: tuple[int, int, bytes]) -> None:
    """Append a subtree that starts where the stack ends, merging it with its left sibling
    (and the parent with its own, and so on) as the tree does."""
    level, index, value = node
    while stack:
        top_level, top_index, top_value = stack[-1]
        if top_level != level or index % 2 == 0 or top_index != index - 1:
            break
        stack.pop()
        level, index, value = level + 1, index // 2, node_hash(top_value, value)
    stack.append((level, index, value))


@dataclass(frozen=True)
class RangeProof:
    """What proves the leaves ``[begin, end)`` belong to the tree of ``size``: the compact
    ranges around them."""

    begin: int
    end: int
    size: int
    before: tuple[bytes, ...]  # the compact range of [0, begin)
    after: tuple[bytes, ...]  # the compact range of [end, size)


def prove_range(begin: int, end: int, size: int, read_node: NodeReader) -> RangeProof:
    """The proof of ``[begin, end)`` in the tree of ``size``, read from stored subtrees."""
    if not 0 <= begin <= end <= size:
        raise OutOfRangeError(f"[{begin}, {end}) is not within a tree of {size}")

    def hashes(lo: int, hi: int) -> tuple[bytes, ...]:
        return tuple(read_node(level, index) for level, index in complete_subtrees(lo, hi))

    return RangeProof(begin, end, size, hashes(0, begin), hashes(end, size))


def verify_range(proof: RangeProof, leaf_hashes: Sequence[bytes], root: bytes) -> None:
    """Raise unless ``leaf_hashes`` are leaves ``[begin, end)`` of the tree whose head is
    ``root`` at ``size`` (``InvalidProofError`` for a malformed proof,
    ``RootMismatchError`` for leaves or hashes that are not the tree's)."""
    if len(leaf_hashes) != proof.end - proof.begin:
        raise InvalidProofError(
            f"{len(leaf_hashes)} leaves for [{proof.begin}, {proof.end}): "
            f"{proof.end - proof.begin} expected"
        )
    if not proof.end <= proof.size:
        raise InvalidProofError(f"[{proof.begin}, {proof.end}) ends past {proof.size}")
    whole = (
        CompactRange(0, proof.begin, proof.before)
        .merge(CompactRange.of_leaves(proof.begin, leaf_hashes))
        .merge(CompactRange(proof.end, proof.size, proof.after))
    )
    calculated = whole.root()
    if calculated != root:
        raise RootMismatchError(root, calculated)
