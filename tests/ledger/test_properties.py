"""Property tests: careledger's proofs against a naive RFC reference and against pymerkle."""

from __future__ import annotations

import functools

import pymerkle
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ledger.errors import ProofError
from ledger.hashing import root_of_leaf_hashes
from ledger.proof import verify_consistency, verify_inclusion
from ledger.tiles import TileRows, node_location
from ledger.tree import consistency_proof, inclusion_proof, inclusion_proofs, tree_root

from . import reference

MAX_SIZE = 3000


@functools.cache
def leaf_hashes(size: int) -> list[bytes]:
    return [reference.leaf(b"entry %d" % i) for i in range(size)]


@functools.cache
def tiled_reader(size: int):  # type: ignore[no-untyped-def]
    """A node reader over tiles built with ``TileRows`` (the storage layout), in memory."""
    tiles: dict[tuple[int, int], TileRows] = {}

    def add(level: int, hashes: list[bytes]) -> None:
        roots = []
        for start in range(0, len(hashes), 256):
            tile = TileRows()
            tile.extend(hashes[start : start + 256])
            tiles[(level, start // 256)] = tile
            if tile.full:
                roots.append(tile.root())
        if roots:
            add(level + 1, roots)

    add(0, leaf_hashes(size))

    def read(level: int, index: int) -> bytes:
        tile_level, tile_index, row, position = node_location(level, index)
        return tiles[(tile_level, tile_index)].rows[row][position]

    return read


@functools.cache
def pymerkle_tree(size: int) -> pymerkle.InmemoryTree:
    tree = pymerkle.InmemoryTree()
    for i in range(size):
        tree.append_entry(b"entry %d" % i)
    return tree


sizes = st.integers(min_value=1, max_value=MAX_SIZE)


@st.composite
def index_and_size(draw: st.DrawFn) -> tuple[int, int]:
    size = draw(sizes)
    return draw(st.integers(0, size - 1)), size


@st.composite
def two_sizes(draw: st.DrawFn) -> tuple[int, int]:
    size2 = draw(sizes)
    return draw(st.integers(1, size2)), size2


@settings(max_examples=300, deadline=None)
@given(index_and_size())
def test_inclusion_proofs_match_the_reference_and_pymerkle(case: tuple[int, int]) -> None:
    index, size = case
    hashes = leaf_hashes(size)
    proof = inclusion_proof(index, size, tiled_reader(size))
    root = tree_root(size, tiled_reader(size))
    assert proof == reference.path(index, hashes[:size])
    assert root == reference.mth(hashes[:size]) == root_of_leaf_hashes(hashes[:size])
    tree = pymerkle_tree(MAX_SIZE)
    assert root == tree.get_root(size)
    # pymerkle counts from 1 and starts its path with the leaf itself.
    assert proof == tree.prove_inclusion(index + 1, size).path[1:]
    verify_inclusion(index, size, hashes[index], proof, root)


@settings(max_examples=100, deadline=None)
@given(index_and_size(), st.integers(1, 600))
def test_a_batch_of_inclusion_proofs_equals_the_reference_paths(
    case: tuple[int, int], count: int
) -> None:
    """Receipts prove a whole batch at once, sharing subtrees: same paths as one by one."""
    first, size = case
    indices = list(range(first, min(size, first + count)))
    paths = inclusion_proofs(indices, size, tiled_reader(size))
    hashes = leaf_hashes(size)
    assert paths == [reference.path(i, hashes[:size]) for i in indices]


@settings(max_examples=300, deadline=None)
@given(two_sizes())
def test_consistency_proofs_match_the_reference_and_verify(case: tuple[int, int]) -> None:
    size1, size2 = case
    hashes = leaf_hashes(size2)
    proof = consistency_proof(size1, size2, tiled_reader(size2))
    assert proof == reference.proof(size1, hashes)
    root1, root2 = reference.mth(hashes[:size1]), reference.mth(hashes)
    verify_consistency(size1, size2, proof, root1, root2)
    tree = pymerkle_tree(MAX_SIZE)
    assert (root1, root2) == (tree.get_root(size1), tree.get_root(size2))


def _flip(data: bytes, bit: int) -> bytes:
    as_int = bytearray(data)
    as_int[bit // 8] ^= 1 << (bit % 8)
    return bytes(as_int)


@settings(max_examples=150, deadline=None)
@given(index_and_size(), st.data())
def test_every_single_bit_change_to_an_inclusion_proof_is_rejected(
    case: tuple[int, int], data: st.DataObject
) -> None:
    index, size = case
    hashes = leaf_hashes(size)
    proof = inclusion_proof(index, size, tiled_reader(size))
    root = reference.mth(hashes)
    leaf = hashes[index]
    bit = data.draw(st.integers(0, 255))
    tampered: list[tuple[int, int, bytes, list[bytes], bytes]] = [
        (index, size, leaf, proof, _flip(root, bit)),
        (index, size, _flip(leaf, bit), proof, root),
    ]
    for i in range(len(proof)):
        tampered.append(
            (index, size, leaf, [*proof[:i], _flip(proof[i], bit), *proof[i + 1 :]], root)
        )
    for flip in range(max(size.bit_length(), 1) + 1):
        tampered.append((index ^ (1 << flip), size, leaf, proof, root))
        # The size is authenticated with its root by the signed checkpoint, so
        # a changed size comes with that size's genuine root.
        other = size ^ (1 << flip)
        tampered.append((index, other, leaf, proof, reference.mth(leaf_hashes(other))))
    for args in tampered:
        with pytest.raises(ProofError):
            verify_inclusion(*args)


@settings(max_examples=150, deadline=None)
@given(two_sizes(), st.data())
def test_every_single_bit_change_to_a_consistency_proof_is_rejected(
    case: tuple[int, int], data: st.DataObject
) -> None:
    size1, size2 = case
    hashes = leaf_hashes(size2)
    proof = consistency_proof(size1, size2, tiled_reader(size2))
    root1, root2 = reference.mth(hashes[:size1]), reference.mth(hashes)
    bit = data.draw(st.integers(0, 255))
    tampered: list[tuple[int, int, list[bytes], bytes, bytes]] = [
        (size1, size2, proof, _flip(root1, bit), root2),
        (size1, size2, proof, root1, _flip(root2, bit)),
    ]
    for i in range(len(proof)):
        tampered.append(
            (size1, size2, [*proof[:i], _flip(proof[i], bit), *proof[i + 1 :]], root1, root2)
        )
    for flip in range(size2.bit_length() + 1):
        # A changed size comes with that size's genuine root (see the inclusion test).
        other1, other2 = size1 ^ (1 << flip), size2 ^ (1 << flip)
        tampered.append((other1, size2, proof, reference.mth(leaf_hashes(other1)), root2))
        tampered.append((size1, other2, proof, root1, reference.mth(leaf_hashes(other2))))
    for args in tampered:
        with pytest.raises(ProofError):
            verify_consistency(*args)


def test_truncated_and_extended_proofs_are_rejected() -> None:
    size = 1000
    hashes = leaf_hashes(size)
    proof = inclusion_proof(123, size, tiled_reader(size))
    root = reference.mth(hashes)
    for bad in (proof[:-1], [*proof, proof[0]], []):
        with pytest.raises(ProofError):
            verify_inclusion(123, size, hashes[123], bad, root)
