"""Thin views: parse the request, call the submission service, map failures to problem+json."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

import orjson
from flask import Blueprint, Response, g, request

from supervisor.ground.strict_json import StrictJsonError, parse_strict_json
from supervisor.intake.record_schema import published_schema
from supervisor.intake.request_signing import parse_authorization, signing_input
from supervisor.intake.submission import RejectionError
from supervisor.web.api.openapi import openapi_document
from supervisor.web.current import services
from supervisor.web.problems import problem_response

__all__ = ["api"]

api = Blueprint("api", __name__)


def _json(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
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
    )


@api.errorhandler(RejectionError)
def rejected(error: RejectionError) -> Response:
    return _rejection(error)


@api.post("/batches")
def submit_batch() -> Response:
    if request.mimetype != "application/json":
        return problem_response(
            415,
            "unsupported-media-type",
            "Unsupported Media Type",
            f"send the batch as application/json, not {request.mimetype or 'no content type'}",
        )
    body = request.get_data(cache=False)
    try:
        document = parse_strict_json(body)
    except StrictJsonError as e:
        return problem_response(
            400,
            "malformed-json",
            "The body is not valid JSON",
            f"{e} (UTF-8 I-JSON: no key twice in an object, nesting depth at most 1024)",
        )
    if isinstance(document, dict):
        g.platform_id = document.get("platform_id")
    outcome = services().submissions.submit(document)
    receipt = outcome.receipt
    # Quoted, so that no batch id (however it passed validation) can break the header
    # of a batch that is already committed.
    location = "/api/v1/batches/" + quote(receipt["batch_id"], safe="")
    return _json(receipt, 201 if outcome.created else 200, {"Location": location})


@api.get("/batches/<batch_id>")
def batch_receipt(batch_id: str) -> Response:
    header = request.headers.get("Authorization")
    if header is None:
        return problem_response(
            401,
            "unauthenticated",
            "Sign the request",
            "fetching a receipt needs an Authorization header signed with a platform key",
            headers={"WWW-Authenticate": "CareLedger-Ed25519"},
        )
    try:
        signed = parse_authorization(header)
    except ValueError as e:
        return problem_response(
            401,
            "unauthenticated",
            "Sign the request",
            str(e),
            headers={"WWW-Authenticate": "CareLedger-Ed25519"},
        )
    submissions = services().submissions
    submissions.authenticate_request(
        signed, signing_input(request.method, request.path, signed.created)
    )
    g.platform_id = signed.platform_id
    receipt = submissions.receipt(signed.platform_id, batch_id)
    if receipt is None:
        return problem_response(
            404, "unknown-batch", "No such batch", f"{signed.platform_id} sent no batch {batch_id}"
        )
    return _json(receipt)


@api.get("/schema")
def record_schema() -> Response:
    return _json(published_schema(), headers={"Cache-Control": "public, max-age=3600"})


@api.get("/openapi.json")
def openapi() -> Response:
    return _json(openapi_document(), headers={"Cache-Control": "public, max-age=3600"})
