"""The platform's client killed between the regulator's commit and its own receipt write:
a rerun finishes the file, every record receipted exactly once.

The kill is real: a proxy between the client and `careledger serve` forwards the
second batch, waits for the server's answer (so the batch is committed), and
SIGKILLs the client instead of passing the answer on.
"""

from __future__ import annotations

import http.client
import os
import signal
import subprocess
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import urlsplit

import orjson
import pytest

from supervisor.intake.receipts import verify_receipt

from .conftest import CARELEDGER, LiveServer, free_port
from .test_platform_api_live import _records

pytestmark = [pytest.mark.database, pytest.mark.slow]


class _KillingProxy:
    """Forwards to the portal; on the ``kill_at``-th batch POST, kills the client instead."""

    def __init__(self, target: str, kill_at: int) -> None:
        self.target = urlsplit(target)
        self.kill_at = kill_at
        self.batches = 0
        self.victim: subprocess.Popen[bytes] | None = None
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: object) -> None:
                pass

            def _forward(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else None
                upstream = http.client.HTTPConnection(
                    proxy.target.hostname, proxy.target.port, timeout=60
                )
                headers = {k: v for k, v in self.headers.items() if k.lower() != "host"}
                upstream.request(self.command, self.path, body=body, headers=headers)
                answer = upstream.getresponse()
                content = answer.read()
                upstream.close()
                if self.command == "POST" and self.path.endswith("/batches"):
                    proxy.batches += 1
                    if proxy.batches == proxy.kill_at and proxy.victim is not None:
                        assert answer.status == 201  # committed: now the client dies
                        proxy.victim.send_signal(signal.SIGKILL)
                        proxy.victim.wait()
                        self.close_connection = True
                        return
                self.send_response(answer.status)
                for name, value in answer.getheaders():
                    if name.lower() not in ("transfer-encoding", "connection", "content-length"):
                        self.send_header(name, value)
                self.send_header("Content-Length", str(len(content)))
                self.end_headers()
                self.wfile.write(content)

            do_GET = do_POST = _forward  # noqa: N815  (http.server's names)

        self.server = ThreadingHTTPServer(("127.0.0.1", free_port()), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def records(live: LiveServer) -> Iterator[Path]:
    path = live.folder / "records.jsonl"
    path.write_bytes(b"".join(orjson.dumps(r) + b"\n" for r in _records(1100, seed=21)))
    yield path


def _submit_command(live: LiveServer, url: str, records: Path) -> list[str]:
    return [
        *CARELEDGER, "submit", "--platform", live.platform_id, "--key", str(live.key_path),
        "--url", url, "--log-vkey", live.verifier.vkey, str(records),
    ]  # fmt: skip


def _crash_at_second_batch(live: LiveServer, records: Path) -> None:
    proxy = _KillingProxy(live.url, kill_at=2)
    try:
        proxy.victim = subprocess.Popen(
            _submit_command(live, proxy.url, records),
            env=live.env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        assert proxy.victim.wait(timeout=120) == -signal.SIGKILL
    finally:
        proxy.close()


def _rerun(live: LiveServer, records: Path) -> None:
    """The platform runs `careledger submit` again, straight to the portal."""
    rerun = subprocess.run(
        _submit_command(live, live.url, records),
        env=live.env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert rerun.returncode == 0, rerun.stderr


def _receipted_once(live: LiveServer, records: Path) -> None:
    receipts = [
        orjson.loads(line)
        for line in records.with_name(records.name + ".receipts.jsonl").read_bytes().splitlines()
    ]
    ids = [r["record_id"] for receipt in receipts for r in receipt["records"]]
    sent = [orjson.loads(line)["record_id"] for line in records.read_bytes().splitlines()]
    assert sorted(ids) == sorted(sent)  # every record, each once
    for receipt in receipts:
        verify_receipt(receipt, live.verifier)


def test_a_rerun_resends_the_batch_in_flight_and_gets_its_original_receipt(
    live: LiveServer, records: Path
) -> None:
    _crash_at_second_batch(live, records)
    outbox = records.with_name(records.name + ".outbox.json")
    assert outbox.exists()  # the batch that was in flight, as it was sent
    assert outbox.stat().st_mode & 0o777 == 0o600  # it holds patients' ID numbers
    _rerun(live, records)
    assert not outbox.exists()
    _receipted_once(live, records)


def test_records_received_already_lead_to_their_original_receipt(
    live: LiveServer, records: Path
) -> None:
    _crash_at_second_batch(live, records)
    # As an older client would leave it: no outbox, the batch's records sent anew.
    os.remove(records.with_name(records.name + ".outbox.json"))
    _rerun(live, records)
    _receipted_once(live, records)
