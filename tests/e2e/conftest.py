"""Helpers for tests that run careledger as its users do: real processes on loopback."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from ledger.note import Verifier
from supervisor.client.submit import (
    PlatformKeyFile,
    SubmitError,
    load_platform_key,
    sign_envelope,
    wait_for_portal,
)
from supervisor.demo.synthetic import synthetic_records

CARELEDGER = [sys.executable, "-m", "supervisor.cli"]
INSTITUTION = "H330100009"
CST = timezone(timedelta(hours=8))


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass
class LiveServer:
    url: str
    env: dict[str, str]
    verifier: Verifier
    platform_id: str
    key_path: Path
    key: PlatformKeyFile
    folder: Path
    #: Set by a test that edits storage behind the server's back: skip the final verify.
    tampered: bool = False
    #: The `careledger serve` process: gunicorn's master, whose children are the workers.
    pid: int = 0

    def worker_pids(self) -> list[int]:
        children = Path(f"/proc/{self.pid}/task/{self.pid}/children").read_text().split()
        return [int(c) for c in children]

    def careledger(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        done = subprocess.run(
            [*CARELEDGER, *args],
            check=False,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=300,
        )
        if check:
            assert done.returncode == 0, done.stderr
        return done


def signed_batches(
    live: LiveServer, batches: int, per_batch: int, tag: str, *, seed: int = 11
) -> list[dict[str, Any]]:
    """``batches`` signed envelopes of the live server's platform, ids ``<tag>-<n>``."""
    start = datetime.now(UTC).astimezone(CST).replace(microsecond=0) - timedelta(hours=3)
    pool = list(synthetic_records(INSTITUTION, batches * per_batch, start=start, seed=seed))
    return [
        sign_envelope(
            platform_id=live.platform_id,
            key=live.key,
            batch_id=f"{tag}-{n}",
            created_at=datetime.now(UTC),
            records=pool[n * per_batch : (n + 1) * per_batch],
        )
        for n in range(batches)
    ]


@pytest.fixture
def live(tmp_path: Path, database_url: str) -> Iterator[LiveServer]:
    """`careledger serve` (three workers) on a fresh data folder with one registered platform;
    afterwards the serve log holds no traceback and the ledger verifies."""
    with running_portal(tmp_path, database_url, {}) as server:
        yield server


@contextmanager
def running_portal(
    tmp_path: Path, database_url: str, extra_env: dict[str, str], *, initialised: bool = False
) -> Iterator[LiveServer]:
    env = dict(os.environ)
    env.update(
        CARELEDGER_DATA_DIR=str(tmp_path / "var"),
        CARELEDGER_DATABASE_URL=database_url,
        PYTHONUNBUFFERED="1",
        **extra_env,
    )
    server = LiveServer("", env, None, "", tmp_path / "platform.key", None, tmp_path)  # type: ignore[arg-type]
    if initialised:
        server.verifier = Verifier.from_vkey((tmp_path / "var" / "log.vkey").read_text().strip())
    else:
        server.verifier = Verifier.from_vkey(server.careledger("init").stdout.strip())
    public_key = server.careledger("platform", "keygen", "--out", str(server.key_path)).stdout
    registered = server.careledger(
        "platform",
        "register",
        "--institution",
        INSTITUTION,
        "--name",
        "测试互联网医院",
        "--public-key",
        public_key.strip(),
    ).stdout
    server.platform_id = registered.split("platform_id: ")[1].split()[0]
    server.key = load_platform_key(server.key_path.read_text())
    port = free_port()
    server.url = f"http://127.0.0.1:{port}"
    log = (tmp_path / "serve.log").open("w")
    process = subprocess.Popen(
        [*CARELEDGER, "serve", "--bind", f"127.0.0.1:{port}", "--workers", "3"],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    server.pid = process.pid
    try:
        wait_for_portal(server.url, lambda: process.poll() is None)
    except SubmitError:
        process.kill()
        pytest.fail("careledger serve did not start: " + (tmp_path / "serve.log").read_text())
    try:
        yield server
    finally:
        process.terminate()
        process.wait(timeout=30)
        log.close()
    served = (tmp_path / "serve.log").read_text()
    assert "Traceback" not in served, served
    if not server.tampered:
        verify = server.careledger("ledger", "verify", "--no-progress")
        assert "ledger verifies" in verify.stdout
