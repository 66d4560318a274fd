"""C2SP signed-note with Ed25519 keys: key strings, signing and strict opening.

A note is UTF-8 text ending in a newline, a blank line, then one or more
signature lines ``— <name> <base64(keyid || signature)>``. The key id is
``SHA-256(name || 0x0A || alg || pubkey)[:4]``. Opening a note verifies
every signature by a known key (a bad one is an error, never skipped) and
requires at least one.

Two algorithms: 0x01, a plain Ed25519 note signature (the log's), and 0x04,
a C2SP ``cosignature/v1`` (a witness's): Ed25519 over ``cosignature/v1\n``,
``time <t>\n`` and the note text, carried as ``timestamp (u64 BE) || sig``.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import cached_property

import nacl.exceptions
import nacl.signing

from .errors import (
    InvalidSignatureError,
    MalformedNoteError,
    MalformedVerifierKeyError,
    UnverifiedNoteError,
)

__all__ = [
    "COSIGNATURE_V1",
    "ED25519",
    "NoteSignature",
    "OpenedNote",
    "Signer",
    "Verifier",
    "cosignature_message",
    "key_id",
    "open_note",
    "sign_note",
    "signature_key_ids",
]

ED25519 = 0x01
COSIGNATURE_V1 = 0x04
_ALGORITHMS = (ED25519, COSIGNATURE_V1)
MAX_SIGNATURES = 100
_MAX_TIMESTAMP = 2**63 - 1
_SIG_PREFIX = "— "  # U+2014 EM DASH and a space


def key_id(name: str, algorithm_and_key: bytes) -> bytes:
    """The 4-byte key id of a verifier key (name and ``alg || pubkey``)."""
    return hashlib.sha256(name.encode() + b"\n" + algorithm_and_key).digest()[:4]


def cosignature_message(text: bytes, timestamp: int) -> bytes:
    """What a ``cosignature/v1`` signs: header, time line, then the note text."""
    return b"cosignature/v1\ntime %d\n" % timestamp + text


def _valid_name(name: str) -> bool:
    return bool(name) and "+" not in name and not any(c.isspace() for c in name)


def _b64decode_strict(text: str) -> bytes:
    try:
        return base64.b64decode(text.encode("ascii"), validate=True)
    except (binascii.Error, UnicodeEncodeError) as e:
        raise ValueError(str(e)) from e


@dataclass(frozen=True)
class Verifier:
    """A verifier key ``name+hex(keyid)+base64(alg||pubkey)``: 0x01 note, 0x04 cosignature."""

    name: str
    key_id: bytes
    public_key: bytes
    algorithm: int = ED25519

    @classmethod
    def from_vkey(cls, vkey: str) -> Verifier:
        # base64 may itself contain '+': split at the first two only.
        name, _, rest = vkey.partition("+")
        id_hex, _, key_b64 = rest.partition("+")
        if not _valid_name(name) or len(id_hex) != 8:
            raise MalformedVerifierKeyError(f"malformed verifier id in {vkey!r}")
        try:
            claimed_id = bytes.fromhex(id_hex)
            key = _b64decode_strict(key_b64)
        except ValueError as e:
            raise MalformedVerifierKeyError(f"malformed verifier key {vkey!r}") from e
        if len(key) != 33:
            raise MalformedVerifierKeyError(
                f"verifier key in {vkey!r} is {len(key)} bytes, want 33"
            )
        if key[0] not in _ALGORITHMS:
            raise MalformedVerifierKeyError(f"unknown verifier algorithm {key[0]} in {vkey!r}")
        if key_id(name, key) != claimed_id:
            raise MalformedVerifierKeyError(f"key id does not match the key in {vkey!r}")
        return cls(name, claimed_id, key[1:], key[0])

    @property
    def vkey(self) -> str:
        encoded = base64.b64encode(bytes([self.algorithm]) + self.public_key).decode()
        return f"{self.name}+{self.key_id.hex()}+{encoded}"

    def verify(self, message: bytes, signature: bytes) -> bool:
        if self.algorithm == COSIGNATURE_V1:
            if len(signature) != 72:
                return False
            timestamp = int.from_bytes(signature[:8], "big")
            if timestamp > _MAX_TIMESTAMP:
                return False
            message, signature = cosignature_message(message, timestamp), signature[8:]
        try:
            nacl.signing.VerifyKey(self.public_key).verify(message, signature)
        except (nacl.exceptions.BadSignatureError, ValueError):
            return False
        return True


@dataclass(frozen=True)
class Signer:
    """An Ed25519 signing key for notes, with the name it signs as."""

    name: str
    seed: bytes
    algorithm: int = ED25519

    def __post_init__(self) -> None:
        if not _valid_name(self.name):
            raise ValueError(f"bad signer name {self.name!r}")
        if len(self.seed) != 32:
            raise ValueError("an Ed25519 seed is 32 bytes")
        if self.algorithm not in _ALGORITHMS:
            raise ValueError(f"unknown signer algorithm {self.algorithm}")

    @classmethod
    def generate(cls, name: str, algorithm: int = ED25519) -> Signer:
        return cls(name, bytes(nacl.signing.SigningKey.generate()), algorithm)

    @classmethod
    def from_skey(cls, skey: str) -> Signer:
        """Parse ``PRIVATE+KEY+name+hex(keyid)+base64(0x01||seed)``, checking the key id."""
        parts = skey.strip().split("+", 4)
        if len(parts) != 5 or parts[:2] != ["PRIVATE", "KEY"]:
            raise ValueError("not a signer key (PRIVATE+KEY+name+id+key)")
        _, _, name, id_hex, key_b64 = parts
        key = _b64decode_strict(key_b64)
        if len(key) != 33 or key[0] not in _ALGORITHMS:
            raise ValueError("signer key is not an Ed25519 seed")
        signer = cls(name, key[1:], key[0])
        if signer.key_id.hex() != id_hex:
            raise ValueError("signer key id does not match the key")
        return signer

    @property
    def skey(self) -> str:
        encoded = base64.b64encode(bytes([self.algorithm]) + self.seed).decode()
        return f"PRIVATE+KEY+{self.name}+{self.key_id.hex()}+{encoded}"

    @cached_property
    def _signing_key(self) -> nacl.signing.SigningKey:
        return nacl.signing.SigningKey(self.seed)

    @cached_property
    def public_key(self) -> bytes:
        return bytes(self._signing_key.verify_key)

    @cached_property
    def key_id(self) -> bytes:
        return key_id(self.name, bytes([self.algorithm]) + self.public_key)

    @property
    def verifier(self) -> Verifier:
        return Verifier(self.name, self.key_id, self.public_key, self.algorithm)

    def sign(self, message: bytes) -> bytes:
        """A note signature. Requires an 0x01 key (a cosigner signs with ``cosign``)."""
        if self.algorithm != ED25519:
            raise ValueError("a cosigner key signs only cosignatures")
        return self._signing_key.sign(message).signature

    def cosign(self, text: bytes, timestamp: int) -> bytes:
        """``timestamp || signature`` of a cosignature/v1 over note ``text``."""
        if self.algorithm != COSIGNATURE_V1:
            raise ValueError("only a cosigner key (0x04) makes cosignatures")
        if not 0 <= timestamp <= _MAX_TIMESTAMP:
            raise ValueError("a cosignature timestamp is within 0 .. 2^63-1")
        message = cosignature_message(text, timestamp)
        return timestamp.to_bytes(8, "big") + self._signing_key.sign(message).signature


@dataclass(frozen=True)
class NoteSignature:
    """One signature line: who signed (name, key id) and the raw signature bytes."""

    name: str
    key_id: bytes
    signature: bytes

    def line(self) -> str:
        encoded = base64.b64encode(self.key_id + self.signature).decode()
        return f"{_SIG_PREFIX}{self.name} {encoded}\n"


@dataclass(frozen=True)
class OpenedNote:
    """A note whose signatures by known keys all verified (at least one)."""

    text: str
    verified: tuple[NoteSignature, ...]
    unverified: tuple[NoteSignature, ...]


def sign_note(text: str, signers: Iterable[Signer]) -> str:
    """Sign ``text`` (which must end in a newline and contain no other blank-line ending)."""
    if not text.endswith("\n"):
        raise ValueError("note text must end with a newline")
    _check_text(text.encode())
    message = text.encode()
    lines = [NoteSignature(s.name, s.key_id, s.sign(message)).line() for s in signers]
    if not lines:
        raise ValueError("a note needs at least one signer")
    return text + "\n" + "".join(lines)


def _check_text(raw: bytes) -> str:
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        raise MalformedNoteError("malformed note: not UTF-8") from e
    if any(c < " " and c != "\n" for c in text):
        raise MalformedNoteError("malformed note: control character")
    return text


def _parse_signature_line(line: str) -> NoteSignature:
    if not line.startswith(_SIG_PREFIX):
        raise MalformedNoteError("malformed note: signature line without em dash prefix")
    name, space, encoded = line[len(_SIG_PREFIX) :].partition(" ")
    if not space or not _valid_name(name) or not encoded:
        raise MalformedNoteError("malformed note: bad signature line")
    try:
        raw = _b64decode_strict(encoded)
    except ValueError as e:
        raise MalformedNoteError("malformed note: signature is not base64") from e
    if len(raw) < 5:
        raise MalformedNoteError("malformed note: signature too short")
    return NoteSignature(name, raw[:4], raw[4:])


def _verifier_map(verifiers: Sequence[Verifier]) -> dict[tuple[str, bytes], Verifier]:
    """Verifiers by (name, key id). Two different keys under one name and id would make
    the answer depend on their order, so they are refused; the same key twice is one."""
    known: dict[tuple[str, bytes], Verifier] = {}
    for verifier in verifiers:
        key = (verifier.name, verifier.key_id)
        already = known.setdefault(key, verifier)
        if already != verifier:
            raise MalformedVerifierKeyError(
                f"two different verifier keys are named {verifier.name!r} with key id "
                f"{verifier.key_id.hex()}: which one signs is ambiguous"
            )
    return known


def open_note(note: bytes | str, verifiers: Sequence[Verifier]) -> OpenedNote:
    """Parse and verify a signed note.

    Raises ``MalformedNoteError`` on syntax, ``InvalidSignatureError`` when a
    known key's signature fails, ``UnverifiedNoteError`` when no known key
    signed it. Signatures by unknown keys are returned as unverified.
    """
    raw = note.encode() if isinstance(note, str) else note
    whole = _check_text(raw)
    split = whole.rfind("\n\n")
    if split < 0:
        raise MalformedNoteError("malformed note: no signature block")
    text, block = whole[: split + 1], whole[split + 2 :]
    if not block or not block.endswith("\n"):
        raise MalformedNoteError("malformed note: signature block must end with a newline")
    lines = block[:-1].split("\n")
    if len(lines) > MAX_SIGNATURES:
        raise MalformedNoteError(f"malformed note: more than {MAX_SIGNATURES} signatures")
    known = _verifier_map(verifiers)
    message = text.encode()
    verified: list[NoteSignature] = []
    unverified: list[NoteSignature] = []
    for line in lines:
        signature = _parse_signature_line(line)
        verifier = known.get((signature.name, signature.key_id))
        if verifier is None:
            if signature not in unverified:
                unverified.append(signature)
            continue
        if not verifier.verify(message, signature.signature):
            raise InvalidSignatureError(signature.name, signature.key_id)
        if signature not in verified:
            verified.append(signature)
    if not verified:
        raise UnverifiedNoteError()
    return OpenedNote(text, tuple(verified), tuple(unverified))


def signature_key_ids(note: str) -> list[bytes]:
    """The key ids of a note's signature lines, in order, without verifying them.

    For a note this log stored itself (which key signed it first); never for trust.
    """
    split = note.rfind("\n\n")
    if split < 0 or not note.endswith("\n"):
        raise MalformedNoteError("malformed note: no signature block")
    return [_parse_signature_line(line).key_id for line in note[split + 2 : -1].split("\n")]
