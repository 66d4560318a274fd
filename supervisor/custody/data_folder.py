"""Setting up a data folder: schema, payload keys and the log key (``careledger init``)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from ledger.note import Verifier
from supervisor.config import Settings
from supervisor.custody.file_modes import FILE_MODE, exposed, private_folder, private_tree
from supervisor.custody.key_files import create_log_signer, exposed_key_files
from supervisor.custody.payload_keys import create_payload_keys
from supervisor.database.engine import open_engine, upgrade_database

__all__ = [
    "Initialised",
    "data_at_rest_problems",
    "initialise",
    "make_private",
    "sqlite_files",
]


@dataclass(frozen=True)
class Initialised:
    database: str
    created_keys: tuple[Path, ...]
    log_verifier: Verifier | None  # None: the log key existed already and was kept


def sqlite_files(settings: Settings) -> list[Path]:
    """The SQLite database and its WAL files, when the database is an SQLite file."""
    url = settings.effective_database_url
    if not url.startswith("sqlite:///") or url == "sqlite:///:memory:":
        return []
    database = Path(url.removeprefix("sqlite:///"))
    return [database, Path(f"{database}-wal"), Path(f"{database}-shm")]


def make_private(settings: Settings) -> None:
    """The data folder, its reports and the SQLite files made private (0700/0600): for a
    folder made before they were (``careledger db upgrade`` calls it)."""
    private_folder(settings.data_dir)
    if (settings.data_dir / "reports").exists():
        private_tree(settings.data_dir / "reports")
    for path in sqlite_files(settings):
        if path.exists():  # SQLite gives its -wal and -shm files the database file's mode
            os.chmod(path, FILE_MODE)


def data_at_rest_problems(settings: Settings) -> list[str]:
    """Everything in the data folder that others could read, with the fix for each."""
    folders = [settings.data_dir, settings.data_dir / "reports"]
    problems = exposed([*folders, *sqlite_files(settings)])
    if settings.keys_dir.exists():
        problems += [f"{p}: chmod 600 (folder 700)" for p in exposed_key_files(settings.keys_dir)]
    else:
        problems.append(f"{settings.keys_dir} does not exist: restore the keys or run init")
    return problems


def initialise(settings: Settings) -> Initialised:
    """Create what is missing; never replaces a key. Idempotent for the schema."""
    private_folder(settings.data_dir)
    engine = open_engine(settings.effective_database_url)
    try:
        upgrade_database(engine)
        database = engine.url.render_as_string(hide_password=True)
    finally:
        engine.dispose()
    make_private(settings)
    created = create_payload_keys(settings.keys_dir)
    verifier = None
    if not settings.log_key_path.exists():
        signer = create_log_signer(settings.log_key_path, settings.log_origin)
        settings.log_vkey_path.write_text(signer.verifier.vkey + "\n", encoding="ascii")
        os.chmod(settings.log_vkey_path, FILE_MODE)
        created.append(settings.log_key_path)
        verifier = signer.verifier
    return Initialised(database, tuple(created), verifier)
