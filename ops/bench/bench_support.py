"""What the benchmarks share: throwaway PostgreSQL schemas and the JSON report."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import sqlalchemy

from ledger.store import EntryDraft
from supervisor.client.submit import wait_for_portal

__all__ = [
    "percentile",
    "postgres_schemas",
    "record_shaped_batches",
    "serving_portal",
    "write_report",
]


@contextmanager
def postgres_schemas(url: str, names: Sequence[str]) -> Iterator[dict[str, str]]:
    """A fresh schema per name in the database at ``url``; yields name -> URL using it.

    The schemas are dropped afterwards, whatever happens.
    """
    admin = sqlalchemy.create_engine(url)
    schemas = {name: f"bench_{uuid.uuid4().hex[:8]}_{name}" for name in names}
    with admin.begin() as connection:
        for schema in schemas.values():
            connection.exec_driver_sql(f"CREATE SCHEMA {schema}")
    try:
        yield {name: f"{url}?options=-csearch_path%3D{schema}" for name, schema in schemas.items()}
    finally:
        with admin.begin() as connection:
            for schema in schemas.values():
                connection.exec_driver_sql(f"DROP SCHEMA {schema} CASCADE")
        admin.dispose()


#: Settings of ``ops/postgresql/postgresql.conf.example`` a throwaway loopback server
#: cannot take (TLS, WAL archive, the server's own authentication).
_NOT_FOR_A_THROWAWAY = {"ssl", "archive_mode", "archive_command", "password_encryption"}


def server_settings(conf: Path) -> dict[str, str]:
    """``name = value`` lines of a postgresql.conf, comments dropped."""
    settings = {}
    for text in conf.read_text().splitlines():
        line = text.split("#", 1)[0].strip()
        if "=" in line:
            name, value = (part.strip() for part in line.split("=", 1))
            if name not in _NOT_FOR_A_THROWAWAY:
                settings[name] = value.strip("'")
    return settings


@contextmanager
def own_postgres(conf: Path) -> Iterator[str]:
    """A throwaway PostgreSQL server on loopback with ``conf``'s settings (the production
    advice), so a benchmark measures the configuration it recommends; yields its URL."""
    import shutil
    import tempfile

    binaries = sorted(Path("/usr/lib/postgresql").glob("*/bin"))[-1]
    folder = Path(tempfile.mkdtemp(prefix="careledger-bench-pg-"))
    os.chmod(folder, 0o755)
    as_postgres = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
    if as_postgres:
        shutil.chown(folder, "postgres", "postgres")
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = int(probe.getsockname()[1])
    data = folder / "data"
    subprocess.run(
        [*as_postgres, str(binaries / "initdb"), "-D", str(data), "-U", "postgres",
         "--auth=trust", "-E", "UTF8"],
        check=True, capture_output=True,
    )  # fmt: skip
    options = [f"-p {port}", f"-k {folder}", "-c listen_addresses=127.0.0.1"]
    options += [f"-c {name}={value}" for name, value in server_settings(conf).items()]
    ctl = [*as_postgres, str(binaries / "pg_ctl"), "-D", str(data), "-w"]
    subprocess.run(
        [*ctl, "-o", " ".join(options), "-l", str(folder / "server.log"), "start"],
        check=True, capture_output=True,
    )  # fmt: skip
    try:
        yield f"postgresql+psycopg://postgres@127.0.0.1:{port}/postgres"
    finally:
        subprocess.run([*ctl, "-m", "fast", "stop"], check=False, capture_output=True)
        shutil.rmtree(folder, ignore_errors=True)


def write_report(report: dict[str, Any], out: Path | None) -> None:
    """Print the report as JSON, and write it to ``out`` too when given."""
    text = json.dumps(report, indent=2)
    print(text)
    if out is not None:
        out.write_text(text + "\n")


def record_shaped_batches(count: int, batch: int) -> list[list[EntryDraft]]:
    """Entries whose leaves and payloads have the size and shape of submitted records'."""
    signature = "A" * 86 + "=="
    return [
        [
            EntryDraft(
                "record.consultation",
                {
                    "batch_created_at": "2026-11-23T16:00:00+08:00",
                    "batch_id": f"bench-{start}",
                    "batch_signature": signature,
                    "commitment": os.urandom(32).hex(),
                    "institution_code": "H000000001",
                    "key_id": "0123456789abcdef",
                    "platform_id": "PLT-H000000001",
                    "record_id": f"H000000001-V{start + i:08d}",
                },
                os.urandom(900),  # a sealed record's size
            )
            for i in range(min(batch, count - start))
        ]
        for start in range(0, count, batch)
    ]


def percentile(samples: list[float], fraction: float) -> float:
    ordered = sorted(samples)
    return ordered[max(0, int(len(ordered) * fraction) - 1)]


@contextmanager
def serving_portal(
    data_dir: Path, database_url: str, workers: int, extra_env: dict[str, str] | None = None
) -> Iterator[str]:
    """`careledger serve` on a free loopback port for ``data_dir``; yields its URL.

    Its output goes to ``serve.log`` beside the data folder.
    """
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = int(probe.getsockname()[1])
    env = dict(os.environ, CARELEDGER_DATA_DIR=str(data_dir), CARELEDGER_DATABASE_URL=database_url)
    env.update(extra_env or {})
    command = [sys.executable, "-m", "supervisor.cli", "serve", "--bind", f"127.0.0.1:{port}"]
    with (data_dir.parent / "serve.log").open("wb") as log:
        server = subprocess.Popen(
            [*command, "--workers", str(workers)], env=env, stdout=log, stderr=subprocess.STDOUT
        )
        try:
            url = f"http://127.0.0.1:{port}"
            wait_for_portal(url, lambda: server.poll() is None)
            yield url
        finally:
            server.terminate()
            server.wait(timeout=60)
