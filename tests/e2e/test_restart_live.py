"""A portal whose gunicorn master was killed with SIGKILL restarts at once: its workers
die with it instead of holding the port."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

import pytest

from supervisor.client.submit import wait_for_portal

from .conftest import CARELEDGER, free_port

pytestmark = pytest.mark.slow


def _serve(env: dict[str, str], port: int, log: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [*CARELEDGER, "serve", "--bind", f"127.0.0.1:{port}", "--workers", "2"],
        env=env,
        stdout=log.open("ab"),
        stderr=subprocess.STDOUT,
    )


def _children(pid: int) -> list[int]:
    return [int(c) for c in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().split()[2]
    except FileNotFoundError:
        return False
    return state != "Z"


def test_a_sigkilled_master_leaves_no_worker_holding_the_port(tmp_path: Path) -> None:
    env = dict(os.environ, CARELEDGER_DATA_DIR=str(tmp_path / "var"), PYTHONUNBUFFERED="1")
    subprocess.run([*CARELEDGER, "init"], env=env, check=True, capture_output=True)
    port, log = free_port(), tmp_path / "serve.log"
    first = _serve(env, port, log)
    url = f"http://127.0.0.1:{port}"
    wait_for_portal(url, lambda: first.poll() is None)
    workers = _children(first.pid)
    assert len(workers) == 2

    first.send_signal(signal.SIGKILL)
    first.wait(timeout=10)
    deadline = time.monotonic() + 5
    while any(_alive(w) for w in workers) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not any(_alive(w) for w in workers), "workers outlived their master"

    second = _serve(env, port, log)
    try:
        wait_for_portal(url, lambda: second.poll() is None)
        assert second.poll() is None, log.read_text()
    finally:
        second.terminate()
        second.wait(timeout=30)
