"""A throwaway PostgreSQL server of the test's own, for faults the shared one must not see
(a restart in the middle of an ingest). Loopback only; removed afterwards."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from tests.e2e.conftest import free_port
from tests.system_tools import unavailable

__all__ = ["OwnCluster", "own_cluster"]


def _bin() -> Path | None:
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/pg_ctl"))
    return found[-1].parent if found else None


@dataclass
class OwnCluster:
    folder: Path
    port: int
    bin: Path

    @property
    def url(self) -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/postgres"

    def _ctl(self, *args: str) -> None:
        command = [str(self.bin / "pg_ctl"), "-D", str(self.folder / "data"), "-w", *args]
        _as_postgres(command, timeout=60)

    def start(self, *settings: str) -> None:
        """Start the server; ``settings`` are ``name=value`` overrides (``fsync=off``)."""
        options = f"-p {self.port} -k {self.folder} -c listen_addresses=127.0.0.1 -c fsync=on"
        options += "".join(f" -c {setting}" for setting in settings)
        self._ctl("-o", options, "-l", str(self.folder / "server.log"), "start")

    def stop(self, mode: str = "fast") -> None:
        self._ctl("-m", mode, "stop")


def _as_postgres(command: list[str], timeout: float) -> None:
    if os.geteuid() == 0:  # the server refuses to run as root
        command = ["runuser", "-u", "postgres", "--", *command]
    subprocess.run(command, check=True, capture_output=True, timeout=timeout)


@contextmanager
def own_cluster() -> Iterator[OwnCluster]:
    binaries = _bin()
    if binaries is None:
        message = "PostgreSQL server binaries are not installed"
        unavailable(message + ": apt-get install postgresql")
    folder = Path(tempfile.mkdtemp(prefix="careledger-pg-"))
    os.chmod(folder, 0o755)
    if os.geteuid() == 0:
        shutil.chown(folder, "postgres", "postgres")
    cluster = OwnCluster(folder, free_port(), binaries)
    _as_postgres(
        [str(binaries / "initdb"), "-D", str(folder / "data"), "-U", "postgres",
         "--auth=trust", "--no-sync", "-E", "UTF8"],
        timeout=120,
    )  # fmt: skip
    cluster.start()
    try:
        yield cluster
    finally:
        try:
            cluster.stop("immediate")
        finally:
            shutil.rmtree(folder, ignore_errors=True)
