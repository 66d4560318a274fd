"""Platforms' answers to notices: the signed response envelope, its receipt, and the
receipt's offline check. Pure (no database, no Flask).

A response is ``{platform_id, key_id, notice_id, response_id, created_at, kind,
statement, attachments, signature}``; ``signature`` is Ed25519 by the platform's
key over the RFC 8785 bytes of the envelope without it, as a batch is signed.
The ledger seals the envelope whole; its receipt is final, like a batch's: a
signed checkpoint that contains it, the leaf, the salt and the inclusion proof.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Mapping
from dataclasses import dataclass
from hashlib import sha256
from typing import Any

import nacl.signing

from ledger.canonical import canonical_json
from ledger.checkpoint import open_checkpoint
from ledger.errors import LedgerError
from ledger.hashing import leaf_hash
from ledger.leaf import decode_leaf
from ledger.log_keys import KeyChain
from ledger.note import Verifier
from ledger.proof import verify_inclusion
from supervisor.ground.plain_text import unprintable
from supervisor.ground.records import record_commitment
from supervisor.intake.envelope import KEY_ID_RE, PLATFORM_ID_RE, RejectionError
from supervisor.intake.record_schema import RecordProblem

__all__ = [
    "RESPONSE_ENTRY",
    "RESPONSE_KINDS",
    "RESPONSE_RECEIPT_VERSION",
    "ResponseEnvelope",
    "ResponseReceiptError",
    "envelope_sha256",
    "parse_response",
    "require_printable",
    "response_receipt",
    "response_statement",
    "sign_response",
    "verify_response_receipt",
]

RESPONSE_ENTRY = "notice.response"
RESPONSE_RECEIPT_VERSION = "careledger.response-receipt/v1"
RESPONSE_KINDS = ("rectified", "objection")
_FIELDS = frozenset(
    {
        "platform_id",
        "key_id",
        "notice_id",
        "response_id",
        "created_at",
        "kind",
        "statement",
        "attachments",
        "signature",
    }
)
_RESPONSE_ID = re.compile(r"[A-Za-z0-9._:-]{1,80}")
_NOTICE_ID = re.compile(r"N[0-9A-F]{15}")
_DATE_TIME = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,9})?(Z|[+-]\d{2}:\d{2})")
_SIGNATURE = re.compile(r"[A-Za-z0-9+/]{86}==")
_SHA256 = re.compile(r"[0-9a-f]{64}")
MAX_STATEMENT = 4000
MAX_ATTACHMENTS = 20


@dataclass(frozen=True)
class ResponseEnvelope:
    document: dict[str, Any]
    signature: bytes

    @property
    def unsigned(self) -> dict[str, Any]:
        return {k: v for k, v in self.document.items() if k != "signature"}

    def __getitem__(self, name: str) -> Any:
        return self.document[name]

    @property
    def sha256(self) -> str:
        return envelope_sha256(self.document)


def envelope_sha256(envelope: Mapping[str, Any]) -> str:
    """What makes a resend idempotent: the hash of the whole envelope's canonical bytes
    (kept in the projection, never in the public leaf)."""
    return sha256(canonical_json(dict(envelope))).hexdigest()


def _invalid(name: str, detail: str) -> RejectionError:
    return RejectionError(
        422,
        "invalid-response",
        "The response is invalid",
        f"{name}: {detail}" if name else detail,
        [RecordProblem(f"/{name}", detail)],
    )


def _attachments(value: Any) -> None:
    if not isinstance(value, list):
        raise _invalid("attachments", "must be an array (empty if there are none)")
    if len(value) > MAX_ATTACHMENTS:
        raise _invalid("attachments", f"at most {MAX_ATTACHMENTS} attachments")
    for n, item in enumerate(value):
        where = f"attachments/{n}"
        if not isinstance(item, dict) or set(item) != {"name", "sha256", "size"}:
            raise _invalid(where, "must be {name, sha256, size} and nothing else")
        name, digest, size = item["name"], item["sha256"], item["size"]
        if not isinstance(name, str) or not 1 <= len(name.strip()) <= 200:
            raise _invalid(f"{where}/name", "must be a file name of 1-200 characters")
        if not isinstance(digest, str) or not _SHA256.fullmatch(digest):
            raise _invalid(f"{where}/sha256", "must be 64 lower-case hex digits")
        # 1786.0 is 1786 in JSON (and in the RFC 8785 bytes that were signed).
        whole = isinstance(size, int) or (isinstance(size, float) and size.is_integer())
        if isinstance(size, bool) or not whole or not 0 <= size <= 2**40:
            raise _invalid(f"{where}/size", "must be a whole number of bytes")


def parse_response(document: Any) -> ResponseEnvelope:
    """Check a response envelope's shape strictly; raises ``RejectionError`` (422)."""
    if not isinstance(document, dict):
        raise _invalid("", "the body must be an object")
    missing = sorted(_FIELDS - document.keys())
    if missing:
        raise _invalid(missing[0], "is required")
    extra = sorted(document.keys() - _FIELDS)
    if extra:
        raise _invalid(extra[0], "is not a response field")
    texts = ("platform_id", "key_id", "notice_id", "response_id", "created_at", "kind")
    for name in (*texts, "statement", "signature"):
        if not isinstance(document[name], str):
            raise _invalid(name, "must be a string")
    checks = (
        ("platform_id", PLATFORM_ID_RE, "must look like PLT-<institution code>"),
        ("key_id", KEY_ID_RE, "must be 16 lower-case hex digits"),
        ("notice_id", _NOTICE_ID, "must be a notice id (N and 15 hex digits)"),
        ("response_id", _RESPONSE_ID, "must be 1-80 letters, digits and . _ : -"),
        ("created_at", _DATE_TIME, "must be an RFC 3339 date-time with an offset"),
        ("signature", _SIGNATURE, "must be a base64 Ed25519 signature (64 bytes)"),
    )
    for name, pattern, detail in checks:
        if not pattern.fullmatch(document[name]):
            raise _invalid(name, detail)
    if document["kind"] not in RESPONSE_KINDS:
        raise _invalid("kind", "must be 'rectified' or 'objection'")
    statement = document["statement"]
    if not statement.strip() or len(statement) > MAX_STATEMENT:
        raise _invalid("statement", f"must say what was done, 1-{MAX_STATEMENT} characters")
    _attachments(document["attachments"])
    # Sizes as integers, so the projection reads as it will on replay of the sealed bytes.
    attachments = [{**item, "size": int(item["size"])} for item in document["attachments"]]
    return ResponseEnvelope(
        {**document, "attachments": attachments}, base64.b64decode(document["signature"])
    )


