"""The OpenAPI 3.1 description of the platform API, built from the same schemas it enforces."""

from __future__ import annotations

from typing import Any

from supervisor.intake.envelope import BATCH_ID_PATTERN, SIGNATURE_PATTERN
from supervisor.intake.platforms import KEY_ID_PATTERN, PLATFORM_ID_PATTERN
from supervisor.intake.record_schema import (
    DATE_TIME_PATTERN,
    SCHEMA_IDS,
    SCHEMA_VERSIONS,
    record_definitions,
    record_union,
)

__all__ = ["openapi_document"]

_B64 = {"type": "string", "contentEncoding": "base64"}
#: A SHA-256 hash in standard base64: 43 characters and one "=".
_HASH_B64 = {"type": "string", "pattern": "^[A-Za-z0-9+/]{42}[AEIMQUYcgkosw048]=$"}

_ENVELOPE = {
    "type": "object",
    "required": ["platform_id", "key_id", "batch_id", "created_at", "records", "signature"],
    "additionalProperties": False,
    "properties": {
        "platform_id": {"type": "string", "pattern": PLATFORM_ID_PATTERN},
        "key_id": {"type": "string", "pattern": KEY_ID_PATTERN},
        "batch_id": {"type": "string", "pattern": BATCH_ID_PATTERN},
        "created_at": {"type": "string", "pattern": DATE_TIME_PATTERN},
        "records": {
            "type": "array",
            "minItems": 1,
            "items": {"$ref": "#/components/schemas/Record"},
            "description": "At most 1,000 records by default (configurable): more is a 413.",
        },
        "signature": {
            "type": "string",
            "pattern": SIGNATURE_PATTERN,
            "description": "Ed25519 over the RFC 8785 canonical JSON of the envelope "
            "without this field.",
        },
    },
}

_RECEIPT = {
    "type": "object",
    "required": [
        "receipt_version",
        "platform_id",
        "batch_id",
        "tree_size",
        "checkpoint",
        "records",
    ],
    "properties": {
        "receipt_version": {"const": "careledger.receipt/v1"},
        "platform_id": {"type": "string"},
        "batch_id": {"type": "string"},
        "tree_size": {"type": "integer", "minimum": 1},
        "checkpoint": {
            "type": "string",
            "description": "C2SP signed checkpoint note that includes every record of the batch.",
        },
        "records": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["record_id", "index", "leaf", "leaf_hash", "salt", "inclusion_proof"],
                "properties": {
                    "record_id": {"type": "string"},
                    "index": {"type": "integer", "minimum": 0},
                    "leaf": _B64,
                    "leaf_hash": _B64,
                    "salt": _B64,
                    "inclusion_proof": {"type": "array", "items": _B64},
                },
            },
        },
    },
}

_PROBLEM = {
    "type": "object",
    "required": ["type", "title", "status", "detail"],
    "properties": {
        "type": {"type": "string"},
        "title": {"type": "string"},
        "status": {"type": "integer"},
        "detail": {"type": "string"},
        "errors": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["pointer", "detail"],
                "properties": {"pointer": {"type": "string"}, "detail": {"type": "string"}},
            },
        },
    },
}


def _problem(description: str) -> dict[str, Any]:
    return {
        "description": description,
        "content": {
            "application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}
        },
    }


def _json_response(description: str, schema: dict[str, Any]) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _query(name: str, minimum: int, *, required: bool = True) -> dict[str, Any]:
    return {
        "name": name,
        "in": "query",
        "required": required,
        "schema": {"type": "integer", "minimum": minimum, "maximum": 2**63 - 1},
    }


def _text_response(description: str) -> dict[str, Any]:
    return {"description": description, "content": {"text/plain": {"schema": {"type": "string"}}}}


_HASHES = {"type": "array", "items": _B64}


