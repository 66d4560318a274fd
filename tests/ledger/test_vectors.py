"""Published vectors (transparency-dev/merkle, x/mod, C2SP), copied verbatim in tests/vectors.

Two cases where implementations disagree are decided here (see README,
"Design decisions"): every hash must be 32 bytes (as x/mod), and a
consistency proof from size 0 is always rejected (as current transparency-dev).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from ledger.checkpoint import Checkpoint
from ledger.errors import (
    InvalidSignatureError,
    LedgerError,
    MalformedNoteError,
    MalformedVerifierKeyError,
    ProofError,
    UnverifiedNoteError,
)
from ledger.hashing import EMPTY_ROOT, leaf_hash, node_hash, root_of_leaf_hashes
from ledger.note import Signer, Verifier, open_note, sign_note
from ledger.proof import verify_consistency, verify_inclusion
from ledger.tree import consistency_proof, inclusion_proof

VECTORS = Path(__file__).parent.parent / "vectors"

#: Where careledger decides against the upstream expectation, and why.
DECIDED = {
    # transparency-dev only compares bytes; we require 32-byte hashes (as x/mod).
    "testdata/consistency/additional/sizes-are-equal-one-and-proof-is-empty.json": False,
}


def load(name: str) -> Any:
    return json.loads((VECTORS / name).read_text(encoding="utf-8"))


TREE = load("rfc6962_tree.json")
LEAVES = [bytes.fromhex(h) for h in TREE["leaves_hex"]]
LEAF_HASHES = [leaf_hash(d) for d in LEAVES]


def case_id(case: dict[str, Any]) -> str:
    return str(case.get("file") or case.get("desc") or case.get("id"))


@pytest.mark.parametrize("vector", TREE["hasher_vectors"], ids=lambda v: v["desc"])
def test_hasher_vectors(vector: dict[str, str]) -> None:
    want = bytes.fromhex(vector["want_hex"])
    if vector["kind"] == "empty_root":
        assert EMPTY_ROOT == want == root_of_leaf_hashes([])
    elif vector["kind"] == "leaf":
        assert leaf_hash(bytes.fromhex(vector["input_hex"])) == want
    else:
        assert (
            node_hash(bytes.fromhex(vector["left_hex"]), bytes.fromhex(vector["right_hex"])) == want
        )


@pytest.mark.parametrize("size", range(9))
def test_roots_by_size(size: int) -> None:
    assert root_of_leaf_hashes(LEAF_HASHES[:size]).hex() == TREE["roots_by_size_hex"][size]


def test_node_hashes_by_level_are_what_the_tree_builder_reads() -> None:
    levels = [[bytes.fromhex(h) for h in level] for level in TREE["node_hashes_by_level_hex"]]

    def read_node(level: int, index: int) -> bytes:
        return levels[level][index]

    for size in range(1, 9):
        for index in range(size):
            proof = inclusion_proof(index, size, read_node)
            verify_inclusion(
                index,
                size,
                LEAF_HASHES[index],
                proof,
                bytes.fromhex(TREE["roots_by_size_hex"][size]),
            )
        for size1 in range(1, size + 1):
            proof = consistency_proof(size1, size, read_node)
            verify_consistency(
                size1,
                size,
                proof,
                bytes.fromhex(TREE["roots_by_size_hex"][size1]),
                bytes.fromhex(TREE["roots_by_size_hex"][size]),
            )


def _inclusion_cases() -> list[dict[str, Any]]:
    data = load("inclusion.json")
    return data["classic"]["cases"] + data["probes"]["cases"]


def _consistency_cases() -> list[dict[str, Any]]:
    data = load("consistency.json")
    return data["classic"]["cases"] + data["probes"]["cases"]


def _hex_list(values: list[str]) -> list[bytes]:
    return [bytes.fromhex(v) for v in values]


@pytest.mark.parametrize("case", _inclusion_cases(), ids=case_id)
def test_inclusion_vectors(case: dict[str, Any]) -> None:
    want = DECIDED.get(case_id(case), case["want_valid"])
    args = (
        case["leaf_index"],
        case["tree_size"],
        bytes.fromhex(case["leaf_hash_hex"]),
        _hex_list(case["proof_hex"]),
        bytes.fromhex(case["root_hex"]),
    )
    if want:
        verify_inclusion(*args)
    else:
        with pytest.raises(ProofError):
            verify_inclusion(*args)


@pytest.mark.parametrize("case", _consistency_cases(), ids=case_id)
def test_consistency_vectors(case: dict[str, Any]) -> None:
    want = DECIDED.get(case_id(case), case["want_valid"])
    args = (
        case["size1"],
        case["size2"],
        _hex_list(case["proof_hex"]),
        bytes.fromhex(case["root1_hex"]),
        bytes.fromhex(case["root2_hex"]),
    )
    if want:
        verify_consistency(*args)
    else:
        with pytest.raises(ProofError):
            verify_consistency(*args)


def test_the_classic_proofs_are_the_ones_careledger_builds() -> None:
    """Same hashes, same order: a proof careledger serves is the one other logs serve."""
    levels = [[bytes.fromhex(h) for h in level] for level in TREE["node_hashes_by_level_hex"]]
    read_node = lambda level, index: levels[level][index]  # noqa: E731
    data = load("inclusion.json")
    for case in data["classic"]["cases"]:
        built = inclusion_proof(case["leaf_index"], case["tree_size"], read_node)
        assert built == _hex_list(case["proof_hex"])
    for case in load("consistency.json")["classic"]["cases"]:
        built = consistency_proof(case["size1"], case["size2"], read_node)
        assert built == _hex_list(case["proof_hex"])


NOTES = load("notes.json")

_ERRORS: dict[str, type[LedgerError]] = {
    "note has no verifiable signatures": UnverifiedNoteError,
    "malformed note": MalformedNoteError,
}


def _note_bytes(case: dict[str, Any]) -> bytes:
    if "note_bytes_hex" in case:
        return bytes.fromhex(case["note_bytes_hex"])
    return str(case["note"]).encode()


@pytest.mark.parametrize("case", NOTES["cases"], ids=lambda c: c["id"])
def test_signed_note_vectors(case: dict[str, Any]) -> None:
    verifiers = [Verifier.from_vkey(v) for v in case["vkeys"]]
    note = _note_bytes(case)
    if case["want_valid"]:
        opened = open_note(note, verifiers)
        got = [f"{s.name}+{s.key_id.hex()}" for s in opened.verified]
        assert got == case["want_verified_by"]
        assert [f"{s.name}+{s.key_id.hex()}" for s in opened.unverified] == case.get(
            "want_unverified", []
        )
        return
    error = case["want_error"]
    expected = InvalidSignatureError if error.startswith("invalid signature") else _ERRORS[error]
    with pytest.raises(expected) as caught:
        open_note(note, verifiers)
    assert str(caught.value).startswith(error)


@pytest.mark.parametrize("case", NOTES["invalid_vkeys"]["cases"], ids=lambda c: c["why"])
def test_invalid_verifier_keys_are_refused(case: dict[str, str]) -> None:
    with pytest.raises(MalformedVerifierKeyError):
        Verifier.from_vkey(case["vkey"])


@pytest.mark.parametrize("name", ["PeterNeumann", "EnochRoot"])
def test_signing_reproduces_the_published_signatures(name: str) -> None:
    """Ed25519 is deterministic: our signer must emit x/mod's exact signature lines."""
    key = NOTES["keys"][name]
    signer = Signer.from_skey(key.get("skey") or key["skey_derived"])
    assert signer.verifier.vkey == key["vkey"]
    case = next(c for c in NOTES["cases"] if c["id"] == "xmod-peter-enoch-both-known")
    text, _, signatures = case["note"].rpartition("\n\n")
    text += "\n"
    mine = sign_note(text, [signer])
    line = next(s for s in signatures.splitlines() if s.startswith(f"— {name} "))
    assert mine == text + "\n" + line + "\n"


def test_c2sp_checkpoint_example_parses() -> None:
    case = next(c for c in NOTES["cases"] if c["id"] == "c2sp-checkpoint-example-no-key")
    body = case["note"].rpartition("\n\n")[0] + "\n"
    checkpoint = Checkpoint.parse(body)
    assert (checkpoint.origin, checkpoint.size) == ("example.com/behind-the-sofa", 20852163)
    assert checkpoint.body() == body
