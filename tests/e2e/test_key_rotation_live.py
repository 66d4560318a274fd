"""The log key rotated under a running portal: nothing stops, and every verifier follows.

A platform and a monitor hold only the log's first key. After `careledger keys
rotate-log`, the running workers sign with the new key from their next batch; the
platform's receipts verify, learning the new key from the log's proven key history;
old receipts still verify with the first key alone; the monitor, with its state
from before, finds the log consistent; `ledger verify` passes (fixture teardown).
"""

from __future__ import annotations

import urllib.request
from typing import Any

import orjson
import pytest

from ledger.note import Signer, Verifier, signature_key_ids
from supervisor.client.submit import ReceiptVerifier, SubmitClient
from supervisor.custody.key_files import read_secret
from supervisor.custody.log_rotation import NEXT_LOG_KEY
from supervisor.intake.receipts import verify_receipt

from .conftest import LiveServer, signed_batches

pytestmark = [pytest.mark.database, pytest.mark.slow]


def _get(live: LiveServer, path: str) -> bytes:
    with urllib.request.urlopen(f"{live.url}{path}", timeout=30) as response:
        return bytes(response.read())


def test_the_log_key_rotates_under_a_running_portal_and_every_verifier_follows(
    live: LiveServer,
) -> None:
    envelopes = signed_batches(live, 8, 25, "rotate")
    client = SubmitClient(live.url, attempts=5, backoff=0.2)
    receipts = ReceiptVerifier(live.url, live.verifier)
    before: list[tuple[dict[str, Any], dict[str, Any]]] = []
    for envelope in envelopes[:4]:
        _, receipt = client.submit(envelope)
        receipts.verify(receipt, envelope)
        before.append((envelope, receipt))
    state = str(live.folder / "monitor.json")
    monitor = ["audit", "log", live.url, "--vkey", live.verifier.vkey, "--state", state]
    live.careledger(*monitor)

    rotated = live.careledger("keys", "rotate-log")
    new_key = Verifier.from_vkey(rotated.stdout.strip())
    assert new_key.key_id != live.verifier.key_id and new_key.name == live.verifier.name
    keys_dir = live.folder / "var" / "keys"
    assert Signer.from_skey(read_secret(keys_dir / "log-signing.key")).verifier == new_key
    assert not (keys_dir / NEXT_LOG_KEY).exists()  # the old private key is gone

    for envelope in envelopes[4:]:
        _, receipt = client.submit(envelope)
        assert signature_key_ids(receipt["checkpoint"]) == [new_key.key_id]
        receipts.verify(receipt, envelope)  # learns the new key, proven by the log
    client.close()
    assert receipts.log_keys.current == new_key
    for envelope, receipt in before:  # receipts from before verify with the first key alone
        verify_receipt(receipt, live.verifier, envelope)

    assert _get(live, "/log/vkey").decode().strip() == new_key.vkey
    listing = orjson.loads(_get(live, "/log/keys"))
    assert [k["vkey"] for k in listing["keys"]] == [live.verifier.vkey, new_key.vkey]

    followed = live.careledger(*monitor, "--full")
    assert "rotated 1 time(s), each hand-over proven" in followed.stdout
    assert "log verifies" in followed.stdout and "was " in followed.stdout