def _log_paths() -> dict[str, Any]:
    """The public log API (no authentication). Tiles follow C2SP tlog-tiles paths."""
    bad = _problem("Malformed parameter, or index not below size, or old above size")
    absent = _problem("Not in the log: size, index or leaf hash beyond what it holds")
    behind = _problem("The leaf-hash index is catching up (Retry-After); ask again, or by index")
    return {
        "/log/checkpoint": {
            "get": {
                "operationId": "getCheckpoint",
                "summary": "The latest C2SP signed checkpoint",
                "responses": {
                    "200": _text_response("A signed note"),
                    "404": _problem("The log is empty"),
                },
            }
        },
        "/log/vkey": {
            "get": {
                "operationId": "getVerifierKey",
                "summary": "The log's verifier key",
                "responses": {"200": _text_response("A C2SP verifier key")},
            }
        },
        "/log/proof/inclusion": {
            "get": {
                "operationId": "getInclusionProof",
                "summary": "Audit path of a leaf (by index or by base64 leaf_hash)",
                "parameters": [
                    _query("size", 1),
                    _query("index", 0, required=False),
                    {
                        "name": "leaf_hash",
                        "in": "query",
                        "required": False,
                        "schema": _HASH_B64,
                    },
                ],
                "responses": {
                    "200": _json_response(
                        "The proof",
                        {
                            "type": "object",
                            "required": ["index", "size", "leaf_hash", "hashes"],
                            "properties": {
                                "index": {"type": "integer"},
                                "size": {"type": "integer"},
                                "leaf_hash": _B64,
                                "hashes": _HASHES,
                            },
                        },
                    ),
                    "400": bad,
                    "404": absent,
                    "503": behind,
                },
            }
        },
        "/log/proof/consistency": {
            "get": {
                "operationId": "getConsistencyProof",
                "summary": "Proof that the tree of size `size` extends the tree of size `old`",
                "parameters": [_query("old", 1), _query("size", 1)],
                "responses": {
                    "200": _json_response(
                        "The proof",
                        {
                            "type": "object",
                            "required": ["old", "size", "hashes"],
                            "properties": {
                                "old": {"type": "integer"},
                                "size": {"type": "integer"},
                                "hashes": _HASHES,
                            },
                        },
                    ),
                    "400": bad,
                    "404": absent,
                },
            }
        },
        "/log/entries/{index}": {
            "get": {
                "operationId": "getEntry",
                "summary": "A leaf (the public entry header) and its hash; never a payload",
                "parameters": [
                    {
                        "name": "index",
                        "in": "path",
                        "required": True,
                        "schema": {"type": "integer", "minimum": 0, "maximum": 2**63 - 1},
                    }
                ],
                "responses": {
                    "200": _json_response("The entry", {"type": "object"}),
                    "400": bad,
                    "404": _problem("No entry at that index yet"),
                },
            }
        },
        "/log/checkpoints": {
            "get": {
                "operationId": "getCheckpointHistory",
                "summary": "Signed checkpoints above size `after`, smallest first",
                "parameters": [
                    _query("after", 0, required=False),
                    _query("limit", 1, required=False),
                ],
                "responses": {
                    "200": _json_response(
                        "A page of checkpoints",
                        {
                            "type": "object",
                            "required": ["checkpoints"],
                            "properties": {"checkpoints": {"type": "array"}},
                        },
                    ),
                    "400": bad,
                },
            }
        },
    }


_AUTHORIZATION = {
    "name": "Authorization",
    "in": "header",
    "required": True,
    "schema": {"type": "string"},
    "description": 'CareLedger-Ed25519 platform_id="..", key_id="..", '
    'created="<unix seconds>", signature="<base64>"',
}
_NOTICE_ID = {
    "name": "notice_id",
    "in": "path",
    "required": True,
    "schema": {"type": "string"},
}
_RESPONSE_ID_PATTERN = "^[A-Za-z0-9._:-]{1,80}$"
_NOTICE_ID_PATTERN = "^N[0-9A-F]{15}$"
#: Some character that is not white space: a text of blanks says nothing.
_SAYS_SOMETHING = "\\S"
#: Control codes and bidirectional overrides a name or statement may not hold
#: (``supervisor/ground/plain_text.py``); a statement may hold tabs and line breaks.
_CONTROLS = "\\u007f-\\u009f\\u061c\\u200e\\u200f\\u202a-\\u202e\\u2066-\\u2069"
_NAME_CHARS = f"[^\\u0000-\\u001f{_CONTROLS}]"
_TEXT_CHARS = f"[^\\u0000-\\u0008\\u000b\\u000c\\u000e-\\u001f{_CONTROLS}]"


