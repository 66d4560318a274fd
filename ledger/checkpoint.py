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
from .log_keys import KeyChain
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


def sign_checkpoint(checkpoint: Checkpoint, signer: Signer, *also: Signer) -> SignedCheckpoint:
    """Sign a checkpoint as a note, by ``signer`` and then ``also`` (a key being retired).

    Every signer's name must be the origin.
    """
    if any(s.name != checkpoint.origin for s in (signer, *also)):
        raise ValueError("a log signs its checkpoints under its origin as key name")
    return SignedCheckpoint(checkpoint, sign_note(checkpoint.body(), [signer, *also]))


def open_checkpoint(
    note: str | bytes,
    log_key: Verifier | KeyChain,
    extra_verifiers: Sequence[Verifier] = (),
    *,
    origin: str | None = None,
) -> tuple[Checkpoint, OpenedNote]:
    """Verify a checkpoint note signed by the log and parse its body.

    ``log_key`` is the log's one key, or its chain of keys (``log_keys.py``):
    then the checkpoint must carry the signature of the key in force at its
    size, and at a transition that of the retiring key too. Other known
    signatures (witnesses) are verified when present. ``origin`` is the log's
    origin line; C2SP lets it differ from the key name (sum.golang.org signs
    "go.sum database tree"), and by default it is the key name, as careledger's
    own log has it. Raises ``MalformedNoteError``, ``InvalidSignatureError``,
    ``UnverifiedNoteError``, ``MalformedCheckpointError``, or
    ``MalformedVerifierKeyError`` for two different keys of one name and id.
    """
    chain = log_key if isinstance(log_key, KeyChain) else KeyChain.starting_with(log_key)
    opened = open_note(note, [*chain.verifiers, *extra_verifiers])
    checkpoint = Checkpoint.parse(opened.text)
    signed = {(s.name, s.key_id) for s in opened.verified}
    for required in chain.required_signers(checkpoint.size):
        if (required.name, required.key_id) not in signed:
            raise MalformedNoteError(
                f"checkpoint of size {checkpoint.size} is not signed by the log key {required.vkey}"
            )
    expected = chain.origin if origin is None else origin
    if checkpoint.origin != expected:
        raise MalformedCheckpointError(
            f"checkpoint origin {checkpoint.origin!r} is not the log {expected!r}"
        )
    return checkpoint, opened
