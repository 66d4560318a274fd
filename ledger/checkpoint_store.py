"""Stored checkpoints: reading them, and signing a new one only when it is consistent.

Checkpoints only move forward (size strictly grows) and a checkpoint is
signed only after a consistency proof from the previous one verified, inside
the append's transaction, so no process can sign a fork of what it stored.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection, func, insert, select

from . import schema
from .checkpoint import Checkpoint, SignedCheckpoint, sign_checkpoint
from .errors import ConsistencyError, ProofError
from .note import Signer
from .proof import verify_consistency
from .tree import NodeReader, consistency_proof

__all__ = [
    "KnownCheckpoint",
    "checkpoint_at",
    "checkpoint_count",
    "checkpoints_after",
    "latest_checkpoint",
    "sign_consistent",
    "stored_checkpoint",
]

_INSERT_CHECKPOINT = insert(schema.checkpoints)
_SELECT_LATEST_CHECKPOINT = (
    select(schema.checkpoints.c.note, schema.checkpoints.c.size, schema.checkpoints.c.root)
    .order_by(schema.checkpoints.c.size.desc())
    .limit(1)
)


@dataclass(frozen=True)
class KnownCheckpoint:
    """The latest checkpoint as this process knows it (``None``: none signed yet)."""

    checkpoint: Checkpoint | None


def stored_checkpoint(note: str) -> SignedCheckpoint:
    """A checkpoint note as this log stored it (signed by this log, so only the body is parsed)."""
    return SignedCheckpoint(Checkpoint.parse(note[: note.rindex("\n\n") + 1]), note)


def latest_checkpoint(connection: Connection) -> SignedCheckpoint | None:
    row = connection.execute(_SELECT_LATEST_CHECKPOINT).first()
    if row is None:
        return None
    return stored_checkpoint(row.note)


def checkpoints_after(connection: Connection, size: int, limit: int) -> list[SignedCheckpoint]:
    """Up to ``limit`` checkpoints of sizes above ``size``, smallest first."""
    notes = connection.execute(
        select(schema.checkpoints.c.note)
        .where(schema.checkpoints.c.size > size)
        .order_by(schema.checkpoints.c.size)
        .limit(limit)
    ).scalars()
    return [stored_checkpoint(note) for note in notes]


def checkpoint_at(connection: Connection, size: int) -> SignedCheckpoint | None:
    """The checkpoint signed for exactly ``size`` entries, if one was."""
    note = connection.execute(
        select(schema.checkpoints.c.note).where(schema.checkpoints.c.size == size)
    ).scalar_one_or_none()
    return None if note is None else stored_checkpoint(note)


def checkpoint_count(connection: Connection) -> int:
    return int(
        connection.execute(select(func.count()).select_from(schema.checkpoints)).scalar_one()
    )


def sign_consistent(
    connection: Connection,
    signer: Signer,
    size: int,
    root: bytes,
    read_node: NodeReader,
    *,
    now: datetime,
    previous: Checkpoint | None,
    rotating_to: Signer | None = None,
) -> SignedCheckpoint:
    """Sign and store ``(size, root)`` after proving it consistent with ``previous``.

    Requires the caller to hold the head lock and ``previous`` to be the latest
    stored checkpoint. ``rotating_to``: the new key signs first, then ``signer``.
    Raises ``ConsistencyError`` if ``previous`` is as large or not a prefix.
    """
    if previous is not None:
        if previous.size >= size:
            raise ConsistencyError(
                f"refusing to sign size {size}: a checkpoint of size {previous.size} exists"
            )
        if previous.size > 0:
            proof = consistency_proof(previous.size, size, read_node)
            try:
                verify_consistency(previous.size, size, proof, previous.root, root)
            except ProofError as e:
                raise ConsistencyError(
                    f"refusing to sign size {size}: not consistent with checkpoint "
                    f"{previous.size}: {e}"
                ) from e
    checkpoint = Checkpoint(signer.name, size, root)
    if rotating_to is None:
        signed = sign_checkpoint(checkpoint, signer)
    else:
        signed = sign_checkpoint(checkpoint, rotating_to, signer)
    connection.execute(
        _INSERT_CHECKPOINT, {"size": size, "root": root, "note": signed.note, "signed_at": now}
    )
    return signed