def _printable(chars: str) -> str:
    """A pattern: only ``chars``, at least one of them not a space."""
    visible = chars[:-1] + "\\s]"
    return f"^{chars}*{visible}{chars}*$"


_RESPONSE_ENVELOPE = {
    "type": "object",
    "required": [
        "platform_id",
        "key_id",
        "notice_id",
        "response_id",
        "created_at",
        "kind",
        "statement",
        "attachments",
        "signature",
    ],
    "additionalProperties": False,
    "properties": {
        "platform_id": {"type": "string", "pattern": PLATFORM_ID_PATTERN},
        "key_id": {"type": "string", "pattern": KEY_ID_PATTERN},
        "notice_id": {
            "type": "string",
            "pattern": _NOTICE_ID_PATTERN,
            "description": "The notice answered: the one in the path.",
        },
        "response_id": {
            "type": "string",
            "pattern": _RESPONSE_ID_PATTERN,
            "description": "The platform's id for this response: resending the same bytes "
            "gets the same receipt; other content under it is a 409.",
        },
        "created_at": {"type": "string", "pattern": DATE_TIME_PATTERN},
        "kind": {"enum": ["rectified", "objection"]},
        "statement": {
            "type": "string",
            "minLength": 1,
            "maxLength": 4000,
            "pattern": _printable(_TEXT_CHARS),
            "description": "What was done, or why the institution objects.",
        },
        "attachments": {
            "type": "array",
            "maxItems": 20,
            "description": "Files kept by the institution, named by their hashes (not uploaded).",
            "items": {
                "type": "object",
                "required": ["name", "sha256", "size"],
                "additionalProperties": False,
                "properties": {
                    "name": {
                        "type": "string",
                        "minLength": 1,
                        "maxLength": 200,
                        "pattern": _printable(_NAME_CHARS),
                    },
                    "sha256": {"type": "string", "pattern": "^[0-9a-f]{64}$"},
                    "size": {"type": "integer", "minimum": 0, "maximum": 2**40},
                },
            },
        },
        "signature": {
            "type": "string",
            "pattern": SIGNATURE_PATTERN,
            "description": "Ed25519 over the RFC 8785 canonical JSON of the response "
            "without this field.",
        },
    },
}

_RESPONSE_RECEIPT = {
    "type": "object",
    "required": [
        "receipt_version",
        "platform_id",
        "notice_id",
        "response_id",
        "index",
        "tree_size",
        "checkpoint",
        "leaf",
        "leaf_hash",
        "salt",
        "inclusion_proof",
    ],
    "properties": {
        "receipt_version": {"const": "careledger.response-receipt/v1"},
        "platform_id": {"type": "string"},
        "notice_id": {"type": "string"},
        "response_id": {"type": "string"},
        "index": {"type": "integer", "minimum": 0},
        "tree_size": {"type": "integer", "minimum": 1},
        "checkpoint": {
            "type": "string",
            "description": "C2SP signed checkpoint note that includes the response.",
        },
        "leaf": _B64,
        "leaf_hash": _B64,
        "salt": _B64,
        "inclusion_proof": {"type": "array", "items": _B64},
    },
}

_REVIEWED_RESPONSE = {
    "type": "object",
    "required": ["response_id", "kind", "created_at", "received_at", "review"],
    "properties": {
        "response_id": {"type": "string"},
        "kind": {"enum": ["rectified", "objection"]},
        "created_at": {"type": "string"},
        "received_at": {"type": "string"},
        "review": {"enum": ["pending", "accepted", "rejected"]},
        "review_reason": {"type": ["string", "null"]},
    },
}

_NOTICE_STATE = {
    "notice_id": {"type": "string", "pattern": _NOTICE_ID_PATTERN},
    "cursor": {"type": "integer", "minimum": 0, "description": "Ask `after` this next."},
    "case_id": {"type": "string"},
    "case_state": {"type": "string"},
    "deadline": {"type": "string", "format": "date", "description": "Rectify by (China)."},
    "awaiting_response": {"type": "boolean"},
    "responses": {"type": "array", "items": _REVIEWED_RESPONSE},
}
_NOTICE_STATE_REQUIRED = list(_NOTICE_STATE)

