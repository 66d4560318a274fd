"""Key files: created 0600 and never overwritten; refused when others can read them."""

from __future__ import annotations

import os
import secrets
import stat
from pathlib import Path

from ledger.note import Signer
from supervisor.custody.file_modes import exposed

__all__ = [
    "KeyFileError",
    "create_log_signer",
    "exposed_key_files",
    "load_log_signer",
    "read_secret",
    "replace_secret",
    "sync_to_disk",
    "write_secret",
]


class KeyFileError(Exception):
    """A key file is missing, exists already, or is readable by others."""


def _write_temporary(path: Path, text: str) -> Path:
    """``text`` in a new 0600 file beside ``path``, synced to disk."""
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "w", encoding="ascii") as handle:
        handle.write(text)
        handle.flush()
        os.fsync(handle.fileno())
    return temporary


def sync_to_disk(path: Path) -> None:
    """fsync a file, or a folder so that the names just made or removed in it survive a crash."""
    descriptor = os.open(path, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


def write_secret(path: Path, text: str) -> None:
    """Create ``path`` with mode 0600 (its folder 0700). Refuses to overwrite.

    Atomic: the key is written and synced under a temporary name, then
    hard-linked into place (which fails if the name exists), so a process
    racing to create the same key never reads a half-written file.
    """
    if path.exists():
        raise KeyFileError(f"{path} exists already; careledger never overwrites a key")
    temporary = _write_temporary(path, text)
    try:
        os.link(temporary, path)
    except FileExistsError as e:
        raise KeyFileError(f"{path} exists already; careledger never overwrites a key") from e
    finally:
        temporary.unlink()
    sync_to_disk(path.parent)


def replace_secret(path: Path, text: str) -> None:
    """Atomically replace ``path`` (0600): readers see the old content or the new, never half.

    Only key rotation uses this, for a content that stays equivalent (a data key
    re-wrapped) or a rotation's last step.
    """
    os.replace(_write_temporary(path, text), path)
    sync_to_disk(path.parent)


def read_secret(path: Path) -> str:
    """Read a key file, refusing one that group or others can access."""
    try:
        mode = path.stat().st_mode
    except FileNotFoundError as e:
        raise KeyFileError(f"{path} does not exist: run `careledger init`") from e
    if stat.S_IMODE(mode) & 0o077:
        raise KeyFileError(
            f"{path} is accessible to other users (mode {stat.S_IMODE(mode):o}); chmod 600 it"
        )
    return path.read_text(encoding="ascii").strip()


def exposed_key_files(keys_dir: Path) -> list[str]:
    """Every key file (and the folder) that group or others can access, as a message each."""
    return exposed([keys_dir, *sorted(keys_dir.rglob("*"))])


def create_log_signer(key_path: Path, origin: str) -> Signer:
    """Generate the log signing key and store it at ``key_path``."""
    signer = Signer.generate(origin)
    write_secret(key_path, signer.skey + "\n")
    return signer


def load_log_signer(key_path: Path, origin: str) -> Signer:
    signer = Signer.from_skey(read_secret(key_path))
    if signer.name != origin:
        raise KeyFileError(f"{key_path} signs as {signer.name!r}, but log_origin is {origin!r}")
    return signer
