"""RFC 9457 problem details: the one shape every API error takes."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import orjson
from flask import Response

__all__ = ["PROBLEM_BASE", "problem_response"]

#: Problem types are documented at this base; the slug names the kind of failure.
PROBLEM_BASE = "https://careledger.local/problems/"


def problem_response(
    status: int,
    kind: str,
    title: str,
    detail: str,
    *,
    errors: Sequence[Mapping[str, str]] = (),
    extensions: Mapping[str, Any] | None = None,
    headers: Mapping[str, str] | None = None,
) -> Response:
    """An ``application/problem+json`` response. ``errors`` carry JSON pointers."""
    body: dict[str, Any] = {
        "type": PROBLEM_BASE + kind,
        "title": title,
        "status": status,
        "detail": detail,
    }
    if errors:
        body["errors"] = [dict(e) for e in errors]
    if extensions:
        body.update(extensions)
    response = Response(orjson.dumps(body), status=status, mimetype="application/problem+json")
    for name, value in (headers or {}).items():
        response.headers[name] = value
    return response