_NOTICE_SUMMARY = {
    "type": "object",
    "required": [*_NOTICE_STATE_REQUIRED, "institution_code", "rule", "severity", "issued_at"],
    "properties": {
        **_NOTICE_STATE,
        "institution_code": {"type": "string"},
        "rule": {"type": "string"},
        "title": {"type": "string"},
        "severity": {"type": "string"},
        "issued_at": {"type": "string"},
        "finding_count": {"type": "integer", "minimum": 0},
    },
}

_NOTICE = {
    "type": "object",
    "required": [*_NOTICE_STATE_REQUIRED, "notice"],
    "properties": {
        **_NOTICE_STATE,
        "notice": {
            "type": "object",
            "description": "The notice (整改通知书) as the ledger seals it: the case, the rule "
            "and its legal basis, every finding with its evidence, what must be done, the "
            "deadline it was issued with.",
            "required": ["notice_id", "case_id", "rule", "legal_basis", "deadline", "findings"],
            "properties": {
                "findings": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "required": ["finding_id", "rule", "record_id", "evidence"],
                    },
                }
            },
        },
    },
}


def _notice_paths() -> dict[str, Any]:
    """Notices to the platform's institution and its answers: reads are signed requests,
    a response signs itself."""
    unsigned = _problem("Missing, malformed or invalid request signature")
    unknown_key = _problem("Unknown or revoked key")
    response_receipt = {"$ref": "#/components/schemas/ResponseReceipt"}
    return {
        "/api/v1/notices": {
            "get": {
                "operationId": "listNotices",
                "summary": "Notices to the platform's institution, oldest first (signed request)",
                "parameters": [
                    {
                        "name": "after",
                        "in": "query",
                        "required": False,
                        "schema": {"type": "integer", "minimum": 0, "maximum": 2**63 - 1},
                        "description": "A notice's cursor (a next_cursor): the notices after it.",
                    },
                    _AUTHORIZATION,
                ],
                "responses": {
                    "200": _json_response(
                        "A page of notices; next_cursor is null when there are no more",
                        {
                            "type": "object",
                            "required": ["notices", "next_cursor"],
                            "properties": {
                                "notices": {
                                    "type": "array",
                                    "items": {"$ref": "#/components/schemas/NoticeSummary"},
                                },
                                "next_cursor": {"type": ["integer", "null"], "minimum": 0},
                            },
                        },
                    ),
                    "401": unsigned,
                    "403": unknown_key,
                    "422": _problem("after is not a whole number from 0 to 2^63 - 1"),
                },
            }
        },
        "/api/v1/notices/{notice_id}": {
            "get": {
                "operationId": "getNotice",
                "summary": "One notice with its findings and evidence (signed request)",
                "parameters": [_NOTICE_ID, _AUTHORIZATION],
                "responses": {
                    "200": _json_response("The notice", {"$ref": "#/components/schemas/Notice"}),
                    "401": unsigned,
                    "403": unknown_key,
                    "404": _problem("No such notice to this platform's institution"),
                },
            }
        },
        "/api/v1/notices/{notice_id}/responses": {
            "post": {
                "operationId": "respondToNotice",
                "summary": "Answer a notice with a signed response (rectified or objection)",
                "parameters": [_NOTICE_ID],
                "requestBody": {
                    "required": True,
                    "content": {
                        "application/json": {
                            "schema": {"$ref": "#/components/schemas/ResponseEnvelope"}
                        }
                    },
                },
                "responses": {
                    "201": _json_response("Taken: the durable, final receipt", response_receipt),
                    "200": _json_response(
                        "A resend of a taken response: its receipt", response_receipt
                    ),
                    "400": _problem("The body is not valid JSON"),
                    "403": _problem("Unknown or revoked key, or bad signature"),
                    "404": _problem("No such notice to this platform's institution"),
                    "409": _problem(
                        "response_id reused with other content, or the notice awaits no response"
                    ),
                    "413": _problem("Too large a body"),
                    "415": _problem("Not application/json"),
                    "422": _problem(
                        "Invalid response (errors point at it), notice_id not the path's, or "
                        "created_at too far from the regulator's clock"
                    ),
                },
            }
        },
        "/api/v1/notices/{notice_id}/responses/{response_id}/receipt": {
            "get": {
                "operationId": "getResponseReceipt",
                "summary": "Fetch a response's receipt again (signed request)",
                "parameters": [
                    _NOTICE_ID,
                    {
                        "name": "response_id",
                        "in": "path",
                        "required": True,
                        "schema": {"type": "string"},
                    },
                    _AUTHORIZATION,
                ],
                "responses": {
                    "200": _json_response("The receipt", response_receipt),
                    "401": unsigned,
                    "403": unknown_key,
                    "404": _problem("No such response from this platform to that notice"),
                },
            }
        },
    }


