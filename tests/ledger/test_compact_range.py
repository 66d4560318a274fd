"""Compact ranges (issue 22's base): a run of entries is proved against a tree head with
the hashes around it, checked against the published RFC 6962 vectors and the naive
reference implementation (``reference.py``, which shares no code with ``ledger/``)."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest

from ledger.compact_range import CompactRange, RangeProof, prove_range, verify_range
from ledger.errors import InvalidProofError, OutOfRangeError, RootMismatchError
from ledger.tree import NodeReader

from . import reference

VECTORS = Path(__file__).resolve().parents[1] / "vectors"
TREE = json.loads((VECTORS / "rfc6962_tree.json").read_text(encoding="utf-8"))
LEAF_HASHES = [reference.leaf(bytes.fromhex(h)) for h in TREE["leaves_hex"]]
ROOTS = [bytes.fromhex(h) for h in TREE["roots_by_size_hex"]]
LEVELS = [[bytes.fromhex(h) for h in level] for level in TREE["node_hashes_by_level_hex"]]


def _published_node(level: int, index: int) -> bytes:
    return LEVELS[level][index]


def _reference_nodes(leaf_hashes: list[bytes]) -> NodeReader:
    def read_node(level: int, index: int) -> bytes:
        return reference.mth(leaf_hashes[index << level : (index + 1) << level])

    return read_node


def test_every_run_of_the_published_tree_is_proved_by_its_surroundings() -> None:
    for size in range(len(ROOTS)):
        assert CompactRange.of_leaves(0, LEAF_HASHES[:size]).root() == ROOTS[size]
        for begin in range(size + 1):
            for end in range(begin, size + 1):
                proof = prove_range(begin, end, size, _published_node)
                verify_range(proof, LEAF_HASHES[begin:end], ROOTS[size])


def test_merging_adjacent_ranges_is_the_range_of_their_union() -> None:
    rng = random.Random(22)
    leaves = [reference.leaf(rng.randbytes(rng.randint(0, 40))) for _ in range(300)]
    read_node = _reference_nodes(leaves)
    for _ in range(300):
        a, b, c = sorted(rng.randint(0, len(leaves)) for _ in range(3))
        left = CompactRange.of_leaves(a, leaves[a:b])
        right = CompactRange.of_leaves(b, leaves[b:c])
        whole = CompactRange.of_leaves(a, leaves[a:c])
        assert left.merge(right) == whole
        # Each hash is the subtree's own, as the reference computes it from its leaves.
        proof = prove_range(a, c, c, read_node)
        assert CompactRange(0, a, proof.before).merge(whole).root() == reference.mth(leaves[:c])


def test_a_period_inside_a_large_tree_needs_only_logarithmically_many_hashes() -> None:
    rng = random.Random(9162)
    leaves = [reference.leaf(n.to_bytes(4, "big")) for n in range(1000)]
    read_node = _reference_nodes(leaves)
    root = reference.mth(leaves)
    for _ in range(40):
        begin, end = sorted(rng.randint(0, 1000) for _ in range(2))
        proof = prove_range(begin, end, 1000, read_node)
        assert len(proof.before) + len(proof.after) <= 2 * 10  # 2·log2(1024)
        verify_range(proof, leaves[begin:end], root)


def _proof_of_the_middle() -> tuple[RangeProof, list[bytes], bytes]:
    leaves = [reference.leaf(bytes([n])) for n in range(37)]
    return prove_range(11, 29, 37, _reference_nodes(leaves)), leaves[11:29], reference.mth(leaves)


def test_altered_removed_or_reordered_entries_are_caught() -> None:
    proof, run, root = _proof_of_the_middle()
    verify_range(proof, run, root)
    altered = [*run[:5], reference.leaf(b"edited"), *run[6:]]
    swapped = [run[1], run[0], *run[2:]]
    for leaves in (altered, swapped):
        with pytest.raises(RootMismatchError):
            verify_range(proof, leaves, root)
    with pytest.raises(InvalidProofError, match="17 leaves"):
        verify_range(proof, run[:-1], root)  # one removed: the count no longer fits
    # A hash around the run, or the head, that is not the tree's.
    wrong = RangeProof(proof.begin, proof.end, proof.size, proof.before, (b"\0" * 32,))
    with pytest.raises((RootMismatchError, InvalidProofError)):
        verify_range(wrong, run, root)
    with pytest.raises(RootMismatchError):
        verify_range(proof, run, reference.mth(run))


def test_malformed_proofs_and_ranges_are_refused_with_a_reason() -> None:
    proof, run, root = _proof_of_the_middle()
    short = RangeProof(proof.begin, proof.end, proof.size, proof.before[:-1], proof.after)
    with pytest.raises(InvalidProofError, match="complete subtrees"):
        verify_range(short, run, root)
    with pytest.raises(InvalidProofError, match="wrong size"):
        CompactRange(0, 1, (b"\0" * 31,))
    with pytest.raises(InvalidProofError, match="not adjacent"):
        CompactRange.of_leaves(0, run[:2]).merge(CompactRange.of_leaves(3, run[:1]))
    with pytest.raises(InvalidProofError, match="from entry 0"):
        CompactRange.of_leaves(1, run[:1]).root()
    with pytest.raises(OutOfRangeError):
        prove_range(5, 40, 37, _published_node)
    with pytest.raises(InvalidProofError, match="bad range"):
        CompactRange(3, 2, ())
