"""The README's first command: `careledger serve --demo` on a fresh folder, nothing else."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from .conftest import free_port

pytestmark = pytest.mark.slow

CARELEDGER = [sys.executable, "-m", "supervisor.cli"]


def _env(folder: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CARELEDGER_")}
    env["CARELEDGER_DATA_DIR"] = str(folder / "var")
    return env


def test_serve_demo_submits_through_the_api_and_serves_a_verifying_ledger(
    tmp_path: Path,
) -> None:
    port = free_port()
    started = time.monotonic()
    demo = subprocess.Popen(
        [*CARELEDGER, "serve", "--demo", "--demo-records", "1200", "--bind", f"127.0.0.1:{port}",
         "--workers", "2"],
        env=_env(tmp_path), cwd=tmp_path, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    assert demo.stderr is not None
    seen = []
    try:
        for line in demo.stderr:
            seen.append(line)
            if "Ctrl-C stops it." in line or time.monotonic() - started > 120:
                break
        assert any("1200 records submitted" in line for line in seen), "".join(seen)
        assert time.monotonic() - started < 120
    finally:
        demo.send_signal(signal.SIGINT)
        demo.wait(timeout=60)
    assert not (tmp_path / "var").exists()  # the real data folder is never touched
    verify = subprocess.run(
        [*CARELEDGER, "ledger", "verify", "--no-progress"],
        env={**_env(tmp_path), "CARELEDGER_DATA_DIR": str(tmp_path / "var-demo")},
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert verify.returncode == 0 and "1201 entries" in verify.stdout, verify.stderr


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