def openapi_document() -> dict[str, Any]:
    receipt = {"$ref": "#/components/schemas/Receipt"}
    schemas: dict[str, Any] = {
        "BatchEnvelope": _ENVELOPE,
        "Receipt": _RECEIPT,
        "Problem": _PROBLEM,
        "ResponseEnvelope": _RESPONSE_ENVELOPE,
        "ResponseReceipt": _RESPONSE_RECEIPT,
        "NoticeSummary": _NOTICE_SUMMARY,
        "Notice": _NOTICE,
        "Record": record_union("#/components/schemas/"),
        **record_definitions(),
    }
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "careledger API: platform submissions, notices and the public log",
            "version": "1",
            "description": "Mandatory transmission of internet-healthcare records to the "
            "regulator: signed batches in, final verifiable receipts out; rectification "
            "notices to the institution out, its signed answers in.",
        },
        "paths": {
            "/api/v1/batches": {
                "post": {
                    "operationId": "submitBatch",
                    "summary": "Submit a signed batch of records",
                    "requestBody": {
                        "required": True,
                        "content": {
                            "application/json": {
                                "schema": {"$ref": "#/components/schemas/BatchEnvelope"}
                            }
                        },
                    },
                    "responses": {
                        "201": _json_response("Accepted: the durable, final receipt", receipt),
                        "200": _json_response("A retry of an accepted batch: its receipt", receipt),
                        "400": _problem("The body is not valid JSON"),
                        "403": _problem("Unknown or revoked key, bad signature, wrong institution"),
                        "409": _problem("batch_id reused with other content, or record resent"),
                        "413": _problem("Too many records or too large a body"),
                        "415": _problem("Not application/json"),
                        "422": _problem("Invalid envelope or records; errors point at them"),
                    },
                }
            },
            "/api/v1/batches/{batch_id}": {
                "get": {
                    "operationId": "getReceipt",
                    "summary": "Fetch a batch's receipt again (signed request)",
                    "parameters": [
                        {
                            "name": "batch_id",
                            "in": "path",
                            "required": True,
                            "schema": {"type": "string"},
                        },
                        {
                            "name": "Authorization",
                            "in": "header",
                            "required": True,
                            "schema": {"type": "string"},
                            "description": 'CareLedger-Ed25519 platform_id="..", key_id="..", '
                            'created="<unix seconds>", signature="<base64>"',
                        },
                    ],
                    "responses": {
                        "200": _json_response("The receipt", receipt),
                        "401": _problem("Missing, malformed or invalid request signature"),
                        "403": _problem("Unknown or revoked key"),
                        "404": _problem("No such batch for this platform"),
                    },
                }
            },
            "/api/v1/schema": {
                "get": {
                    "operationId": "getRecordSchema",
                    "summary": "The record JSON Schema: every version, or one",
                    "description": (
                        "Without a version: the latest schema, which accepts a record of any "
                        "version (later versions only add record types), with "
                        "`x-schema-versions` naming each version's types. "
                        + "; ".join(f"version {v}: {SCHEMA_IDS[v]}" for v in SCHEMA_VERSIONS)
                    ),
                    "parameters": [
                        {
                            "name": "version",
                            "in": "query",
                            "required": False,
                            "schema": {"type": "string", "enum": [str(v) for v in SCHEMA_VERSIONS]},
                        }
                    ],
                    "responses": {
                        "200": _json_response("JSON Schema 2020-12", {"type": "object"}),
                        "400": _problem("No such schema version"),
                    },
                }
            },
            **_notice_paths(),
            **_log_paths(),
            "/api/v1/openapi.json": {
                "get": {
                    "operationId": "getOpenApi",
                    "summary": "This document",
                    "responses": {"200": _json_response("OpenAPI 3.1", {"type": "object"})},
                }
            },
        },
        "components": {"schemas": schemas},
    }
