"""Ledger entries whose details are sealed: a public statement that commits to them.

Findings, access events and finding actions name staff, patients' pseudonyms
or evidence: the leaf (public, in every tile) carries only what may be
public plus ``commitment = SHA-256(salt || canonical details)``; the details
are sealed with the data key of their kind and month, so they can be opened
by the regulator, checked against the leaf, and crypto-shredded like records.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from datetime import datetime
from typing import Any

import orjson

from ledger.canonical import JSONValue, canonical_json
from ledger.store import EntryDraft
from supervisor.custody.payload_keys import SALT_SIZE, PayloadKeys
from supervisor.ground.records import open_leaf_payload, record_commitment

__all__ = ["open_sealed", "sealed_entry"]


def sealed_entry(
    keys: PayloadKeys,
    entry_type: str,
    seal_kind: str,
    now: datetime,
    *,
    public: Mapping[str, JSONValue],
    details: Mapping[str, Any],
) -> EntryDraft:
    """An entry whose statement is ``public`` plus a commitment to the sealed ``details``."""
    salt = os.urandom(SALT_SIZE)
    document = canonical_json(dict(details))
    statement = {**public, "commitment": record_commitment(salt, document)}
    return EntryDraft(entry_type, statement, keys.seal(seal_kind, now, salt + document))


def open_sealed(keys: PayloadKeys, leaf: bytes, payload: bytes | None) -> dict[str, Any]:
    """The details of a sealed entry, checked against its leaf's commitment.

    Raises ``SealedPayloadError`` once shredded, ``PayloadMismatchError`` if altered.
    """
    details: dict[str, Any] = orjson.loads(open_leaf_payload(keys, leaf, payload))
    return details
