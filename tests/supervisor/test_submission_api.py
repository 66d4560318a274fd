"""Platforms submit signed batches and get final receipts; bad input loses nothing.

Every test runs on SQLite and on PostgreSQL, and ends with the whole log
re-verified (the ``portal`` fixture).
"""

from __future__ import annotations

import base64
import copy
import urllib.parse
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import nacl.signing
import orjson
import pytest
import rfc8785
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from sqlalchemy import func, select

from ledger import schema as ledger_schema
from ledger.leaf import decode_leaf
from supervisor.client.submit import PlatformKeyFile, sign_envelope
from supervisor.database import tables
from supervisor.ground.records import record_commitment
from supervisor.intake.platforms import PlatformRegistry
from supervisor.intake.receipts import ReceiptError, verify_receipt
from supervisor.intake.request_signing import authorization_header

from .conftest import Portal

pytestmark = pytest.mark.database


def _problem(response: Any, status: int, kind: str) -> dict[str, Any]:
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.mimetype == "application/problem+json"
    body: dict[str, Any] = response.get_json(force=True)
    assert body["type"].endswith("/" + kind), body
    assert body["status"] == status and body["title"] and body["detail"]
    return body


def test_an_accepted_batch_gets_a_final_receipt_that_verifies_offline(portal: Portal) -> None:
    records = portal.records(40)
    envelope = portal.envelope(records)
    size_before = portal.log_size()
    response = portal.post(envelope)
    assert response.status_code == 201, response.get_data(as_text=True)
    assert response.headers["Location"] == f"/api/v1/batches/{envelope['batch_id']}"
    receipt = response.get_json()
    verified = verify_receipt(receipt, portal.verifier, envelope)
    # The checkpoint already contains the whole batch, at consecutive indices.
    assert verified.tree_size == size_before + 40 == portal.log_size()
    assert list(verified.indices) == list(range(size_before, size_before + 40))
    assert [r["record_id"] for r in receipt["records"]] == [r["record_id"] for r in records]


def test_the_envelope_signature_is_ed25519_over_rfc8785_bytes_checked_independently(
    portal: Portal,
) -> None:
    """Our signer and canonicaliser against `cryptography` and the `rfc8785` package."""
    envelope = portal.envelope(portal.records(5))
    unsigned = {k: v for k, v in envelope.items() if k != "signature"}
    public = Ed25519PublicKey.from_public_bytes(portal.key.public_key)
    public.verify(base64.b64decode(envelope["signature"]), rfc8785.dumps(unsigned))
    assert portal.post(envelope).status_code == 201


def test_stored_data_holds_no_patient_identity_in_clear(portal: Portal) -> None:
    records = portal.records(30)
    assert portal.post(portal.envelope(records)).status_code == 201
    identities = [
        r["patient"][k].encode() for r in records if "patient" in r for k in ("id_number", "name")
    ] + [r["id_number"].encode() for r in records if r["type"] == "practitioner"]
    assert identities
    with portal.services.engine.connect() as connection:
        stored = connection.execute(
            select(ledger_schema.entries.c.leaf, ledger_schema.entries.c.payload)
        ).all()
        projected = connection.execute(select(tables.records)).all()
    blobs = b"".join(bytes(row.leaf) + bytes(row.payload or b"") for row in stored)
    projection_text = repr(projected).encode()
    for identity in identities:
        assert identity not in blobs
        assert identity not in projection_text
    keys = portal.services.keys
    consultation = next(r for r in records if r["type"] == "consultation")
    pseudonym = keys.pseudonym("patient", consultation["patient"]["id_number"])
    assert pseudonym in {row.patient_pseudonym for row in projected}


