"""C2SP cosignature/v1: checked against the spec's example and an independent Ed25519."""

from __future__ import annotations

import base64

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from ledger.checkpoint import Checkpoint, open_checkpoint, sign_checkpoint
from ledger.errors import InvalidSignatureError
from ledger.note import COSIGNATURE_V1, NoteSignature, Signer, Verifier, key_id

#: The cosignature line of the example in C2SP tlog-cosignature, whose text says
#: "time 1679315147" for it.
SPEC_EXAMPLE_LINE = (
    "jWbPPwAAAABkGFDLEZMHwSRaJNiIDoe9DYn/zXcrtPHeolMI5OWXEhZCB9dlrDJsX3b2oyin1nPZqhf5nNo0xUe"
    "+mbIUBkBIfZ+qnA=="
)


def test_the_spec_example_carries_key_id_timestamp_and_signature() -> None:
    raw = base64.b64decode(SPEC_EXAMPLE_LINE)
    assert len(raw) == 4 + 8 + 64
    assert int.from_bytes(raw[4:12], "big") == 1679315147


def test_a_cosignature_verifies_independently_per_the_spec() -> None:
    log = Signer.generate("example.com/behind-the-sofa")
    witness = Signer.generate("witness.example.com/w1", COSIGNATURE_V1)
    signed = sign_checkpoint(Checkpoint(log.name, 20852163, bytes(range(32))), log)
    body = signed.note[: signed.note.index("\n\n") + 1].encode()
    cosignature = witness.cosign(body, 1679315147)
    # Key id: SHA-256(name || "\n" || 0x04 || public key)[:4]; message: header, time, body.
    assert witness.key_id == key_id(witness.name, b"\x04" + witness.public_key)
    assert cosignature[:8] == (1679315147).to_bytes(8, "big")
    message = b"cosignature/v1\ntime 1679315147\n" + body
    Ed25519PublicKey.from_public_bytes(witness.public_key).verify(cosignature[8:], message)
    # Its vkey names algorithm 0x04 and parses back to a cosignature verifier.
    parsed = Verifier.from_vkey(witness.verifier.vkey)
    assert (
        parsed.algorithm == COSIGNATURE_V1
        and base64.b64decode(witness.verifier.vkey.split("+", 2)[2])[0] == 0x04
    )
    cosigned = signed.note + NoteSignature(witness.name, witness.key_id, cosignature).line()
    checkpoint, opened = open_checkpoint(cosigned, log.verifier, [parsed])
    assert checkpoint.size == 20852163
    assert {s.name for s in opened.verified} == {log.name, witness.name}


def test_a_changed_timestamp_or_body_breaks_the_cosignature() -> None:
    log = Signer.generate("log.example/a")
    witness = Signer.generate("w.example/1", COSIGNATURE_V1)
    signed = sign_checkpoint(Checkpoint(log.name, 5, bytes(32)), log)
    body = signed.note[: signed.note.index("\n\n") + 1].encode()
    cosignature = witness.cosign(body, 100)
    later = (101).to_bytes(8, "big") + cosignature[8:]
    line = NoteSignature(witness.name, witness.key_id, later).line()
    with pytest.raises(InvalidSignatureError):
        open_checkpoint(signed.note + line, log.verifier, [witness.verifier])
    assert not witness.verifier.verify(body.replace(b"5", b"6", 1), cosignature)
    with pytest.raises(ValueError, match="only a cosigner"):
        log.cosign(body, 1)
    with pytest.raises(ValueError, match="only cosignatures"):
        witness.sign(body)
