"""Notices and answers over the platform API: a platform reads the notices to its
institution and answers them with signed responses; receipts verify offline; another
platform can neither see nor answer them; whatever is refused leaves the ledger as it was."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import orjson
import pytest
from sqlalchemy import select

from supervisor.cases.responses import verify_response_receipt
from supervisor.cases.service import CaseFilter
from supervisor.client.notices import response_envelope
from supervisor.client.submit import PlatformKeyFile
from supervisor.database import tables
from supervisor.intake.platforms import PlatformRegistry, generate_platform_key
from supervisor.intake.request_signing import authorization_header
from tests.supervisor.conftest import INSTITUTION, Portal

pytestmark = pytest.mark.database

REGULATOR = frozenset({"regulator"})
CST_OFFSET = timedelta(hours=8)


def _get(
    portal: Portal,
    path: str,
    *,
    query: str = "",
    platform_id: str | None = None,
    key: PlatformKeyFile | None = None,
) -> Any:
    """A GET signed with the platform's key (or another's)."""
    key = key or portal.key
    header = authorization_header(
        platform_id or portal.platform_id,
        key.key_id,
        key.seed,
        method="GET",
        path=path,
        created=int(portal.clock.now.timestamp()),
    )
    return portal.client.get(
        path + (f"?{query}" if query else ""), headers={"Authorization": header}
    )


def _response(
    portal: Portal,
    notice_id: str,
    response_id: str,
    *,
    statement: str = "已向监管平台完成备案，备案号见附件",
    platform_id: str | None = None,
    key: PlatformKeyFile | None = None,
) -> dict[str, Any]:
    return response_envelope(
        platform_id=platform_id or portal.platform_id,
        key=key or portal.key,
        notice_id=notice_id,
        response_id=response_id,
        created_at=portal.clock.now,
        kind="rectified",
        statement=statement,
        attachments=[{"name": "备案回执.pdf", "sha256": "0f" * 32, "size": 48213}],
    )


def _post(portal: Portal, notice_id: str, envelope: Any) -> Any:
    return portal.client.post(f"/api/v1/notices/{notice_id}/responses", json=envelope)


def _problem(answer: Any, status: int, kind: str) -> dict[str, Any]:
    assert answer.status_code == status, answer.get_data(as_text=True)
    assert answer.mimetype == "application/problem+json"
    body: dict[str, Any] = answer.get_json()
    assert body["type"].endswith("/" + kind), body
    return body


def _inspected_with_notices(portal: Portal) -> list[str]:
    """Records of an unfiled institution, inspected past the grace period, and a notice on
    each of two of its cases (the unfiled institution first); returns the notice ids."""
    assert portal.post(portal.envelope(portal.records(6))).status_code == 201
    portal.clock.now += timedelta(days=4)
    portal.services.inspector.follow()
    cases = portal.services.cases
    (unfiled,) = cases.list_cases(CaseFilter(rule="ORG-UNKNOWN"))
    other = next(c for c in cases.list_cases() if c.rule_id != "ORG-UNKNOWN")
    deadline = (portal.clock.now + CST_OFFSET).date() + timedelta(days=10)
    return [
        cases.order_rectification(
            case.case_id,
            deadline=deadline,
            text="向监管平台备案并报送整改情况",
            username="wangjing",
            roles=REGULATOR,
        )
        for case in (unfiled, other)
    ]


def _second_platform(portal: Portal) -> tuple[str, PlatformKeyFile]:
    seed, public_key = generate_platform_key()
    platform_id, _ = PlatformRegistry(portal.services.store).register(
        "H330100002", "另一家互联网医院", public_key, now=portal.clock.now
    )
    return platform_id, PlatformKeyFile(seed)


def test_a_platform_lists_its_notices_by_cursor_and_reads_one_with_its_evidence(
    portal: Portal,
) -> None:
    first, second = _inspected_with_notices(portal)
    listed = _get(portal, "/api/v1/notices")
    assert listed.status_code == 200
    page = listed.get_json()
    assert [n["notice_id"] for n in page["notices"]] == [first, second]
    assert page["next_cursor"] is None, "everything fits in one page"
    summary = page["notices"][0]
    assert summary["rule"] == "ORG-UNKNOWN" and summary["institution_code"] == INSTITUTION
    assert summary["awaiting_response"] and summary["case_state"] == "rectification_ordered"
    after = _get(portal, "/api/v1/notices", query=f"after={summary['cursor']}").get_json()
    assert [n["notice_id"] for n in after["notices"]] == [second]
    last = after["notices"][0]["cursor"]
    assert _get(portal, "/api/v1/notices", query=f"after={last}").get_json() == {
        "notices": [],
        "next_cursor": None,
    }

    answer = _get(portal, f"/api/v1/notices/{first}")
    assert answer.status_code == 200
    notice = answer.get_json()
    document = notice["notice"]
    case = portal.services.cases.case(notice["case_id"])
    assert document["notice_id"] == first and document["legal_basis"]
    assert document["required_action"] == "向监管平台备案并报送整改情况"
    assert len(document["findings"]) == case.finding_count >= 6
    assert all(f["evidence"] for f in document["findings"]), "each finding with its evidence"
    records = {r["record_id"] for r in portal.records(6)}
    assert {f["record_id"] for f in document["findings"]} <= records, "its own records only"
    assert notice["deadline"] == document["deadline"] == case.deadline


def test_a_response_gets_a_receipt_that_verifies_offline_and_a_resend_appends_nothing(
    portal: Portal,
) -> None:
    notice_id, _ = _inspected_with_notices(portal)
    envelope = _response(portal, notice_id, "resp-2026-001")
    taken = _post(portal, notice_id, envelope)
    assert taken.status_code == 201, taken.get_data(as_text=True)
    receipt = taken.get_json()
    assert taken.headers["Location"] == (
        f"/api/v1/notices/{notice_id}/responses/resp-2026-001/receipt"
    )
    index = verify_response_receipt(receipt, portal.verifier, envelope)
    assert portal.services.store.entry(index).type == "notice.response"
    size = portal.log_size()

    resent = _post(portal, notice_id, envelope)
    assert resent.status_code == 200 and resent.get_json() == receipt
    assert portal.log_size() == size, "the same bytes again append nothing"
    again = _get(portal, f"/api/v1/notices/{notice_id}/responses/resp-2026-001/receipt")
    assert again.status_code == 200 and again.get_json() == receipt

    other = _response(portal, notice_id, "resp-2026-001", statement="另一份答复内容")
    _problem(_post(portal, notice_id, other), 409, "response-conflict")
    body = _problem(_post(portal, notice_id, _response(portal, notice_id, "r-2")), 409,
                    "notice-not-awaiting")  # fmt: skip
    assert "awaits the regulator's review" in body["detail"]
    assert portal.log_size() == size
    notice = _get(portal, f"/api/v1/notices/{notice_id}").get_json()
    assert notice["case_state"] == "responded" and not notice["awaiting_response"]
    assert [(r["response_id"], r["review"]) for r in notice["responses"]] == [
        ("resp-2026-001", "pending")
    ]

    # Accepted: the case closes, and the notice awaits nothing more.
    cases = portal.services.cases
    cases.review("resp-2026-001", accept=True, username="wangjing", roles=REGULATOR)
    body = _problem(_post(portal, notice_id, _response(portal, notice_id, "r-3")), 409,
                    "notice-not-awaiting")  # fmt: skip
    assert "closed" in body["detail"] and portal.log_size() == size + 1
    closed = _get(portal, f"/api/v1/notices/{notice_id}").get_json()
    assert closed["case_state"] == "closed" and closed["responses"][0]["review"] == "accepted"


def test_a_tampered_or_malformed_response_is_refused_and_nothing_is_stored(
    portal: Portal,
) -> None:
    notice_id, other_notice = _inspected_with_notices(portal)
    size = portal.log_size()
    envelope = _response(portal, notice_id, "resp-1")
    tampered = {**envelope, "statement": "签名之后改过的答复"}
    _problem(_post(portal, notice_id, tampered), 403, "bad-signature")
    stranger = {**envelope, "key_id": "0" * 16}
    _problem(_post(portal, notice_id, stranger), 403, "unknown-key")

    for field, value, pointer in (
        ("kind", "fixed", "/kind"),
        ("statement", "   ", "/statement"),
        ("attachments", [{"name": "a.pdf", "sha256": "AB" * 32, "size": 1}],
         "/attachments/0/sha256"),
        ("created_at", "yesterday", "/created_at"),
    ):  # fmt: skip
        body = _problem(_post(portal, notice_id, {**envelope, field: value}), 422,
                        "invalid-response")  # fmt: skip
        assert body["errors"][0]["pointer"] == pointer, body
    missing = {k: v for k, v in envelope.items() if k != "response_id"}
    assert _problem(_post(portal, notice_id, missing), 422, "invalid-response")["errors"] == [
        {"pointer": "/response_id", "detail": "is required"}
    ]
    # Signed for one notice, sent to another: refused, whichever it names.
    body = _problem(_post(portal, other_notice, envelope), 422, "invalid-response")
    assert body["errors"][0]["pointer"] == "/notice_id"

    raw = orjson.dumps(envelope)
    path = f"/api/v1/notices/{notice_id}/responses"
    _problem(portal.client.post(path, data=raw, content_type="text/plain"), 415,
             "unsupported-media-type")  # fmt: skip
    _problem(portal.client.post(path, data=raw[:-3], content_type="application/json"), 400,
             "malformed-json")  # fmt: skip
    twice = raw[:-1] + b',"kind":"objection"}'
    _problem(portal.client.post(path, data=twice, content_type="application/json"), 400,
             "malformed-json")  # fmt: skip
    assert portal.log_size() == size, "nothing refused was appended"

    for after in ("-1", "abc", "01", str(2**63), "1.5", "١"):
        body = _problem(_get(portal, "/api/v1/notices", query=f"after={after}"), 422,
                        "bad-parameter")  # fmt: skip
        assert body["errors"][0]["pointer"] == "#/query/after"
    _problem(_get(portal, "/api/v1/notices", query="after=1&after=2"), 422, "bad-parameter")


def test_reads_must_be_signed_by_a_registered_key(portal: Portal, new_key: Any) -> None:
    notice_id, _ = _inspected_with_notices(portal)
    for path in (
        "/api/v1/notices",
        f"/api/v1/notices/{notice_id}",
        f"/api/v1/notices/{notice_id}/responses/r-1/receipt",
    ):
        unsigned = portal.client.get(path)
        _problem(unsigned, 401, "unauthenticated")
        assert unsigned.headers["WWW-Authenticate"] == "CareLedger-Ed25519"
        _problem(portal.client.get(path, headers={"Authorization": "Bearer x"}), 401,
                 "unauthenticated")  # fmt: skip
        # Signed with a key that is not the one it names: the signature does not verify.
        forged = authorization_header(
            portal.platform_id,
            portal.key.key_id,
            new_key().seed,
            method="GET",
            path=path,
            created=int(portal.clock.now.timestamp()),
        )
        _problem(portal.client.get(path, headers={"Authorization": forged}), 401,
                 "bad-signature")  # fmt: skip
        stale = authorization_header(
            portal.platform_id,
            portal.key.key_id,
            portal.key.seed,
            method="GET",
            path=path,
            created=int((portal.clock.now - timedelta(hours=1)).timestamp()),
        )
        _problem(portal.client.get(path, headers={"Authorization": stale}), 401, "clock-skew")
    # A signature over one path does not open another.
    header = _get(portal, "/api/v1/notices").request.headers["Authorization"]
    _problem(portal.client.get(f"/api/v1/notices/{notice_id}", headers={"Authorization": header}),
             401, "bad-signature")  # fmt: skip


def test_a_second_platform_can_neither_see_nor_answer_the_first_ones_notices(
    portal: Portal,
) -> None:
    notice_id, _ = _inspected_with_notices(portal)
    platform_id, key = _second_platform(portal)
    theirs = _get(portal, "/api/v1/notices", platform_id=platform_id, key=key)
    assert theirs.status_code == 200 and theirs.get_json() == {"notices": [], "next_cursor": None}
    unseen = _get(portal, f"/api/v1/notices/{notice_id}", platform_id=platform_id, key=key)
    unknown = _get(portal, "/api/v1/notices/N000000000000000", platform_id=platform_id, key=key)
    assert _problem(unseen, 404, "unknown-notice")["detail"] == (
        f"no notice {notice_id} to {platform_id}"
    )
    _problem(unknown, 404, "unknown-notice")  # the same answer: nothing is revealed
    size = portal.log_size()
    theirs_envelope = _response(portal, notice_id, "intruder-1", platform_id=platform_id, key=key)
    _problem(_post(portal, notice_id, theirs_envelope), 404, "unknown-notice")
    assert portal.log_size() == size

    # The first platform's answer: its receipt is not the second one's to fetch either.
    assert _post(portal, notice_id, _response(portal, notice_id, "resp-1")).status_code == 201
    path = f"/api/v1/notices/{notice_id}/responses/resp-1/receipt"
    _problem(_get(portal, path, platform_id=platform_id, key=key), 404, "unknown-response")
    with portal.services.engine.connect() as connection:
        rows = list(connection.execute(select(tables.notice_responses.c.platform_id)))
    assert [r.platform_id for r in rows] == [portal.platform_id]


def test_a_size_written_as_1786_0_is_the_whole_number_it_signs(portal: Portal) -> None:
    """JSON (and the RFC 8785 bytes signed) cannot tell 48213.0 from 48213: both are taken,
    and the answer reads the same live as after a replay of the ledger."""
    notice_id, _ = _inspected_with_notices(portal)
    envelope = _response(portal, notice_id, "resp-float")
    written = {**envelope, "attachments": [{**envelope["attachments"][0], "size": 48213.0}]}
    raw = orjson.dumps(written)  # the signature still holds
    assert b'"size":48213.0' in raw
    path = f"/api/v1/notices/{notice_id}/responses"
    taken = portal.client.post(path, data=raw, content_type="application/json")
    assert taken.status_code == 201, taken.get_data(as_text=True)
    verify_response_receipt(taken.get_json(), portal.verifier, envelope)
    with portal.services.engine.connect() as connection:
        stored = connection.execute(select(tables.notice_responses.c.attachments)).scalar_one()
    assert orjson.loads(stored)[0]["size"] == 48213 and "48213.0" not in stored
    envelope["attachments"][0]["size"] = 48213.5
    refused = portal.client.post(path, json=envelope)
    assert _problem(refused, 422, "invalid-response")["errors"][0]["pointer"] == (
        "/attachments/0/size"
    )
