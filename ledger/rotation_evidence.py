"""Checking a log's key history as it serves it (``GET /log/keys``), trusting none of it.

The listing names every key the log has signed with. For each rotation it
carries the evidence: the ``log.key_rotation`` leaf, the transition
checkpoint (the first that contains it, signed by the retiring and the new
key) and the leaf's inclusion proof in it. ``extend_key_chain`` checks all of
it from a chain the verifier already trusts (at first, the log's first key),
so a log cannot introduce a key that the key in force did not hand over to.

Pure: parsed JSON in, a ``KeyChain`` or ``KeyRotationError`` out.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping
from typing import Any

from .checkpoint import open_checkpoint
from .errors import KeyRotationError, LedgerError
from .hashing import leaf_hash
from .log_keys import KeyChain, rotation_from_leaf
from .proof import verify_inclusion

__all__ = ["extend_key_chain", "genesis_listing"]


def genesis_listing(chain: KeyChain) -> dict[str, Any]:
    """The listing of a log that never rotated (an export written before rotations)."""
    return {"origin": chain.origin, "keys": [{"vkey": chain.keys[0][1].vkey, "from_size": 0}]}


def _bytes(text: object, what: str) -> bytes:
    if not isinstance(text, str):
        raise KeyRotationError(f"key listing: {what} is not a base64 string")
    try:
        return base64.b64decode(text.encode("ascii"), validate=True)
    except (binascii.Error, UnicodeEncodeError) as e:
        raise KeyRotationError(f"key listing: {what} is not base64") from e


def extend_key_chain(chain: KeyChain, listing: Mapping[str, Any]) -> KeyChain:
    """``chain`` extended by every rotation ``listing`` shows beyond it, each one proven.

    Raises ``KeyRotationError`` if the listing disagrees with ``chain`` about the
    keys it already holds, or if a rotation is not signed by the key in force and
    the new key, or is not in the tree its transition checkpoint (signed by
    both) commits to.
    """
    if listing.get("origin") != chain.origin:
        raise KeyRotationError(f"the key listing is not of the log {chain.origin!r}")
    keys = listing.get("keys")
    if not isinstance(keys, list) or not keys:
        raise KeyRotationError("the key listing lists no keys")
    for (start, key), item in zip(chain.keys, keys, strict=False):
        if not isinstance(item, dict) or (item.get("vkey"), item.get("from_size")) != (
            key.vkey,
            start,
        ):
            raise KeyRotationError(
                f"the log lists another key history than the one verified before (at size "
                f"{start}, key {key.vkey})"
            )
    for item in keys[len(chain.keys) :]:
        evidence = item.get("rotation") if isinstance(item, dict) else None
        if not isinstance(evidence, dict) or not isinstance(evidence.get("index"), int):
            raise KeyRotationError("a key in the listing comes without its rotation evidence")
        index: int = evidence["index"]
        leaf = _bytes(evidence.get("leaf"), f"rotation {index}'s leaf")
        extended = chain.after(rotation_from_leaf(leaf), index)
        if (item.get("vkey"), item.get("from_size")) != (extended.current.vkey, index + 1):
            raise KeyRotationError(f"the listing misstates the key entry {index} rotated to")
        proof = evidence.get("inclusion_proof")
        if not isinstance(proof, list):
            raise KeyRotationError(f"rotation {index} comes without an inclusion proof")
        try:
            checkpoint, _ = open_checkpoint(str(evidence.get("checkpoint", "")), extended)
            if checkpoint.size != index + 1:
                raise KeyRotationError(
                    f"rotation {index}'s checkpoint is of size {checkpoint.size}, not {index + 1}"
                )
            verify_inclusion(
                index,
                checkpoint.size,
                leaf_hash(leaf),
                [_bytes(h, "an inclusion proof hash") for h in proof],
                checkpoint.root,
            )
        except KeyRotationError:
            raise
        except LedgerError as e:
            raise KeyRotationError(f"rotation {index} is not proven: {e}") from e
        chain = extended
    return chain