def test_the_leaf_commits_to_the_record_key_and_batch_signature(portal: Portal) -> None:
    records = portal.records(3)
    envelope = portal.envelope(records)
    receipt = portal.post(envelope).get_json()
    entry = receipt["records"][1]
    statement = decode_leaf(base64.b64decode(entry["leaf"])).statement
    assert statement["batch_signature"] == envelope["signature"]
    assert statement["key_id"] == portal.key.key_id
    assert statement["commitment"] == record_commitment(
        base64.b64decode(entry["salt"]), rfc8785.dumps(records[1])
    )
    # The payload opens to exactly those canonical bytes behind the salt.
    with portal.services.engine.connect() as connection:
        payload = connection.execute(
            select(ledger_schema.entries.c.payload).where(
                ledger_schema.entries.c.idx == entry["index"]
            )
        ).scalar_one()
    opened = portal.services.keys.open(bytes(payload))
    assert opened == base64.b64decode(entry["salt"]) + rfc8785.dumps(records[1])


def test_retries_are_idempotent_and_a_reused_batch_id_conflicts(portal: Portal) -> None:
    envelope = portal.envelope(portal.records(10), batch_id="retry-1")
    first = portal.post(envelope)
    size = portal.log_size()
    again = portal.post(envelope)
    assert first.status_code == 201 and again.status_code == 200
    assert again.get_json() == first.get_json()
    assert portal.log_size() == size
    changed = portal.envelope(portal.records(11), batch_id="retry-1")
    _problem(portal.post(changed), 409, "batch-conflict")
    assert portal.log_size() == size


def test_a_retry_racing_the_first_commit_gets_the_receipt_not_a_conflict(
    portal: Portal,
) -> None:
    """The same batch commits from another worker between this request's "is the batch
    stored?" and "are its records stored?": the answer is the receipt (200), never 409."""
    from sqlalchemy import event

    from supervisor.runtime.services import build_services

    envelope = portal.envelope(portal.records(5), batch_id="race-1")
    other = build_services(portal.settings, lambda: portal.clock.now)  # another worker
    engine = portal.services.engine
    raced: list[Any] = []

    def commit_meanwhile(conn: object, cursor: object, statement: str, *_: object) -> None:
        if "records.record_id" in statement and " IN (" in statement and not raced:
            raced.append(other.submissions.submit(envelope))

    event.listen(engine, "before_cursor_execute", commit_meanwhile)
    try:
        answer = portal.post(envelope)
    finally:
        event.remove(engine, "before_cursor_execute", commit_meanwhile)
        other.engine.dispose()
    assert raced and raced[0].created
    assert answer.status_code == 200, answer.get_json()
    assert answer.get_json() == raced[0].receipt


def _signed_get(portal: Portal, batch_id: str, key: PlatformKeyFile | None = None) -> Any:
    """The signature covers the decoded path; the request carries it percent-encoded."""
    key = key or portal.key
    header = authorization_header(
        portal.platform_id,
        key.key_id,
        key.seed,
        method="GET",
        path=f"/api/v1/batches/{batch_id}",
        created=int(portal.clock.now.timestamp()),
    )
    encoded = urllib.parse.quote(batch_id, safe="")
    return portal.client.get(f"/api/v1/batches/{encoded}", headers={"Authorization": header})


def test_a_receipt_can_be_fetched_again_only_with_a_signed_request(
    portal: Portal, new_key: Callable[[], PlatformKeyFile]
) -> None:
    envelope = portal.envelope(portal.records(5), batch_id="again-1")
    receipt = portal.post(envelope).get_json()
    # Later appends do not change the receipt: it stays at its own checkpoint.
    portal.post(portal.envelope(portal.records(5, seed=2)))
    fetched = _signed_get(portal, "again-1")
    assert fetched.status_code == 200 and fetched.get_json() == receipt
    _problem(portal.client.get("/api/v1/batches/again-1"), 401, "unauthenticated")
    _problem(_signed_get(portal, "again-1", new_key()), 403, "unknown-key")
    _problem(_signed_get(portal, "nope"), 404, "unknown-batch")
    _problem(_signed_get(portal, "nul\x00id"), 404, "unknown-batch")
    colon = portal.envelope(portal.records(3, seed=4), batch_id="2026-11-23:batch:7")
    for record in colon["records"]:
        record["record_id"] += "-colon"
    colon = portal.envelope(colon["records"], batch_id="2026-11-23:batch:7")
    created = portal.post(colon).get_json()
    assert _signed_get(portal, "2026-11-23:batch:7").get_json() == created
    portal.clock.now += timedelta(hours=1)
    stale = authorization_header(
        portal.platform_id,
        portal.key.key_id,
        portal.key.seed,
        method="GET",
        path="/api/v1/batches/again-1",
        created=int((portal.clock.now - timedelta(hours=1)).timestamp()),
    )
    _problem(
        portal.client.get("/api/v1/batches/again-1", headers={"Authorization": stale}),
        401,
        "clock-skew",
    )


