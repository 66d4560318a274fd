"""The supervision loop over HTTP between separate processes: a platform submits, the
inspector finds, the regulator orders rectification, the platform pulls the notice and
answers, the regulator rejects, the platform answers again, the regulator accepts.
Another platform can neither see nor answer; a tampered or replayed answer is refused;
every step is on the ledger, which verifies and rebuilds the same cases."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import orjson
import pytest
from sqlalchemy import select

from supervisor.cases.responses import sign_response, verify_response_receipt
from supervisor.client.notices import NoticeClient, NoticeFolder
from supervisor.client.submit import SubmitError, load_platform_key
from supervisor.database import tables
from supervisor.database.engine import open_engine
from supervisor.demo.synthetic import synthetic_records

from .conftest import INSTITUTION, LiveServer

pytestmark = [pytest.mark.database, pytest.mark.slow]

CST = timezone(timedelta(hours=8))
ACTOR = "王静"


def _records_file(folder: Path) -> Path:
    """A filing with a licence that expired (ORG-LICENSE on every record) and a day's
    records of the institution."""
    start = datetime.now(UTC).astimezone(CST).replace(microsecond=0) - timedelta(hours=3)
    filing = {
        "type": "institution",
        "record_id": f"{INSTITUTION}-FILING",
        "institution_code": INSTITUTION,
        "occurred_at": start.isoformat(),
        "name": "测试互联网医院",
        "kind": "standalone",
        "license_no": f"PDY{INSTITUTION[1:]}",
        "license_valid_until": "2025-06-30",
        "host_institution_code": None,
        "departments": ["PHARMACY"],
        "last_inspection_date": None,
    }
    records = [filing, *synthetic_records(INSTITUTION, 12, start=start, seed=7)]
    path = folder / "records.jsonl"
    path.write_bytes(b"".join(orjson.dumps(r) + b"\n" for r in records))
    return path


def _day(days: int) -> str:
    return (datetime.now(UTC).astimezone(CST).date() + timedelta(days=days)).isoformat()


def _projected(database_url: str) -> dict[str, list[tuple[Any, ...]]]:
    """What the regulator's tables say about cases, in a stable order."""
    engine = open_engine(database_url)
    try:
        with engine.connect() as connection:
            return {
                table.name: sorted(
                    (tuple(row) for row in connection.execute(select(table))), key=repr
                )
                for table in (
                    tables.cases,
                    tables.case_events,
                    tables.notices,
                    tables.notice_responses,
                )
            }
    finally:
        engine.dispose()


def _second_platform(live: LiveServer) -> tuple[str, Path]:
    key_path = live.folder / "other-platform.key"
    public_key = live.careledger("platform", "keygen", "--out", str(key_path)).stdout.strip()
    registered = live.careledger(
        "platform", "register", "--institution", "H330100010", "--name", "另一家互联网医院",
        "--public-key", public_key,
    ).stdout  # fmt: skip
    return registered.split("platform_id: ")[1].split()[0], key_path


def _refused(client: NoticeClient, envelope: dict[str, Any]) -> dict[str, Any]:
    with pytest.raises(SubmitError) as refused:
        client.respond(envelope)
    assert refused.value.problem is not None, str(refused.value)
    return dict(refused.value.problem)


