"""The README's first command: `careledger serve --demo` on a fresh folder, nothing else."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from pathlib import Path

import pytest

from .conftest import free_port

pytestmark = pytest.mark.slow

CARELEDGER = [sys.executable, "-m", "supervisor.cli"]


def _env(folder: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CARELEDGER_")}
    env["CARELEDGER_DATA_DIR"] = str(folder / "var")
    return env


def test_serve_demo_submits_the_province_inspects_it_and_serves_a_verifying_ledger(
    tmp_path: Path,
) -> None:
    port = free_port()
    started = time.monotonic()
    demo = subprocess.Popen(
        [*CARELEDGER, "serve", "--demo", "--demo-institutions", "4", "--demo-days", "3",
         "--bind", f"127.0.0.1:{port}", "--workers", "2"],
        env=_env(tmp_path), cwd=tmp_path, stderr=subprocess.PIPE, text=True,
        start_new_session=True,  # its own process group: nothing outlives a failed test
    )  # fmt: skip
    assert demo.stderr is not None
    seen = []
    try:
        for line in demo.stderr:
            seen.append(line)
            if "Ctrl-C stops it." in line or time.monotonic() - started > 120:
                break
        output = "".join(seen)
        # Four hospitals' platforms, and nine of pharmacies, chains and a circulation platform.
        assert "records from 13 platforms submitted through the platform API" in output, output
        assert re.search(r"inspected: [1-9][0-9]* findings", output), output
        assert time.monotonic() - started < 120
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/log/checkpoint") as response:
            assert response.read().startswith(b"careledger.local/ledger\n")
        password = re.search(r"demo-regulator +(\S+)", output)
        assert password, output
        home = _sign_in(f"http://127.0.0.1:{port}", "demo-regulator", password.group(1))
        assert "演示监管员" in home and "监管发现" in home
        assert re.search(r"reports: +digest-\S+-at-\d+, assessment-\S+-at-\d+", output), output
    finally:
        demo.send_signal(signal.SIGINT)
        try:
            demo.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(demo.pid, signal.SIGKILL)
            raise
    assert not (tmp_path / "var").exists()  # the real data folder is never touched
    verify = subprocess.run(
        [*CARELEDGER, "ledger", "verify", "--no-progress"],
        env={**_env(tmp_path), "CARELEDGER_DATA_DIR": str(tmp_path / "var-demo")},
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert verify.returncode == 0, verify.stderr
    demo_env = {**_env(tmp_path), "CARELEDGER_DATA_DIR": str(tmp_path / "var-demo")}
    exported = subprocess.run(
        [*CARELEDGER, "findings", "export"], env=demo_env, capture_output=True, text=True,
        check=True,
    )  # fmt: skip
    findings = [json.loads(line) for line in exported.stdout.splitlines()]
    labels = [
        json.loads(line)
        for line in (tmp_path / "var-demo" / "province" / "labels.jsonl").read_text().splitlines()
    ]
    # The demo ended three days ago, so every record sent on time is past its 72-hour grace
    # period, whatever the hour: all is found. (A record sent late to an institution that
    # never filed could still wait; the seeded province has none.)
    assert {(f["record_id"], f["rule"]) for f in findings} == {
        (x["record_id"], x["rule"]) for x in labels
    }


def _sign_in(url: str, username: str, password: str) -> str:
    """Sign in through the demo directory as a browser would (cookies, CSRF token)."""
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor())
    with opener.open(f"{url}/portal/login") as response:
        page = response.read().decode()
    assert "演示目录" in page  # the demo directory says what it is
    token = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert token
    form = urllib.parse.urlencode(
        {"username": username, "password": password, "csrf_token": token.group(1)}
    ).encode()
    with opener.open(f"{url}/portal/login", data=form) as response:
        return str(response.read().decode())


def test_serve_demo_refuses_to_empty_a_folder_that_is_not_a_demo(tmp_path: Path) -> None:
    (tmp_path / "var-demo").mkdir()
    (tmp_path / "var-demo" / "careledger.db").write_text("precious")
    done = subprocess.run(
        [*CARELEDGER, "serve", "--demo"], env=_env(tmp_path), cwd=tmp_path,
        capture_output=True, text=True, check=False, timeout=60,
    )  # fmt: skip
    assert done.returncode == 1
    assert "is not a demo folder" in done.stderr and "Traceback" not in done.stderr
    assert (tmp_path / "var-demo" / "careledger.db").read_text() == "precious"
