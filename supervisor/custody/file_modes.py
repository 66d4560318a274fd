"""Data at rest is for careledger's own user: folders 0700, files 0600, whatever the umask.

The data folder holds the SQLite database (sessions, CSRF tokens, access
events, pseudonyms), report files and the keys; backups hold the same. The
modes are set explicitly after creation, since a umask of 022 would leave
them readable by every user of the machine; ``careledger db check`` refuses
to start a service on a folder that is not private.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterable
from pathlib import Path

__all__ = ["FILE_MODE", "FOLDER_MODE", "exposed", "private_folder", "private_tree"]

FOLDER_MODE = 0o700
FILE_MODE = 0o600


def private_folder(path: Path) -> Path:
    """Create ``path`` (and parents) if missing, and make it 0700."""
    path.mkdir(parents=True, exist_ok=True)
    os.chmod(path, FOLDER_MODE)
    return path


def private_tree(root: Path) -> None:
    """Make ``root`` and every folder below 0700, every file 0600."""
    os.chmod(root, FOLDER_MODE)
    for folder, folders, files in os.walk(root):
        for name in folders:
            os.chmod(Path(folder) / name, FOLDER_MODE)
        for name in files:
            os.chmod(Path(folder) / name, FILE_MODE)


def exposed(paths: Iterable[Path]) -> list[str]:
    """Each existing path that group or others can access, as a message naming the fix."""
    found = []
    for path in paths:
        if not path.exists():
            continue
        mode = stat.S_IMODE(path.stat().st_mode)
        if mode & 0o077:
            wanted = "700" if path.is_dir() else "600"
            found.append(f"{path} is accessible to other users (mode {mode:o}): chmod {wanted}")
    return found
