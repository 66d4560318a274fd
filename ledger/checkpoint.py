"""C2SP tlog-checkpoint: the signed statement of a log's size and root.

Body: origin line, decimal tree size, base64 root hash, optional extension
lines, each ending in a newline. Parsing is strict: size ``0|[1-9][0-9]*``,
base64 validated, root exactly 32 bytes.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Sequence
from dataclasses import dataclass

from .errors import MalformedCheckpointError, MalformedNoteError
from .hashing import HASH_SIZE
from .note import OpenedNote, Signer, Verifier, open_note, sign_note

__all__ = ["Checkpoint", "SignedCheckpoint", "open_checkpoint", "sign_checkpoint"]

_SIZE = re.compile(r"0|[1-9][0-9]*")
_MAX_SIZE = 2**63 - 1


@dataclass(frozen=True)
class Checkpoint:
    """A log state: origin, size and root (plus opaque extension lines)."""

    origin: str
    size: int
    root: bytes
    extensions: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if not self.origin or "\n" in self.origin:
            raise ValueError("checkpoint origin must be one non-empty line")
        if not 0 <= self.size <= _MAX_SIZE:
            raise ValueError("checkpoint size out of range")
        if len(self.root) != HASH_SIZE:
            raise ValueError("checkpoint root must be 32 bytes")
        if any(not e or "\n" in e for e in self.extensions):
            raise ValueError("checkpoint extension lines must be non-empty single lines")

    def body(self) -> str:
        lines = [
            self.origin,
            str(self.size),
            base64.b64encode(self.root).decode(),
            *self.extensions,
        ]
        return "".join(line + "\n" for line in lines)

    @classmethod
    def parse(cls, body: str) -> Checkpoint:
        if not body.endswith("\n"):
            raise MalformedCheckpointError("checkpoint body must end with a newline")
        lines = body[:-1].split("\n")
        if len(lines) < 3:
            raise MalformedCheckpointError("checkpoint body has fewer than 3 lines")
        origin, size_text, root_text, *extensions = lines
        if not origin:
            raise MalformedCheckpointError("checkpoint origin is empty")
        if not _SIZE.fullmatch(size_text) or int(size_text) > _MAX_SIZE:
            raise MalformedCheckpointError(f"checkpoint size {size_text!r} is not a decimal size")
        try:
            root = base64.b64decode(root_text.encode("ascii"), validate=True)
        except (binascii.Error, UnicodeEncodeError) as e:
            raise MalformedCheckpointError("checkpoint root is not base64") from e
        if len(root) != HASH_SIZE:
            raise MalformedCheckpointError(f"checkpoint root is {len(root)} bytes, want 32")
        if any(not e for e in extensions):
            raise MalformedCheckpointError("checkpoint has an empty extension line")
        return cls(origin, int(size_text), root, tuple(extensions))


@dataclass(frozen=True)
class SignedCheckpoint:
    """A checkpoint together with the exact signed note text that carries it."""

    checkpoint: Checkpoint
    note: str


def sign_checkpoint(checkpoint: Checkpoint, signer: Signer) -> SignedCheckpoint:
    """Sign a checkpoint as a note. The signer's name must be the origin."""
    if signer.name != checkpoint.origin:
        raise ValueError("a log signs its checkpoints under its origin as key name")
    return SignedCheckpoint(checkpoint, sign_note(checkpoint.body(), [signer]))


def open_checkpoint(
    note: str | bytes, log_verifier: Verifier, extra_verifiers: Sequence[Verifier] = ()
) -> tuple[Checkpoint, OpenedNote]:
    """Verify a checkpoint note signed by the log and parse its body.

    The log's own signature is required; other known signatures (witnesses)
    are verified when present. Raises ``MalformedNoteError``,
    ``InvalidSignatureError``, ``UnverifiedNoteError`` or
    ``MalformedCheckpointError``.
    """
    opened = open_note(note, [log_verifier, *extra_verifiers])
    if not any(
        s.name == log_verifier.name and s.key_id == log_verifier.key_id for s in opened.verified
    ):
        raise MalformedNoteError("checkpoint is not signed by the log key")
    checkpoint = Checkpoint.parse(opened.text)
    if checkpoint.origin != log_verifier.name:
        raise MalformedCheckpointError(
            f"checkpoint origin {checkpoint.origin!r} is not the log {log_verifier.name!r}"
        )
    return checkpoint, opened
