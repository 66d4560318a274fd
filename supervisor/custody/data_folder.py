"""Setting up a data folder: schema, payload keys and the log key (``careledger init``)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ledger.note import Verifier
from supervisor.config import Settings
from supervisor.custody.key_files import create_log_signer
from supervisor.custody.payload_keys import create_payload_keys
from supervisor.database.engine import open_engine, upgrade_database

__all__ = ["Initialised", "initialise"]


@dataclass(frozen=True)
class Initialised:
    database: str
    created_keys: tuple[Path, ...]
    log_verifier: Verifier | None  # None: the log key existed already and was kept


def initialise(settings: Settings) -> Initialised:
    """Create what is missing; never replaces a key. Idempotent for the schema."""
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    engine = open_engine(settings.effective_database_url)
    try:
        upgrade_database(engine)
        database = engine.url.render_as_string(hide_password=True)
    finally:
        engine.dispose()
    created = create_payload_keys(settings.keys_dir)
    verifier = None
    if not settings.log_key_path.exists():
        signer = create_log_signer(settings.log_key_path, settings.log_origin)
        settings.log_vkey_path.write_text(signer.verifier.vkey + "\n", encoding="ascii")
        created.append(settings.log_key_path)
        verifier = signer.verifier
    return Initialised(database, tuple(created), verifier)
