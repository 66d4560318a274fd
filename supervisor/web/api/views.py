"""Thin views: parse the request, call the submission service, map failures to problem+json."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

import orjson
from flask import Blueprint, Response, g, request

from supervisor.ground.strict_json import StrictJsonError, parse_strict_json
from supervisor.intake.record_schema import (
    SCHEMA_VERSIONS,
    published_schema,
    schema_versions_document,
)
from supervisor.intake.request_signing import SCHEME, parse_authorization, signing_input
from supervisor.intake.submission import RejectionError
from supervisor.web.api.openapi import openapi_document
from supervisor.web.current import services
from supervisor.web.problems import problem_response

__all__ = ["api", "json_response", "signed_platform", "strict_json_body"]

api = Blueprint("api", __name__)


def json_response(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    response = Response(orjson.dumps(body), status=status, mimetype="application/json")
    for name, value in (headers or {}).items():
        response.headers[name] = value
    return response


def _rejection(error: RejectionError) -> Response:
    return problem_response(
        error.status,
        error.kind,
        error.title,
        error.detail,
        errors=[{"pointer": e.pointer, "detail": e.detail} for e in error.errors],
        extensions=error.extensions,
        # RFC 9110: a 401 names the scheme that would get the request in.
        headers={"WWW-Authenticate": SCHEME} if error.status == 401 else None,
    )


@api.errorhandler(RejectionError)
def rejected(error: RejectionError) -> Response:
    return _rejection(error)


def strict_json_body(what: str) -> Any:
    """The request body as I-JSON (no key twice, bounded depth); raises ``RejectionError``
    (415 for another content type, 400 for malformed JSON)."""
    if request.mimetype != "application/json":
        raise RejectionError(
            415,
            "unsupported-media-type",
            "Unsupported Media Type",
            f"send the {what} as application/json, not {request.mimetype or 'no content type'}",
        )
    try:
        return parse_strict_json(request.get_data(cache=False))
    except StrictJsonError as e:
        raise RejectionError(
            400,
            "malformed-json",
            "The body is not valid JSON",
            f"{e} (UTF-8 I-JSON: no key twice in an object, nesting depth at most 1024)",
        ) from e


def signed_platform() -> str:
    """The platform whose registered key signed this read request (``request_signing``);
    raises ``RejectionError`` (401 unsigned or badly signed, 403 unknown or revoked key)."""
    header = request.headers.get("Authorization")
    if header is None:
        raise RejectionError(
            401,
            "unauthenticated",
            "Sign the request",
            "this request needs an Authorization header signed with a platform key",
        )
    try:
        signed = parse_authorization(header)
    except ValueError as e:
        raise RejectionError(401, "unauthenticated", "Sign the request", str(e)) from e
    services().submissions.authenticate_request(
        signed, signing_input(request.method, request.path, signed.created)
    )
    g.platform_id = signed.platform_id
    return signed.platform_id


@api.post("/batches")
def submit_batch() -> Response:
    document = strict_json_body("batch")
    if isinstance(document, dict):
        g.platform_id = document.get("platform_id")
    outcome = services().submissions.submit(document)
    receipt = outcome.receipt
    # Quoted, so that no batch id (however it passed validation) can break the header
    # of a batch that is already committed.
    location = "/api/v1/batches/" + quote(receipt["batch_id"], safe="")
    return json_response(receipt, 201 if outcome.created else 200, {"Location": location})


@api.get("/batches/<batch_id>")
def batch_receipt(batch_id: str) -> Response:
    platform_id = signed_platform()
    receipt = services().submissions.receipt(platform_id, batch_id)
    if receipt is None:
        return problem_response(
            404, "unknown-batch", "No such batch", f"{platform_id} sent no batch {batch_id}"
        )
    return json_response(receipt)


@api.get("/schema")
def record_schema() -> Response:
    """Every version (the latest, which accepts them all, annotated with each version's
    types), or one version alone with ``?version=N``."""
    asked = request.args.get("version")
    if asked is None:
        document = schema_versions_document()
    elif asked in {str(v) for v in SCHEMA_VERSIONS}:
        document = published_schema(int(asked))
    else:
        return problem_response(
            400,
            "unknown-schema-version",
            "No such schema version",
            f"version must be one of {', '.join(str(v) for v in SCHEMA_VERSIONS)}, "
            f"not {asked[:20]!r}",
        )
    return json_response(document, headers={"Cache-Control": "public, max-age=3600"})


@api.get("/openapi.json")
def openapi() -> Response:
    return json_response(openapi_document(), headers={"Cache-Control": "public, max-age=3600"})
