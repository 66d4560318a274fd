"""The bytes of a ledger leaf: the public header of one entry.

A leaf is the RFC 8785 JSON object
``{"index", "prev", "received_at", "statement", "type"}``: the entry's
position, the previous leaf's hash (the hash chain; 64 zeros for index 0),
when the log received it, what the submitter states (opaque to the ledger)
and the entry type. Keys sort so ``index`` and ``prev`` come first, which
lets a sequential scan check the chain with a prefix comparison and no
JSON parsing. Payloads never appear in a leaf.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import orjson

from .canonical import JSONValue, canonical_json
from .errors import LedgerError
from .hashing import HASH_SIZE

__all__ = ["GENESIS_PREV", "LeafHeader", "chain_prefix", "decode_leaf", "encode_leaf"]

GENESIS_PREV = bytes(HASH_SIZE)
ENTRY_TYPE = re.compile(r"[a-z][a-z0-9_]*(?:\.[a-z][a-z0-9_]*)*")
_MAX_TYPE_LENGTH = 64


def check_entry_type(entry_type: str) -> None:
    """Entry types are dotted lower-case identifiers, so they need no JSON escaping."""
    if len(entry_type) > _MAX_TYPE_LENGTH or not ENTRY_TYPE.fullmatch(entry_type):
        raise ValueError(f"bad entry type {entry_type!r}")


_CHAIN_PREFIX_FORMAT = b'{"index":%d,"prev":"%s",'

#: The leaf's canonical JSON with its five fields in RFC 8785 key order.
LEAF_FORMAT = _CHAIN_PREFIX_FORMAT + b'"received_at":"%s","statement":%s,"type":"%s"}'


def chain_prefix(index: int, prev: bytes) -> bytes:
    """The bytes every leaf at ``index`` after a leaf hashing to ``prev`` starts with."""
    return _CHAIN_PREFIX_FORMAT % (index, prev.hex().encode())


def encode_leaf(
    index: int, prev: bytes, received_at: str, entry_type: str, statement_json: bytes
) -> bytes:
    """Leaf bytes, canonical by construction.

    Requires ``statement_json`` to be canonical JSON (``canonical_json``),
    ``received_at`` an RFC 3339 UTC time (ASCII, no escapes) and
    ``entry_type`` to pass ``check_entry_type``.
    """
    return LEAF_FORMAT % (
        index,
        prev.hex().encode(),
        received_at.encode(),
        statement_json,
        entry_type.encode(),
    )


@dataclass(frozen=True)
class LeafHeader:
    """A decoded leaf."""

    index: int
    prev: bytes
    received_at: str
    statement: dict[str, Any]
    type: str


def decode_leaf(leaf: bytes) -> LeafHeader:
    """Parse leaf bytes strictly: they must be exactly the canonical encoding."""
    try:
        obj = orjson.loads(leaf)
        header = LeafHeader(
            index=obj["index"],
            prev=bytes.fromhex(obj["prev"]),
            received_at=obj["received_at"],
            statement=obj["statement"],
            type=obj["type"],
        )
    except (orjson.JSONDecodeError, KeyError, TypeError, ValueError) as e:
        raise LedgerError(f"leaf is not a careledger entry header: {e}") from e
    if set(obj) != {"index", "prev", "received_at", "statement", "type"}:
        raise LedgerError("leaf has unexpected fields")
    statement: JSONValue = header.statement
    expected = encode_leaf(
        header.index, header.prev, header.received_at, header.type, canonical_json(statement)
    )
    if expected != leaf:
        raise LedgerError("leaf is not in canonical form")
    return header