def _raw_post(portal: Portal, body: bytes, content_type: str = "application/json") -> Any:
    return portal.client.post("/api/v1/batches", data=body, headers={"Content-Type": content_type})


def test_malformed_bodies_are_refused_and_nothing_is_stored(portal: Portal) -> None:
    size = portal.log_size()
    good = orjson.dumps(portal.envelope(portal.records(3)))
    _problem(_raw_post(portal, good[: len(good) // 2]), 400, "malformed-json")
    _problem(_raw_post(portal, good, "text/plain"), 415, "unsupported-media-type")
    _problem(_raw_post(portal, b"[" * 5000 + b"]" * 5000), 400, "malformed-json")
    _problem(_raw_post(portal, good.replace(b"\xe7", b"\xff", 1)), 400, "malformed-json")
    body = _problem(
        _raw_post(portal, b"x" * (5 * 1024 * 1024 + 1)), 413, "request-entity-too-large"
    )
    assert "split the batch" in body["detail"]
    _problem(_raw_post(portal, b"[]"), 422, "invalid-envelope")
    assert portal.log_size() == size


def _resigned(portal: Portal, envelope: dict[str, Any], **changes: Any) -> dict[str, Any]:
    records = copy.deepcopy(envelope["records"])
    return portal.envelope(records, batch_id=envelope["batch_id"], **changes)


def test_authentication_failures(portal: Portal, new_key: Callable[[], PlatformKeyFile]) -> None:
    size = portal.log_size()
    envelope = portal.envelope(portal.records(3))
    tampered = copy.deepcopy(envelope)
    tampered["records"][0]["occurred_at"] = "2026-11-23T10:00:00+08:00"
    _problem(portal.post(tampered), 403, "bad-signature")
    stranger = new_key()
    _problem(portal.post(portal.envelope(portal.records(3), key=stranger)), 403, "unknown-key")
    wrong_platform = dict(envelope, platform_id="PLT-OTHER")
    _problem(portal.post(wrong_platform), 403, "unknown-key")
    assert portal.log_size() == size


def test_a_revoked_key_is_refused_and_a_rotated_key_accepted(
    portal: Portal, new_key: Callable[[], PlatformKeyFile]
) -> None:
    registry = PlatformRegistry(portal.services.store)
    successor = new_key()
    registry.add_key(portal.platform_id, successor.public_key, now=portal.clock.now)
    registry.revoke_key(portal.platform_id, portal.key.key_id, "compromised", now=portal.clock.now)
    size = portal.log_size()
    _problem(portal.post(portal.envelope(portal.records(2))), 403, "revoked-key")
    assert portal.log_size() == size
    assert portal.post(portal.envelope(portal.records(2), key=successor)).status_code == 201
    with portal.services.engine.connect() as connection:
        types = list(connection.execute(select(ledger_schema.entries.c.type)).scalars())
    assert types[:3] == ["platform.registered", "platform.key_added", "platform.key_revoked"]


def test_clock_skew_is_refused_with_the_server_time(portal: Portal) -> None:
    late = portal.envelope(portal.records(2), created_at=portal.clock.now - timedelta(minutes=6))
    body = _problem(portal.post(late), 422, "clock-skew")
    assert body["server_time"].startswith("2026-11-23T08:00:00")
    early = portal.envelope(portal.records(2), created_at=portal.clock.now + timedelta(minutes=6))
    _problem(portal.post(early), 422, "clock-skew")
    ok = portal.envelope(portal.records(2), created_at=portal.clock.now - timedelta(minutes=4))
    assert portal.post(ok).status_code == 201


def _with_record_change(
    portal: Portal, position: int, change: Callable[[dict[str, Any]], None]
) -> Any:
    records = portal.records(6)
    change(records[position])
    return portal.post(portal.envelope(records))


def test_schema_violations_name_the_record_and_field(portal: Portal) -> None:
    size = portal.log_size()
    records = portal.records(30)
    charge = next(i for i, r in enumerate(records) if r["type"] == "charge")
    records[charge]["amount"] = 25.0
    # Our client refuses to sign floats; a platform using another RFC 8785 library might not.
    envelope = portal.envelope(portal.records(1))
    unsigned = {k: v for k, v in envelope.items() if k != "signature"} | {"records": records}
    signature = nacl.signing.SigningKey(portal.key.seed).sign(rfc8785.dumps(unsigned)).signature
    envelope = unsigned | {"signature": base64.b64encode(signature).decode()}
    body = _problem(portal.post(envelope), 422, "invalid-records")
    assert {"pointer": f"/records/{charge}/amount", "detail": body["errors"][0]["detail"]} in body[
        "errors"
    ]
    assert "decimal string" in body["errors"][0]["detail"]

    def unknown_type(record: dict[str, Any]) -> None:
        record["type"] = "telemedicine_video"

    body = _problem(_with_record_change(portal, 2, unknown_type), 422, "invalid-records")
    assert body["errors"][0]["pointer"] == "/records/2/type"
    assert "unknown record type" in body["errors"][0]["detail"]

    def bad_date(record: dict[str, Any]) -> None:
        record["occurred_at"] = "2026-02-30T10:00:00+08:00"

    body = _problem(_with_record_change(portal, 4, bad_date), 422, "invalid-records")
    assert body["errors"][0]["pointer"] == "/records/4/occurred_at"

    def no_offset(record: dict[str, Any]) -> None:
        record["occurred_at"] = "2026-11-23T10:00:00"

    _problem(_with_record_change(portal, 0, no_offset), 422, "invalid-records")
    assert portal.log_size() == size


def test_duplicates_within_and_across_batches(portal: Portal) -> None:
    records = portal.records(6)
    twice = [*records, copy.deepcopy(records[2])]
    body = _problem(portal.post(portal.envelope(twice)), 422, "duplicate-record")
    assert body["errors"][0]["pointer"] == "/records/6/record_id"
    assert portal.post(portal.envelope(records)).status_code == 201
    size = portal.log_size()
    fresh = copy.deepcopy(records[:2])
    for record in fresh:
        record["record_id"] += "-NEW"
    again = [copy.deepcopy(records[3]), *fresh]
    body = _problem(portal.post(portal.envelope(again)), 409, "duplicate-record")
    assert body["errors"][0]["pointer"] == "/records/0/record_id"
    assert "amends" in body["errors"][0]["detail"]
    assert portal.log_size() == size


def test_corrections_are_new_records_that_amend_an_earlier_one(portal: Portal) -> None:
    records = portal.records(4)
    assert portal.post(portal.envelope(records)).status_code == 201
    correction = copy.deepcopy(records[-1])
    correction["record_id"] += "-C1"
    correction["amends"] = records[-1]["record_id"]
    assert portal.post(portal.envelope([correction])).status_code == 201
    dangling = copy.deepcopy(correction)
    dangling["record_id"] += "-C2"
    dangling["amends"] = "NO-SUCH-RECORD"
    _problem(portal.post(portal.envelope([dangling])), 422, "unknown-amended-record")


def test_records_of_another_institution_are_refused(portal: Portal) -> None:
    records = portal.records(3)
    records[1]["institution_code"] = "H999999999"
    body = _problem(portal.post(portal.envelope(records)), 403, "wrong-institution")
    assert body["errors"][0]["pointer"] == "/records/1/institution_code"


def test_batch_over_the_record_limit(portal: Portal) -> None:
    records = portal.records(1001)
    body = _problem(portal.post(portal.envelope(records)), 413, "batch-too-large")
    assert body["max_records"] == 1000


def test_envelope_fields_are_checked(portal: Portal) -> None:
    envelope = portal.envelope(portal.records(2))
    for field, value, pointer in [
        ("batch_id", "has space", "/batch_id"),
        ("created_at", "yesterday", "/created_at"),
        ("signature", "not-base64!", "/signature"),
        ("records", [], "/records"),
        # PostgreSQL text cannot hold NUL: found by schemathesis as a 500 before this check.
        ("key_id", "\x00abc", "/key_id"),
        ("platform_id", "PLT-\x00", "/platform_id"),
    ]:
        body = _problem(portal.post(dict(envelope, **{field: value})), 422, "invalid-envelope")
        assert body["errors"][0]["pointer"] == pointer
    extra = dict(envelope, note="hi")
    assert _problem(portal.post(extra), 422, "invalid-envelope")["errors"][0]["pointer"] == "/note"


def test_a_tampered_receipt_does_not_verify(portal: Portal) -> None:
    envelope = portal.envelope(portal.records(8))
    receipt = portal.post(envelope).get_json()
    verify_receipt(receipt, portal.verifier, envelope)

    def broken(change: Callable[[dict[str, Any]], None]) -> dict[str, Any]:
        copy_ = copy.deepcopy(receipt)
        change(copy_)
        return copy_

    def flip_proof(r: dict[str, Any]) -> None:
        proof = r["records"][3]["inclusion_proof"]
        proof[0] = base64.b64encode(bytes(32)).decode()

    def other_size(r: dict[str, Any]) -> None:
        r["tree_size"] += 1

    def other_salt(r: dict[str, Any]) -> None:
        r["records"][2]["salt"] = base64.b64encode(bytes(32)).decode()

    def resigned_checkpoint(r: dict[str, Any]) -> None:
        r["checkpoint"] = r["checkpoint"].replace("\n\n", "\n\n\u2014 other.log abcd\n", 1)

    for change, message in [
        (flip_proof, "inclusion proof"),
        (other_size, "tree_size"),
        (other_salt, "does not commit"),
        (resigned_checkpoint, "checkpoint"),
    ]:
        with pytest.raises(ReceiptError, match=message):
            verify_receipt(broken(change), portal.verifier, envelope)
    altered = copy.deepcopy(envelope)
    altered["records"][5]["occurred_at"] = "2026-11-23T01:00:00+08:00"
    with pytest.raises(ReceiptError, match="does not commit"):
        verify_receipt(receipt, portal.verifier, altered)


def test_the_schema_and_openapi_documents_are_served(portal: Portal) -> None:
    first = {"institution", "practitioner", "consultation", "prescription", "charge"}
    pharmacies = {"pharmacy", "dispensing", "delivery"}
    one = portal.client.get("/api/v1/schema?version=1").get_json()
    assert one["$id"].endswith("/records/v1") and set(one["$defs"]) == first
    two = portal.client.get("/api/v1/schema?version=2").get_json()
    assert two["$id"].endswith("/records/v2") and set(two["$defs"]) == first | pharmacies
    assert all(two["$defs"][name] == one["$defs"][name] for name in first), "v1 unchanged"
    both = portal.client.get("/api/v1/schema").get_json()
    assert set(both["$defs"]) == first | pharmacies
    versions = both["x-schema-versions"]
    assert set(versions["1"]["record_types"]) == first
    assert set(versions["2"]["record_types"]) == first | pharmacies
    _problem(portal.client.get("/api/v1/schema?version=3"), 400, "unknown-schema-version")
    document = portal.client.get("/api/v1/openapi.json").get_json()
    assert document["openapi"] == "3.1.0"
    assert "/api/v1/batches" in document["paths"]
    _problem(portal.client.delete("/api/v1/schema"), 405, "method-not-allowed")
    _problem(portal.client.get("/api/v1/nothing"), 404, "not-found")


def test_a_trailing_newline_never_passes_for_an_identifier(portal: Portal) -> None:
    size = portal.log_size()
    # Each signed over the value with the newline: the signature is right, the value is not.
    for field in ("batch_id", "platform_id", "key_id", "created_at"):
        envelope = portal.envelope(portal.records(2, seed=7))
        if field == "batch_id":
            envelope = portal.envelope(envelope["records"], batch_id="B-1\n")
        else:
            envelope = dict(envelope, **{field: envelope[field] + "\n"})
        body = _problem(portal.post(envelope), 422, "invalid-envelope")
        assert body["errors"][0]["pointer"] == f"/{field}"
    assert portal.log_size() == size


def test_duplicate_keys_are_refused_at_any_depth(portal: Portal) -> None:
    size = portal.log_size()
    envelope = portal.envelope(portal.records(2, seed=8))
    good = orjson.dumps(envelope)
    # batch_id twice, signed over the last value: parsers that keep the first disagree.
    twice = b'{"batch_id":"OTHER",' + good[1:]
    body = _problem(_raw_post(portal, twice), 400, "malformed-json")
    assert "'batch_id' appears twice" in body["detail"]
    # Deep inside a record.
    deep = good.replace(b'"records":[{', b'"records":[{"record_id":"X",', 1)
    assert deep != good
    body = _problem(_raw_post(portal, deep), 400, "malformed-json")
    assert "'record_id' appears twice" in body["detail"]
    # Not JSON numbers, and not UTF-8.
    _problem(_raw_post(portal, good.replace(b'"records":[', b'"n":NaN,"records":[', 1)), 400,
             "malformed-json")  # fmt: skip
    _problem(_raw_post(portal, good.decode().encode("utf-16")), 400, "malformed-json")
    # Beyond what every parser reads the same: a huge integer, an infinite number, a
    # lone surrogate (found by review: the first was a 500).
    for value in (b"1" * 5000, b"1e999", b'"\\ud800"'):
        hostile = good.replace(b'"records":[', b'"n":' + value + b',"records":[', 1)
        _problem(_raw_post(portal, hostile), 400, "malformed-json")
    assert portal.log_size() == size
    assert portal.post(envelope).status_code == 201  # the same batch, well-formed, is taken


def test_a_key_revoked_while_its_batch_is_in_flight_does_not_commit_it(
    portal: Portal, monkeypatch: pytest.MonkeyPatch
) -> None:
    service = portal.services.submissions
    registry = PlatformRegistry(portal.services.store)
    build = service._drafts

    def revoked_meanwhile(envelope: Any, now: Any) -> Any:
        built = build(envelope, now)  # authenticated already; now the key is revoked
        registry.revoke_key(portal.platform_id, portal.key.key_id, "stolen", now=now)
        return built

    monkeypatch.setattr(service, "_drafts", revoked_meanwhile)
    size = portal.log_size()
    body = _problem(portal.post(portal.envelope(portal.records(3, seed=9))), 403, "revoked-key")
    assert "in flight" in body["detail"]
    assert portal.log_size() == size + 1  # the revocation alone
    with portal.services.engine.connect() as connection:
        assert connection.execute(select(func.count()).select_from(tables.batches)).scalar() == 0


def test_another_platform_may_use_the_same_batch_id(
    portal: Portal, new_key: Callable[[], PlatformKeyFile]
) -> None:
    """batch_id is unique per platform: the retry lookup must never match another's batch."""
    first = portal.envelope(portal.records(2, seed=31), batch_id="B-2026-1")
    assert portal.post(first).status_code == 201
    registry = PlatformRegistry(portal.services.store)
    second_key = new_key()
    second_id, _ = registry.register(
        "H330100002", "第二互联网医院", second_key.public_key, now=portal.clock.now
    )
    records = [dict(r, institution_code="H330100002") for r in portal.records(2, seed=32)]
    envelope = sign_envelope(
        platform_id=second_id,
        key=second_key,
        batch_id="B-2026-1",
        created_at=portal.clock.now,
        records=records,
    )
    answer = portal.post(envelope)
    assert answer.status_code == 201, answer.get_json()