def require_printable(envelope: ResponseEnvelope) -> None:
    """No control codes in the statement or a file name (422). Checked once the signature
    verified: until then nothing in the body is the platform's word."""
    problem = unprintable(envelope["statement"], multiline=True)
    if problem is not None:
        raise _invalid("statement", problem)
    for n, item in enumerate(envelope["attachments"]):
        problem = unprintable(item["name"])
        if problem is not None:
            raise _invalid(f"attachments/{n}/name", problem)


def sign_response(seed: bytes, unsigned: Mapping[str, Any]) -> dict[str, Any]:
    """The envelope with its signature: Ed25519 by the platform key ``seed`` over the RFC
    8785 bytes of ``unsigned`` (every field but ``signature``)."""
    signature = nacl.signing.SigningKey(seed).sign(canonical_json(dict(unsigned))).signature
    return {**unsigned, "signature": base64.b64encode(signature).decode()}


def response_statement(envelope: ResponseEnvelope, case_id: str, commitment: str) -> dict[str, Any]:
    """The public statement of a response entry: who answered which notice, how, and a
    salted commitment to the sealed envelope. Neither the envelope's hash nor its
    signature is public: either would let anyone confirm a guess of the statement."""
    return {
        "case_id": case_id,
        "commitment": commitment,
        "key_id": envelope["key_id"],
        "kind": envelope["kind"],
        "notice_id": envelope["notice_id"],
        "platform_id": envelope["platform_id"],
        "response_id": envelope["response_id"],
    }


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def response_receipt(
    *,
    envelope: Mapping[str, Any],
    index: int,
    leaf: bytes,
    salt: bytes,
    inclusion_proof: list[bytes],
    tree_size: int,
    checkpoint_note: str,
) -> dict[str, Any]:
    """A response's receipt as JSON-ready data."""
    return {
        "receipt_version": RESPONSE_RECEIPT_VERSION,
        "platform_id": envelope["platform_id"],
        "notice_id": envelope["notice_id"],
        "response_id": envelope["response_id"],
        "index": index,
        "tree_size": tree_size,
        "checkpoint": checkpoint_note,
        "leaf": _b64(leaf),
        "leaf_hash": _b64(leaf_hash(leaf)),
        "salt": _b64(salt),
        "inclusion_proof": [_b64(h) for h in inclusion_proof],
    }


class ResponseReceiptError(Exception):
    """A response receipt does not prove what it claims."""


def _decode(text: Any, what: str) -> bytes:
    if not isinstance(text, str):
        raise ResponseReceiptError(f"{what} is missing")
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError) as e:
        raise ResponseReceiptError(f"{what} is not base64") from e


def verify_response_receipt(
    receipt: Mapping[str, Any], keys: Verifier | KeyChain, envelope: Mapping[str, Any]
) -> int:
    """Check a response receipt offline: the checkpoint is signed by the log, the leaf is
    in it, and the leaf commits to exactly ``envelope``. Returns the ledger index."""
    if receipt.get("receipt_version") != RESPONSE_RECEIPT_VERSION:
        raise ResponseReceiptError("not a response receipt")
    if receipt.get("response_id") != envelope.get("response_id"):
        raise ResponseReceiptError("the receipt is for another response")
    try:
        checkpoint, _ = open_checkpoint(str(receipt.get("checkpoint", "")), keys)
    except LedgerError as e:
        raise ResponseReceiptError(f"the checkpoint does not verify: {e}") from e
    leaf = _decode(receipt.get("leaf"), "leaf")
    salt = _decode(receipt.get("salt"), "salt")
    proof = [_decode(h, "inclusion proof") for h in receipt.get("inclusion_proof", [])]
    index = receipt.get("index")
    if isinstance(index, bool) or not isinstance(index, int):
        raise ResponseReceiptError("index is missing")
    if checkpoint.size != receipt.get("tree_size"):
        raise ResponseReceiptError("tree_size is not the checkpoint's")
    try:
        verify_inclusion(index, checkpoint.size, leaf_hash(leaf), proof, checkpoint.root)
    except LedgerError as e:
        raise ResponseReceiptError(f"the inclusion proof does not verify: {e}") from e
    try:
        header = decode_leaf(leaf)
    except LedgerError as e:
        raise ResponseReceiptError(str(e)) from e
    if header.type != RESPONSE_ENTRY:
        raise ResponseReceiptError("the leaf is not a response entry")
    if header.index != index:
        raise ResponseReceiptError("the leaf is for another index")
    statement = header.statement
    expected = record_commitment(salt, canonical_json(dict(envelope)))
    if statement.get("commitment") != expected:
        raise ResponseReceiptError("the leaf does not commit to this response")
    return index
