"""A log, an independent witness and a monitor, each its own process on loopback."""

from __future__ import annotations

import os
import subprocess
import urllib.error
import urllib.request
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from ledger.checkpoint import Checkpoint, sign_checkpoint
from ledger.note import Signer, Verifier
from supervisor.client.submit import SubmitClient, wait_for_portal
from supervisor.custody.key_files import read_secret
from supervisor.intake.receipts import verify_receipt

from .conftest import CARELEDGER, LiveServer, free_port, running_portal
from .test_audit_live import _audit, _submit

pytestmark = [pytest.mark.database, pytest.mark.slow]


@pytest.fixture
def witnessed(tmp_path: Path, database_url: str) -> Iterator[tuple[LiveServer, Verifier, str]]:
    key = tmp_path / "witness.key"
    vkey = subprocess.run(
        [*CARELEDGER, "witness", "keygen", "--name", "witness.audit.example/w1", "--out", str(key)],
        capture_output=True, text=True, check=True,
    ).stdout.strip()  # fmt: skip
    # The log key exists only after `init`, which the portal helper runs: make it first.
    init_env = {
        "CARELEDGER_DATA_DIR": str(tmp_path / "var"),
        "CARELEDGER_DATABASE_URL": database_url,
    }
    log_vkey = subprocess.run(
        [*CARELEDGER, "init"], capture_output=True, text=True, check=True,
        env={**os.environ, **init_env},
    ).stdout.strip()  # fmt: skip
    port = free_port()
    witness_url = f"http://127.0.0.1:{port}"
    log = (tmp_path / "witness.log").open("w")
    witness = subprocess.Popen(
        [*CARELEDGER, "witness", "serve", "--key", str(key), "--log-vkey", log_vkey,
         "--bind", f"127.0.0.1:{port}"],
        stdout=log, stderr=subprocess.STDOUT,
    )  # fmt: skip
    try:
        wait_for_portal(witness_url, lambda: witness.poll() is None, probe="/vkey")
        extra = {"CARELEDGER_WITNESSES": f"{witness_url} {vkey}", "CARELEDGER_WITNESS_QUORUM": "1"}
        with running_portal(tmp_path, database_url, extra, initialised=True) as server:
            yield server, Verifier.from_vkey(vkey), witness_url
    finally:
        witness.terminate()
        witness.wait(timeout=30)
        log.close()


def test_checkpoints_are_cosigned_served_with_their_cosignatures_and_audited(
    witnessed: tuple[LiveServer, Verifier, str],
) -> None:
    live, witness_key, witness_url = witnessed
    receipts = _submit(live, 600, seed=11)
    assert receipts[0]["witnesses"] == []  # nobody has cosigned at commit time
    # With a quorum of 1, nothing is published before the witness cosigned.
    with pytest.raises(urllib.error.HTTPError):
        urllib.request.urlopen(f"{live.url}/log/checkpoint", timeout=5)
    collected = live.careledger("witness", "collect")
    assert "cosigned by witness.audit.example/w1" in collected.stderr
    audited = _audit(live, "--witness-vkey", witness_key.vkey, "--witness-quorum", "1")
    assert audited.returncode == 0, audited.stderr
    assert "cosigned by: witness.audit.example/w1" in audited.stdout
    # Growth after a cosignature: collecting again cosigns from the witness's size.
    _submit(live, 300, seed=12)
    live.careledger("witness", "collect")
    assert _audit(live, "--witness-vkey", witness_key.vkey, "--witness-quorum", "1").returncode == 0
    # A receipt fetched again now states its witnesses, provably.
    client = SubmitClient(live.url)
    fetched = client.fetch_receipt(live.platform_id, live.key, "b11-0", now=datetime.now(UTC))
    client.close()
    verified = verify_receipt(fetched, live.verifier, witnesses=[witness_key])
    assert verified.witnesses == ("witness.audit.example/w1",)
    # The witness refuses a second root for a size it cosigned (a forged, log-signed fork).
    signer = Signer.from_skey(read_secret(live.folder / "var" / "keys" / "log-signing.key"))
    size = int(urllib.request.urlopen(f"{live.url}/log/checkpoint").read().decode().split("\n")[1])
    fork = sign_checkpoint(Checkpoint(signer.name, size, bytes(32)), signer).note
    request = urllib.request.Request(
        f"{witness_url}/add-checkpoint", data=f"old {size}\n\n{fork}".encode(), method="POST"
    )
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(request, timeout=5)
    assert refused.value.code == 409
    assert refused.value.read().decode() == f"{size}\n"
