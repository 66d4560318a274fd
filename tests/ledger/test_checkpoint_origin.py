"""A checkpoint's origin is the log's name for itself; its key name may differ (C2SP), and a
note signed by the right key for another origin is still refused."""

from __future__ import annotations

import base64
import hashlib
import re

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from ledger.checkpoint import Checkpoint, open_checkpoint
from ledger.errors import MalformedCheckpointError, MalformedVerifierKeyError
from ledger.note import Signer, Verifier, open_note, sign_note

ROOT = hashlib.sha256(b"root").digest()


def _note(key_name: str, origin: str) -> tuple[str, Verifier]:
    signer = Signer.generate(key_name)
    return sign_note(Checkpoint(origin, 7, ROOT).body(), [signer]), signer.verifier


def test_the_origin_may_differ_from_the_key_name_as_for_sum_golang_org() -> None:
    note, verifier = _note("sum.golang.org", "go.sum database tree")
    checkpoint, opened = open_checkpoint(note, verifier, origin="go.sum database tree")
    assert (checkpoint.origin, checkpoint.size, checkpoint.root) == (
        "go.sum database tree",
        7,
        ROOT,
    )
    # The signature checked by an independent Ed25519 implementation too.
    signature_line = note.rstrip("\n").rsplit("\n", 1)[1]
    raw = base64.b64decode(signature_line.split(" ")[2])
    Ed25519PublicKey.from_public_bytes(verifier.public_key).verify(raw[4:], opened.text.encode())
    # Without the origin, the key name is taken for it, and the note is refused.
    with pytest.raises(MalformedCheckpointError, match=re.escape("go.sum database tree")):
        open_checkpoint(note, verifier)


def test_a_correctly_signed_note_of_another_origin_is_refused() -> None:
    note, verifier = _note("ledger.example/a", "ledger.example/b")
    with pytest.raises(MalformedCheckpointError, match="is not the log"):
        open_checkpoint(note, verifier)
    with pytest.raises(MalformedCheckpointError, match="is not the log"):
        open_checkpoint(note, verifier, origin="ledger.example/a")
    assert open_checkpoint(note, verifier, origin="ledger.example/b")[0].size == 7


def test_two_different_keys_with_one_name_and_id_are_refused_in_either_order() -> None:
    note, verifier = _note("log.example", "log.example")
    impostor = Verifier(verifier.name, verifier.key_id, bytes(32))
    for keys in ([verifier, impostor], [impostor, verifier]):
        with pytest.raises(MalformedVerifierKeyError, match="ambiguous"):
            open_note(note, keys)
    assert open_note(note, [verifier, verifier]).verified  # the same key twice is one key
