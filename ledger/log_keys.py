"""Log signing key rotation: the chain of keys a log signs its checkpoints with.

A rotation is a ledger entry of type ``log.key_rotation``. Its statement names the
retiring and the new verifier key, and carries a signature by each over
``rotation_message``: the old key hands over, the new key accepts. The entry is
appended alone, so the checkpoint that first contains it has size ``index + 1``
(the *transition checkpoint*), and that checkpoint is signed by both keys, the new
one first. Hence, for a rotation at entry ``i``:

* checkpoints of size ``<= i`` are signed by the old key;
* the checkpoint of size ``i + 1`` by both;
* every later one by the new key (the old key alone no longer suffices).

An auditor who holds only the log's first key (printed by ``careledger init``)
follows the chain: each rotation is signed by the key it already trusts, and is in
the tree that the transition checkpoint, signed by that key too, commits to.
Nothing is ever re-signed, so old checkpoints stay verifiable with their own key.

Pure: bytes and strings in, values or ``KeyRotationError`` out.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import orjson

from .errors import KeyRotationError
from .note import ED25519, Signer, Verifier

__all__ = [
    "ROTATION_ENTRY",
    "KeyChain",
    "KeyRotation",
    "rotation_from_leaf",
    "rotation_message",
]

ROTATION_ENTRY = "log.key_rotation"
_DOMAIN = b"careledger-log-key-rotation/v1\n"
_FIELDS = frozenset({"old_vkey", "new_vkey", "old_signature", "new_signature"})


def rotation_message(old_vkey: str, new_vkey: str) -> bytes:
    """What both keys sign: a domain line, then the old and the new verifier key."""
    return _DOMAIN + old_vkey.encode("ascii") + b"\n" + new_vkey.encode("ascii") + b"\n"


def _signature(text: object, field: str) -> bytes:
    if not isinstance(text, str):
        raise KeyRotationError(f"key rotation: {field} must be a base64 string")
    try:
        raw = base64.b64decode(text.encode("ascii"), validate=True)
    except (binascii.Error, UnicodeEncodeError) as e:
        raise KeyRotationError(f"key rotation: {field} is not base64") from e
    if len(raw) != 64:
        raise KeyRotationError(f"key rotation: {field} is {len(raw)} bytes, want 64")
    return raw


def _verifier(text: object, field: str) -> Verifier:
    if not isinstance(text, str):
        raise KeyRotationError(f"key rotation: {field} must be a verifier key string")
    try:
        verifier = Verifier.from_vkey(text)
    except Exception as e:
        raise KeyRotationError(f"key rotation: {field} is not a verifier key: {e}") from e
    if verifier.algorithm != ED25519:
        raise KeyRotationError(f"key rotation: {field} is not an Ed25519 note key")
    return verifier


@dataclass(frozen=True)
class KeyRotation:
    """The log moves from ``old`` to ``new``; each key's signature over the hand-over."""

    old: Verifier
    new: Verifier
    old_signature: bytes
    new_signature: bytes

    @classmethod
    def sign(cls, old: Signer, new: Signer) -> KeyRotation:
        """Requires two different Ed25519 keys under the same name (the log's origin)."""
        if old.name != new.name:
            raise ValueError("a log key rotates to a key of the same name (the log origin)")
        if old.key_id == new.key_id:
            raise ValueError("a rotation needs a new key")
        message = rotation_message(old.verifier.vkey, new.verifier.vkey)
        return cls(old.verifier, new.verifier, old.sign(message), new.sign(message))

    def statement(self) -> dict[str, str]:
        """The entry's public statement (JSON strings only)."""
        return {
            "old_vkey": self.old.vkey,
            "new_vkey": self.new.vkey,
            "old_signature": base64.b64encode(self.old_signature).decode(),
            "new_signature": base64.b64encode(self.new_signature).decode(),
        }

    @classmethod
    def from_statement(cls, statement: Mapping[str, Any]) -> KeyRotation:
        """Parse strictly (exactly the four fields) and verify both signatures."""
        if set(statement) != _FIELDS:
            raise KeyRotationError(
                f"key rotation statement has fields {sorted(statement)}, want {sorted(_FIELDS)}"
            )
        rotation = cls(
            _verifier(statement["old_vkey"], "old_vkey"),
            _verifier(statement["new_vkey"], "new_vkey"),
            _signature(statement["old_signature"], "old_signature"),
            _signature(statement["new_signature"], "new_signature"),
        )
        rotation.verify()
        return rotation

    def verify(self) -> None:
        """Raise ``KeyRotationError`` unless both keys signed this hand-over."""
        if self.old.name != self.new.name:
            raise KeyRotationError("key rotation: the new key has another name than the log")
        if self.old.key_id == self.new.key_id:
            raise KeyRotationError("key rotation: the new key is the old key")
        message = rotation_message(self.old.vkey, self.new.vkey)
        for role, verifier, signature in (
            ("retiring", self.old, self.old_signature),
            ("new", self.new, self.new_signature),
        ):
            if not verifier.verify(message, signature):
                raise KeyRotationError(f"key rotation: the {role} key's signature does not verify")


