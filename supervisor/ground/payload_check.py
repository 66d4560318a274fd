"""Checking every payload against its leaf (``ledger verify --payloads``).

``ledger verify`` proves the leaves, the tree and the checkpoints; payloads live apart
from the leaves, so a payload swapped, edited or removed in storage escapes it. This
pass reads every entry whose leaf commits to a payload: a sealed one is opened with the
data keys and checked against ``SHA-256(salt || document)``, a plain one (reference
data) against its ``payload_sha256``. Only a payload whose data key retention destroyed
(a tombstone says so) is passed over, and counted.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import orjson
from sqlalchemy import Engine, select

from ledger import schema as ledger_schema
from ledger.database import snapshot_transaction
from supervisor.custody.payload_keys import PayloadKeys, PayloadShreddedError
from supervisor.ground.records import PayloadMismatchError, check_plain_payload, open_committed

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
    """Check every entry's payload in index order; stop at the first that does not match."""
    entries = ledger_schema.entries.c
    checked = shredded = 0
    query = select(entries.idx, entries.leaf, entries.payload).order_by(entries.idx)
    with snapshot_transaction(engine) as connection:
        for row in connection.execute(query).yield_per(2000):
            index, leaf = int(row.idx), bytes(row.leaf)
            payload = None if row.payload is None else bytes(row.payload)
            statement = orjson.loads(leaf)["statement"]
            try:
                if "commitment" in statement:
                    open_committed(keys, statement["commitment"], payload, index)
                elif "payload_sha256" in statement:
                    check_plain_payload(leaf, payload)
                elif payload is not None:  # a payload its leaf does not account for
                    raise PayloadMismatchError(index)
                else:
                    progress(index + 1)
                    continue
            except PayloadShreddedError:
                shredded += 1
            except PayloadMismatchError:
                return PayloadCheck(checked, shredded, index)
            else:
                checked += 1
            progress(index + 1)
    return PayloadCheck(checked, shredded, None)
