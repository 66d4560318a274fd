"""Exceptions of the ledger package.

Failures caused by untrusted input (a proof, a note, a stored row that does
not match its recomputation) derive from ``LedgerError``; programming errors
stay ``ValueError`` / ``RuntimeError``.
"""

from __future__ import annotations

__all__ = [
    "ConsistencyError",
    "InvalidProofError",
    "InvalidSignatureError",
    "KeyRotationError",
    "LedgerError",
    "MalformedCheckpointError",
    "MalformedNoteError",
    "MalformedVerifierKeyError",
    "OutOfRangeError",
    "ProofError",
    "RootMismatchError",
    "UnverifiedNoteError",
]


class LedgerError(Exception):
    """Root of every error the ledger raises about data it was given or holds."""


class ProofError(LedgerError):
    """A Merkle proof does not establish what it claims."""


class InvalidProofError(ProofError):
    """The proof is malformed for the given sizes (wrong length, bad hash size, bad range)."""


class RootMismatchError(ProofError):
    """The root recomputed from a proof differs from the expected root."""

    def __init__(self, expected: bytes, calculated: bytes) -> None:
        self.expected = expected
        self.calculated = calculated
        super().__init__(f"root mismatch: expected {expected.hex()}, calculated {calculated.hex()}")


class OutOfRangeError(LedgerError):
    """An index or tree size lies outside the log as it stands."""


class MalformedNoteError(LedgerError):
    """A signed note does not follow C2SP signed-note syntax."""


class MalformedVerifierKeyError(LedgerError):
    """A verifier key string is not ``name+hex(keyid)+base64(0x01||pubkey)``."""


class InvalidSignatureError(LedgerError):
    """A signature by a known key does not verify: the note was altered or forged."""

    def __init__(self, name: str, key_id: bytes) -> None:
        self.name = name
        self.key_id = key_id
        super().__init__(f"invalid signature for key {name}+{key_id.hex()}")


class UnverifiedNoteError(LedgerError):
    """The note carries no signature by any of the trusted keys."""

    def __init__(self) -> None:
        super().__init__("note has no verifiable signatures")


class MalformedCheckpointError(LedgerError):
    """A checkpoint body does not follow C2SP tlog-checkpoint syntax."""


class ConsistencyError(LedgerError):
    """Two states of the log cannot both be true: a fork or a rollback."""


class KeyRotationError(LedgerError):
    """A log key rotation that does not verify or does not follow from the key in force."""