def rotation_from_leaf(leaf: bytes) -> KeyRotation:
    """The verified rotation a ``log.key_rotation`` leaf states."""
    try:
        header = orjson.loads(leaf)
    except orjson.JSONDecodeError as e:
        raise KeyRotationError("key rotation leaf is not JSON") from e
    if not isinstance(header, dict) or header.get("type") != ROTATION_ENTRY:
        raise KeyRotationError(f"the leaf is not a {ROTATION_ENTRY} entry")
    statement = header.get("statement")
    if not isinstance(statement, dict):
        raise KeyRotationError("key rotation leaf has no statement object")
    return KeyRotation.from_statement(statement)


@dataclass(frozen=True)
class KeyChain:
    """The log's keys in order, each with the first tree size it signs: ``(from_size, key)``.

    Invariants: the first key signs from size 0; sizes strictly increase; every
    key after the first was handed over by the one before (``after`` checks it).
    """

    keys: tuple[tuple[int, Verifier], ...]

    @classmethod
    def starting_with(cls, genesis: Verifier) -> KeyChain:
        return cls(((0, genesis),))

    @property
    def origin(self) -> str:
        return self.keys[0][1].name

    @property
    def current(self) -> Verifier:
        return self.keys[-1][1]

    @property
    def verifiers(self) -> tuple[Verifier, ...]:
        return tuple(key for _, key in self.keys)

    def after(self, rotation: KeyRotation, entry_index: int) -> KeyChain:
        """This chain extended by ``rotation``, the entry at ``entry_index``.

        Raises ``KeyRotationError`` if the rotation does not verify, does not
        start from the current key, or does not come after the last rotation.
        """
        rotation.verify()
        if rotation.old != self.current:
            raise KeyRotationError(
                f"entry {entry_index} rotates from {rotation.old.vkey}, but the log's key at "
                f"that point is {self.current.vkey}"
            )
        from_size = entry_index + 1
        if from_size <= self.keys[-1][0]:
            raise KeyRotationError(f"entry {entry_index}: key rotations out of order")
        return KeyChain((*self.keys, (from_size, rotation.new)))

    def required_signers(self, size: int) -> tuple[Verifier, ...]:
        """The keys whose signatures a checkpoint of ``size`` must carry.

        One key, or the new and the retiring key at a transition checkpoint.
        """
        position = max(n for n, (start, _) in enumerate(self.keys) if start <= size)
        start, key = self.keys[position]
        if position > 0 and start == size:
            return (key, self.keys[position - 1][1])
        return (key,)

    def to_json(self) -> list[dict[str, Any]]:
        return [{"from_size": start, "vkey": key.vkey} for start, key in self.keys]
