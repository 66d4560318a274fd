"""Checking every sealed payload against its leaf's commitment (``ledger verify --payloads``).

``ledger verify`` proves the leaves, the tree and the checkpoints; payloads live apart
from the leaves, so a payload swapped or edited in storage escapes it. This pass opens
each one with the data keys and checks ``SHA-256(salt || document)`` against the leaf.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import Engine, select

from ledger import schema as ledger_schema
from ledger.database import snapshot_transaction
from supervisor.custody.payload_keys import PayloadKeys, SealedPayloadError
from supervisor.ground.records import PayloadMismatchError, open_leaf_payload

__all__ = ["PayloadCheck", "check_payloads"]


@dataclass(frozen=True)
class PayloadCheck:
    checked: int
    shredded: int
    #: The first entry whose payload is not the committed one (None: all match).
    first_mismatch: int | None


def check_payloads(
    engine: Engine, keys: PayloadKeys, progress: Callable[[int], None] = lambda done: None
) -> PayloadCheck:
    """Open every payload in index order; stop at the first that does not match its leaf."""
    entries = ledger_schema.entries.c
    checked = shredded = 0
    query = (
        select(entries.idx, entries.leaf, entries.payload)
        .where(entries.payload.is_not(None))
        .order_by(entries.idx)
    )
    with snapshot_transaction(engine) as connection:
        for row in connection.execute(query).yield_per(2000):
            try:
                open_leaf_payload(keys, row.leaf, row.payload)
            except SealedPayloadError:
                shredded += 1
            except PayloadMismatchError:
                return PayloadCheck(checked, shredded, int(row.idx))
            checked += 1
            progress(int(row.idx) + 1)
    return PayloadCheck(checked, shredded, None)
