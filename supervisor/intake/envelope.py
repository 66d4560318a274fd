"""The signed envelope a platform sends: its fields, their patterns, and strict parsing.

``parse_envelope`` is pure: it turns the parsed JSON body into an ``Envelope``
or raises ``RejectionError`` naming the field that is wrong. The patterns are
published as-is in the OpenAPI document.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from supervisor.intake.platforms import (
    KEY_ID_PATTERN,
    PLATFORM_ID_PATTERN,
)
from supervisor.intake.record_schema import DATE_TIME_PATTERN, RecordProblem

__all__ = [
    "BATCH_ID_PATTERN",
    "BATCH_ID_RE",
    "KEY_ID_RE",
    "PLATFORM_ID_RE",
    "SIGNATURE_PATTERN",
    "Envelope",
    "RejectionError",
    "SubmissionLimits",
    "field_problem",
    "parse_envelope",
]

#: Envelope field patterns, published as-is in the OpenAPI document.
BATCH_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$"
#: Canonical base64 of exactly 64 bytes (an Ed25519 signature).
SIGNATURE_PATTERN = r"^[A-Za-z0-9+/]{85}[AQgw]==$"
BATCH_ID_RE = re.compile(BATCH_ID_PATTERN)
_SIGNATURE = re.compile(SIGNATURE_PATTERN)
_DATE_TIME = re.compile(DATE_TIME_PATTERN)
PLATFORM_ID_RE = re.compile(PLATFORM_ID_PATTERN)
KEY_ID_RE = re.compile(KEY_ID_PATTERN)
_ENVELOPE_FIELDS = frozenset(
    {"platform_id", "key_id", "batch_id", "created_at", "records", "signature"}
)


@dataclass(frozen=True)
class SubmissionLimits:
    max_records: int = 1000
    clock_skew: timedelta = timedelta(minutes=5)


class RejectionError(Exception):
    """A batch refused whole. ``kind`` is the problem type's slug; ``errors`` point into it."""

    def __init__(
        self,
        status: int,
        kind: str,
        title: str,
        detail: str,
        errors: Sequence[RecordProblem] = (),
        **extensions: Any,
    ) -> None:
        super().__init__(detail)
        self.status = status
        self.kind = kind
        self.title = title
        self.detail = detail
        self.errors = tuple(errors)
        self.extensions = extensions


@dataclass(frozen=True)
class Envelope:
    """A batch as signed: the signed fields, the records, and the 64-byte signature."""

    platform_id: str
    key_id: str
    batch_id: str
    created_at_text: str
    records: list[Any]
    signature: bytes
    signature_text: str
    unsigned: dict[str, Any] = field(repr=False)


def field_problem(name: str, detail: str) -> RejectionError:
    return RejectionError(
        422,
        "invalid-envelope",
        "The batch envelope is invalid",
        f"{name}: {detail}",
        [RecordProblem(f"/{name}", detail)],
    )


def parse_envelope(document: Any) -> Envelope:
    """Check the envelope's shape strictly. Requires nothing of the records yet."""
    if not isinstance(document, dict):
        raise RejectionError(
            422, "invalid-envelope", "The batch envelope is invalid", "the body must be an object"
        )
    missing = sorted(_ENVELOPE_FIELDS - document.keys())
    if missing:
        raise field_problem(missing[0], "is required")
    extra = sorted(document.keys() - _ENVELOPE_FIELDS)
    if extra:
        raise field_problem(extra[0], "is not an envelope field")
    for name in ("platform_id", "key_id", "batch_id", "created_at", "signature"):
        if not isinstance(document[name], str):
            raise field_problem(name, "must be a string")
    # Only what the published schema states is checked before authentication.
    if not PLATFORM_ID_RE.fullmatch(document["platform_id"]):
        raise field_problem("platform_id", "must look like PLT-<institution code>")
    if not KEY_ID_RE.fullmatch(document["key_id"]):
        raise field_problem("key_id", "must be 16 lower-case hex digits")
    if not BATCH_ID_RE.fullmatch(document["batch_id"]):
        raise field_problem("batch_id", "must be 1-128 letters, digits and . _ : -")
    if not _DATE_TIME.fullmatch(document["created_at"]):
        raise field_problem("created_at", "must be an RFC 3339 date-time with an offset")
    if not _SIGNATURE.fullmatch(document["signature"]):
        raise field_problem("signature", "must be a base64 Ed25519 signature (64 bytes)")
    signature = base64.b64decode(document["signature"])
    records = document["records"]
    if not isinstance(records, list) or not records:
        raise field_problem("records", "must be a non-empty array")
    unsigned = {k: v for k, v in document.items() if k != "signature"}
    return Envelope(
        document["platform_id"],
        document["key_id"],
        document["batch_id"],
        document["created_at"],
        records,
        signature,
        document["signature"],
        unsigned,
    )
