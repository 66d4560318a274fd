"""Tile paths and bundles (C2SP tlog-tiles), checkpoint and note parsing corner cases."""

from __future__ import annotations

import base64

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from ledger.checkpoint import Checkpoint, open_checkpoint, sign_checkpoint
from ledger.errors import (
    LedgerError,
    MalformedCheckpointError,
    MalformedNoteError,
    UnverifiedNoteError,
)
from ledger.leaf import chain_prefix, decode_leaf, encode_leaf
from ledger.note import Signer, Verifier, key_id
from ledger.tiles import (
    encode_entry_bundle,
    format_tile_path,
    parse_entry_bundle,
    parse_tile_path,
)

ROOT = bytes(range(32))


@pytest.mark.parametrize(
    ("level", "index", "width", "path"),
    [
        (0, 0, 256, "tile/0/000"),
        (0, 1234067, 256, "tile/0/x001/x234/067"),
        (1, 1000, 256, "tile/1/x001/000"),
        (2, 5, 17, "tile/2/005.p/17"),
        (None, 48, 256, "tile/entries/048"),
        (None, 1234067, 3, "tile/entries/x001/x234/067.p/3"),
    ],
)
def test_tile_paths_round_trip(level: int | None, index: int, width: int, path: str) -> None:
    assert format_tile_path(level, index, width) == path
    parsed = parse_tile_path(path)
    assert (parsed.level, parsed.index, parsed.width) == (level, index, width)


@pytest.mark.parametrize(
    "path",
    [
        "tile/0/1",
        "tile/0/x000/001",
        "tile/0/001.p/256",
        "tile/0/001.p/0",
        "tile/00/001",
        "tile/0/001/",
        "tile/entries/12",
        "tile/0/x1/001",
        "../tile/0/000",
    ],
)
def test_bad_tile_paths_are_refused(path: str) -> None:
    with pytest.raises(LedgerError):
        parse_tile_path(path)


def test_entry_bundles_round_trip_and_refuse_truncation() -> None:
    leaves = [b"", b"a", bytes(300), b"x" * 65535]
    bundle = encode_entry_bundle(leaves)
    assert bundle[:2] == b"\x00\x00" and bundle[2:4] == b"\x00\x01"
    assert parse_entry_bundle(bundle) == leaves
    with pytest.raises(LedgerError):
        parse_entry_bundle(bundle[:-1])
    with pytest.raises(ValueError):
        encode_entry_bundle([b"x" * 65536])


def test_checkpoint_signature_verifies_with_an_independent_ed25519() -> None:
    """Check our note format and key id with the `cryptography` package, not PyNaCl."""
    signer = Signer.generate("example.gov.cn/careledger")
    signed = sign_checkpoint(Checkpoint(signer.name, 42, ROOT), signer)
    body, _, block = signed.note.rpartition("\n\n")
    assert body + "\n" == f"{signer.name}\n42\n{base64.b64encode(ROOT).decode()}\n"
    dash_name, encoded = block.rstrip("\n").rsplit(" ", 1)
    assert dash_name == f"— {signer.name}"
    raw = base64.b64decode(encoded)
    public = base64.b64decode(signer.verifier.vkey.split("+", 2)[2])
    assert public[0] == 1 and raw[:4] == key_id(signer.name, public)
    Ed25519PublicKey.from_public_bytes(public[1:]).verify(raw[4:], (body + "\n").encode())


def test_verifier_keys_whose_base64_holds_a_plus_parse() -> None:
    for _ in range(64):
        signer = Signer.generate("log.example/x")
        if "+" in signer.verifier.vkey.split("+", 2)[2]:
            break
    else:
        pytest.fail("no key with '+' in 64 draws (chance about 2^-64)")
    assert Verifier.from_vkey(signer.verifier.vkey) == signer.verifier
    assert Signer.from_skey(signer.skey) == signer


def test_open_checkpoint_requires_the_log_signature_and_origin() -> None:
    log, other = Signer.generate("log.example/a"), Signer.generate("log.example/b")
    signed = sign_checkpoint(Checkpoint(log.name, 7, ROOT), log)
    checkpoint, _ = open_checkpoint(signed.note, log.verifier)
    assert checkpoint == Checkpoint(log.name, 7, ROOT)
    with pytest.raises(UnverifiedNoteError):
        open_checkpoint(signed.note, other.verifier)
    with pytest.raises(ValueError):
        sign_checkpoint(Checkpoint(log.name, 7, ROOT), other)


@pytest.mark.parametrize(
    "body",
    [
        "o\n01\nAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n",  # leading zero
        "o\n-1\nAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n",
        "o\n1\nAAAA\n",  # short root
        "o\n1\nAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\n",  # missing padding
        "o\n1\n!AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\n",
        "o\n1\n",
        "\n1\nAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n",
        "o\n1\nAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=",  # no final newline
        "o\n1\nAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n\n",  # empty extension line
    ],
)
def test_checkpoint_parsing_is_strict(body: str) -> None:
    with pytest.raises(MalformedCheckpointError):
        Checkpoint.parse(body)


def test_note_with_101_signatures_is_malformed_even_from_a_real_key() -> None:
    signer = Signer.generate("n")
    note = Checkpoint("n", 1, ROOT).body()
    line = sign_checkpoint(Checkpoint("n", 1, ROOT), signer).note.rpartition("\n\n")[2]
    with pytest.raises(MalformedNoteError):
        open_checkpoint(note + "\n" + line * 101, signer.verifier)


def test_leaf_encoding_is_canonical_and_starts_with_the_chain() -> None:
    prev = bytes(range(32))
    leaf = encode_leaf(7, prev, "2026-11-23T08:00:00.000000Z", "record.consultation", b'{"a":1}')
    assert leaf.startswith(chain_prefix(7, prev))
    header = decode_leaf(leaf)
    assert (header.index, header.prev, header.statement, header.type) == (
        7,
        prev,
        {"a": 1},
        "record.consultation",
    )
    with pytest.raises(LedgerError):
        decode_leaf(leaf.replace(b'"a":1', b'"a": 1'))