def test_the_loop_from_finding_to_closed_case_between_processes(
    live: LiveServer, database_url: str
) -> None:
    vkey = live.verifier.vkey
    platform = ("--platform", live.platform_id, "--key", str(live.key_path), "--url", live.url)
    submitted = live.careledger(
        "submit", *platform, "--log-vkey", vkey, str(_records_file(live.folder))
    )
    assert "13 records accepted, every receipt verified" in submitted.stderr
    live.careledger("inspector", "--once")

    listed = live.careledger("cases", "list", "--rule", "ORG-LICENSE").stdout.splitlines()
    (case,) = [orjson.loads(line) for line in listed]
    assert case["institution_code"] == INSTITUTION and case["state"] == "open"
    assert case["finding_count"] == 13, "one case, every record of the institution in it"
    ordered = live.careledger(
        "cases", "order-rectification", case["case_id"], "--deadline", _day(15),
        "--text", "校验《医疗机构执业许可证》并报送校验结果", "--actor", ACTOR,
    ).stdout  # fmt: skip
    match = re.search(r"notice (N[0-9A-F]{15}) issued", ordered)
    assert match, ordered
    notice_id = match.group(1)

    # The platform pulls the notice into its folder: its findings and their evidence.
    inbox = live.folder / "inbox"
    pulled = live.careledger("notices", "pull", *platform, "--into", str(inbox)).stdout
    assert pulled.startswith(f"new      {notice_id}") and "awaiting your response" in pulled
    notice = orjson.loads((inbox / f"{notice_id}.json").read_bytes())
    assert notice["notice"]["rule"] == "ORG-LICENSE" and notice["deadline"] == _day(15)
    assert len(notice["notice"]["findings"]) == 13
    assert all(f["evidence"] for f in notice["notice"]["findings"])
    again = live.careledger("notices", "pull", *platform, "--into", str(inbox))
    assert again.stdout == "" and "0 new notices" in again.stderr, "the cursor remembers"

    # It objects, with a file as evidence (named by its hash, not uploaded).
    evidence = live.folder / "许可证校验申请.pdf"
    evidence.write_bytes(b"%PDF-1.4 application for the licence check\n")
    answered = live.careledger(
        "notices", "respond", notice_id, *platform, "--log-vkey", vkey, "--into", str(inbox),
        "--kind", "objection", "--statement", "许可证校验已申请，尚在审核中",
        "--attach", str(evidence), "--response-id", "resp-1",
    ).stdout  # fmt: skip
    assert re.search(r"response resp-1 to N[0-9A-F]+ taken: ledger index \d+, receipt verified",
                     answered), answered  # fmt: skip
    saved = NoticeFolder(inbox).held_response(notice_id, "resp-1")
    assert saved is not None
    first, receipt = saved["response"], saved["receipt"]
    index = verify_response_receipt(receipt, live.verifier, first)  # offline, the log key only
    assert f"ledger index {index}," in answered
    assert first["attachments"][0]["size"] == evidence.stat().st_size

    # Replayed: the same bytes get the same receipt; other content under its id is refused;
    # an answer changed after signing is refused. Nothing of them is stored.
    client = NoticeClient(live.url, live.platform_id, live.key)
    try:
        assert client.respond(first) == (200, receipt)
        other = sign_response(
            live.key.seed,
            {**{k: v for k, v in first.items() if k != "signature"}, "statement": "另一份答复"},
        )
        assert _refused(client, other)["type"].endswith("/response-conflict")
        tampered = {**first, "response_id": "resp-forged", "statement": "已整改完毕"}
        assert _refused(client, tampered)["type"].endswith("/bad-signature")
    finally:
        client.close()

    # Another platform sees no notice of this institution, and cannot answer one.
    other_id, other_key = _second_platform(live)
    intruder = ("--platform", other_id, "--key", str(other_key), "--url", live.url)
    theirs = live.careledger("notices", "pull", *intruder, "--into", str(live.folder / "x"))
    assert theirs.stdout == "" and "0 new notices" in theirs.stderr
    stranger = NoticeClient(live.url, other_id, load_platform_key(other_key.read_text()))
    try:
        for read in (
            lambda: stranger.notice(notice_id, now=datetime.now(UTC)),
            lambda: stranger.response_receipt(notice_id, "resp-1", now=datetime.now(UTC)),
        ):
            with pytest.raises(SubmitError) as hidden:
                read()
            assert hidden.value.problem is not None and hidden.value.problem["status"] == 404
    finally:
        stranger.close()
    refused = live.careledger(
        "notices", "respond", notice_id, *intruder, "--log-vkey", vkey,
        "--into", str(live.folder / "x"), "--kind", "rectified", "--statement", "代为答复",
        check=False,
    )  # fmt: skip
    assert refused.returncode == 1 and "HTTP 404 No such notice" in refused.stderr
    assert "Traceback" not in refused.stderr

    # The regulator rejects with a new deadline; the platform learns it on its next pull.
    rejected = live.careledger(
        "cases", "review", "resp-1", "--reject", "--reason", "未见校验结果，请补充",
        "--deadline", _day(20), "--actor", ACTOR,
    ).stdout  # fmt: skip
    assert "the case is now rectification_ordered" in rejected
    pulled = live.careledger("notices", "pull", *platform, "--into", str(inbox)).stdout
    assert pulled.startswith(f"updated  {notice_id}")
    assert "response resp-1 rejected: 未见校验结果，请补充" in pulled
    assert f"deadline {_day(20)}" in pulled and "awaiting your response" in pulled

    answered = live.careledger(
        "notices", "respond", notice_id, *platform, "--log-vkey", vkey, "--into", str(inbox),
        "--kind", "rectified", "--statement", "许可证已校验，有效期至2031年6月30日",
        "--attach", str(evidence), "--response-id", "resp-2",
    ).stdout  # fmt: skip
    assert "response resp-2" in answered and "receipt verified" in answered
    accepted = live.careledger("cases", "review", "resp-2", "--accept", "--actor", ACTOR).stdout
    assert "the case is now closed" in accepted
    (closed,) = [
        orjson.loads(line)
        for line in live.careledger("cases", "list", "--rule", "ORG-LICENSE").stdout.splitlines()
    ]
    assert closed["case_id"] == case["case_id"] and closed["state"] == "closed"
    pulled = live.careledger("notices", "pull", *platform, "--into", str(inbox)).stdout
    assert "closed" in pulled and "response resp-2 accepted" in pulled

    # Every step is on the ledger: it verifies, and replaying it gives the same tables.
    before = _projected(database_url)
    assert [row[2] for row in sorted(before["case_events"])] == [
        "order_rectification",
        "reject",
        "accept",
    ]
    assert len(before["notice_responses"]) == 2
    verified = live.careledger("ledger", "verify", "--no-progress").stdout
    assert "ledger verifies" in verified
    live.careledger("projections", "rebuild")
    assert _projected(database_url) == before
