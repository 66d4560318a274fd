"""Rotating the log signing key (``careledger keys rotate-log``), crash-safely.

1. A new key is written to ``log-signing-next.key`` (or the one an interrupted
   run left there is used).
2. ``LedgerStore.rotate_signer`` appends the ``log.key_rotation`` entry, signed
   by both keys, and its checkpoint, signed by both (``ledger/log_keys.py``).
3. The new key replaces ``log-signing.key``: the retiring private key is gone
   (what a compromise needs), its verifier key stays in the ledger, so every
   checkpoint it signed stays verifiable.

Running processes take the new key when they next sign: the latest checkpoint
names it, and ``log_signer_finder`` loads it from either file. A crash after
step 2 leaves the log rotated and the new key in ``log-signing-next.key``;
running the command again finishes step 3.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from ledger.note import Signer, Verifier
from ledger.store import LedgerStore
from supervisor.config import Settings
from supervisor.custody.key_files import KeyFileError, load_log_signer, replace_secret, write_secret
from supervisor.database.engine import open_engine

__all__ = ["NEXT_LOG_KEY", "LogKeyRotated", "log_signer_finder", "rotate_log_key"]

NEXT_LOG_KEY = "log-signing-next.key"


def log_signer_finder(settings: Settings) -> Callable[[bytes], Signer | None]:
    """``key_id -> Signer``: the log key with that id, from the key files, if present."""
    paths = (settings.log_key_path, settings.keys_dir / NEXT_LOG_KEY)

    def find(key_id: bytes) -> Signer | None:
        for path in paths:
            if path.exists():
                signer = load_log_signer(path, settings.log_origin)
                if signer.key_id == key_id:
                    return signer
        return None

    return find


@dataclass(frozen=True)
class LogKeyRotated:
    old: Verifier
    new: Verifier
    entry_index: int | None  # None: the ledger was rotated by an interrupted earlier run


def rotate_log_key(settings: Settings, now: datetime) -> LogKeyRotated:
    """Hand the log over to a new key (steps 1 to 3 of the module docstring)."""
    current = load_log_signer(settings.log_key_path, settings.log_origin)
    next_path = settings.keys_dir / NEXT_LOG_KEY
    if next_path.exists():
        new = load_log_signer(next_path, settings.log_origin)
    else:
        new = Signer.generate(settings.log_origin)
        write_secret(next_path, new.skey + "\n")
    engine = open_engine(settings.effective_database_url)
    try:
        store = LedgerStore(engine, current)
        in_force = store.key_id_in_force() or current.key_id
        if in_force == current.key_id:
            entry_index: int | None = store.rotate_signer(new, now=now).first_index
        elif in_force == new.key_id:
            entry_index = None
        else:
            raise KeyFileError(
                f"the log signs with key {in_force.hex()}, which is neither "
                f"{settings.log_key_path} nor {next_path}: restore the key files first"
            )
    finally:
        engine.dispose()
    replace_secret(settings.log_key_path, new.skey + "\n")
    next_path.unlink()
    return LogKeyRotated(current.verifier, new.verifier, entry_index)
