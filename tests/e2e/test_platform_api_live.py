"""The platform API as platforms meet it: `careledger serve` (gunicorn, several workers) on
loopback, the `careledger` command line, concurrent clients, and schemathesis fuzzing.
"""

from __future__ import annotations

import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import orjson
import pytest

from supervisor.client.submit import (
    SubmitClient,
    SubmitError,
    sign_envelope,
)
from supervisor.demo.synthetic import synthetic_records
from supervisor.intake.receipts import verify_receipt

from .conftest import INSTITUTION, LiveServer

pytestmark = [pytest.mark.database, pytest.mark.slow]

CST = timezone(timedelta(hours=8))


def _records(count: int, seed: int = 1) -> list[dict[str, object]]:
    start = datetime.now(UTC).astimezone(CST).replace(microsecond=0) - timedelta(days=1)
    return list(synthetic_records(INSTITUTION, count, start=start, seed=seed))


def test_the_submit_command_sends_everything_verifies_receipts_and_resumes(
    live: LiveServer,
) -> None:
    records_path = live.folder / "records.jsonl"
    records_path.write_bytes(b"".join(orjson.dumps(r) + b"\n" for r in _records(1100)))
    vkey = live.verifier.vkey
    first = live.careledger(
        "submit", "--platform", live.platform_id, "--key", str(live.key_path),
        "--url", live.url, "--log-vkey", vkey, str(records_path),
    )  # fmt: skip
    assert "1100 records accepted, every receipt verified" in first.stderr
    receipts = [
        orjson.loads(line)
        for line in (live.folder / "records.jsonl.receipts.jsonl").read_bytes().splitlines()
    ]
    assert [len(r["records"]) for r in receipts] == [500, 500, 100]
    for receipt in receipts:
        verify_receipt(receipt, live.verifier)
    again = live.careledger(
        "submit", "--platform", live.platform_id, "--key", str(live.key_path),
        "--url", live.url, "--log-vkey", vkey, str(records_path),
    )  # fmt: skip
    assert "nothing new to submit" in again.stderr
    # A refused batch is reported with its line and the pointer, and nothing is lost.
    bad = live.folder / "bad.jsonl"
    broken = _records(3, seed=5)
    for record in broken:
        record["record_id"] = f"NEW-{record['record_id']}"
    broken[2]["occurred_at"] = "yesterday"
    bad.write_bytes(b"".join(orjson.dumps(r) + b"\n" for r in broken))
    refused = live.careledger(
        "submit", "--platform", live.platform_id, "--key", str(live.key_path),
        "--url", live.url, "--log-vkey", vkey, str(bad), check=False,
    )  # fmt: skip
    assert refused.returncode == 1
    assert "/records/2/occurred_at" in refused.stderr and "Traceback" not in refused.stderr


def test_concurrent_retries_and_conflicting_batches_across_workers(live: LiveServer) -> None:
    now = datetime.now(UTC)
    records = _records(60, seed=2)
    envelope = sign_envelope(
        platform_id=live.platform_id,
        key=live.key,
        batch_id="concurrent-1",
        created_at=now,
        records=records,
    )

    def send(document: dict[str, object]) -> tuple[int, object]:
        client = SubmitClient(live.url)
        try:
            return client.submit(document)
        except SubmitError as e:
            return 0, e.problem
        finally:
            client.close()

    with ThreadPoolExecutor(max_workers=6) as pool:
        outcomes = list(pool.map(send, [envelope] * 6))
    statuses = sorted(status for status, _ in outcomes)
    assert statuses == [200, 200, 200, 200, 200, 201]
    receipts = [receipt for _, receipt in outcomes]
    assert all(r == receipts[0] for r in receipts)
    verify_receipt(receipts[0], live.verifier, envelope)  # type: ignore[arg-type]
    client = SubmitClient(live.url)
    assert client.fetch_receipt(live.platform_id, live.key, "concurrent-1", now=now) == receipts[0]
    client.close()

    # Six different batches that all carry one same new record: exactly one wins.
    shared = _records(30, seed=3)[-1]
    shared["record_id"] = "SHARED-RECORD-1"
    rivals = [
        sign_envelope(
            platform_id=live.platform_id,
            key=live.key,
            batch_id=f"rival-{n}",
            created_at=now,
            records=[shared],
        )
        for n in range(6)
    ]
    with ThreadPoolExecutor(max_workers=6) as pool:
        outcomes = list(pool.map(send, rivals))
    accepted = [receipt for status, receipt in outcomes if status == 201]
    refused = [problem for status, problem in outcomes if status == 0]
    assert len(accepted) == 1 and len(refused) == 5
    assert all(p["type"].endswith("/duplicate-record") for p in refused)  # type: ignore[index]


def _schemathesis(live: LiveServer, *extra: str, env: dict[str, str] | None = None) -> str:
    done = subprocess.run(
        [
            sys.executable, "-m", "schemathesis.cli", "run",
            f"{live.url}/api/v1/openapi.json",
            "--max-examples", "40", "--seed", "1", "--no-color", *extra,
        ],
        check=False,
        env={**live.env, **(env or {})},
        capture_output=True,
        text=True,
        timeout=600,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout[-6000:] + done.stderr[-3000:]
    return done.stdout


def test_schemathesis_finds_no_server_error_and_no_departure_from_the_spec(
    live: LiveServer,
) -> None:
    """Unsigned: every check on the platform API. The public log: every check but positive-data
    acceptance (a size beyond the log is a 400 by design). Signed by a hook: deep into record
    validation, every check but positive-data acceptance (calendar dates, `amends` and
    duplicates are rules beyond the JSON Schema, refused with 4xx problems the spec documents).
    """
    _schemathesis(live, "--checks", "all", "--include-path-regex", "^/api/")
    # The public log: a size or index beyond the log is schema-valid but rightly a 400.
    _schemathesis(
        live,
        "--checks", "all", "--exclude-checks", "positive_data_acceptance",
        "--include-path-regex", "^/log/",
    )  # fmt: skip
    hooks = {
        "SCHEMATHESIS_HOOKS": "tests.e2e.schemathesis_hooks",
        "CARELEDGER_FUZZ_KEY": str(live.key_path),
        "CARELEDGER_FUZZ_PLATFORM": live.platform_id,
        "PYTHONPATH": str(Path(__file__).parents[2]),
    }
    _schemathesis(
        live, "--checks", "all", "--exclude-checks", "positive_data_acceptance", env=hooks
    )
