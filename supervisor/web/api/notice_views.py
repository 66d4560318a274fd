"""Thin views of notices and answers on the platform API: a platform reads the
rectification notices to its institution and answers them, with the keys and request
signatures it submits batches with. Another platform's notice reads as no notice."""

from __future__ import annotations

from urllib.parse import quote

from flask import Response, g, request

from supervisor.cases.lifecycle import CaseError
from supervisor.intake.envelope import RejectionError
from supervisor.intake.record_schema import RecordProblem
from supervisor.web.api.views import api, json_response, signed_platform, strict_json_body
from supervisor.web.current import services
from supervisor.web.problems import problem_response

__all__ = ["case_refused", "list_notices", "notice", "respond", "response_receipt"]

#: Cursors are ledger indexes: a PostgreSQL bigint holds below 2^63.
_MAX_CURSOR = 2**63


@api.errorhandler(CaseError)
def case_refused(error: CaseError) -> Response:
    return problem_response(error.status, "case-refused", "The step is not allowed", str(error))


def _unknown_notice(platform_id: str, notice_id: str) -> Response:
    return problem_response(
        404, "unknown-notice", "No such notice", f"no notice {notice_id} to {platform_id}"
    )


def _cursor() -> int:
    """``after`` as given (a ledger index), or -1 (from the first notice)."""
    given = request.args.getlist("after")
    if not given:
        return -1
    text = given[0]
    if (
        len(given) > 1
        or not text.isascii()
        or not text.isdigit()
        or (len(text) > 1 and text[0] == "0")
        or int(text) >= _MAX_CURSOR
    ):
        detail = "must be given once, as a whole number from 0 to 2^63 - 1 (a next_cursor)"
        raise RejectionError(
            422,
            "bad-parameter",
            "A query parameter is malformed or out of range",
            f"after: {detail}, not {text!r}",
            [RecordProblem("#/query/after", detail)],
        )
    return int(text)


@api.get("/notices")
def list_notices() -> Response:
    platform_id = signed_platform()
    notices, next_cursor = services().cases.notices_for(platform_id, after=_cursor())
    return json_response({"notices": notices, "next_cursor": next_cursor})


@api.get("/notices/<notice_id>")
def notice(notice_id: str) -> Response:
    platform_id = signed_platform()
    found = services().cases.notice_for(platform_id, notice_id)
    if found is None:
        return _unknown_notice(platform_id, notice_id)
    return json_response(found)


@api.post("/notices/<notice_id>/responses")
def respond(notice_id: str) -> Response:
    document = strict_json_body("response")
    if isinstance(document, dict):
        g.platform_id = document.get("platform_id")
    outcome = services().cases.respond(document, notice_id=notice_id)
    receipt = outcome.receipt
    location = (
        f"/api/v1/notices/{quote(notice_id, safe='')}/responses/"
        f"{quote(receipt['response_id'], safe='')}/receipt"
    )
    return json_response(receipt, 201 if outcome.created else 200, {"Location": location})


@api.get("/notices/<notice_id>/responses/<response_id>/receipt")
def response_receipt(notice_id: str, response_id: str) -> Response:
    platform_id = signed_platform()
    receipt = services().cases.response_receipt(platform_id, response_id)
    if receipt is None or receipt["notice_id"] != notice_id:
        return problem_response(
            404,
            "unknown-response",
            "No such response",
            f"{platform_id} sent no response {response_id} to notice {notice_id}",
        )
    return json_response(receipt)
