"""Master-key rotation: re-wrap every data key under a new master key, crash-safely.

1. A new master key is written to ``master-next.key`` (from then on, new
   data keys are wrapped with it).
2. Each data key file is re-wrapped with it, one atomic replace at a time;
   files already under the new key are left as they are.
3. Every data key is checked to unwrap with the new master.
4. ``master-next.key`` replaces ``master.key`` (one atomic rename).

A crash at any step leaves keys that open (``PayloadKeys`` tries both
masters) and a re-run finishes the rotation. The data keys themselves do not
change, so no payload is re-sealed and no proof is touched.
"""

from __future__ import annotations

import base64
import os
from dataclasses import dataclass
from pathlib import Path

import nacl.exceptions
import nacl.secret
import nacl.utils

from supervisor.custody.key_files import read_secret, replace_secret, sync_to_disk, write_secret
from supervisor.custody.payload_keys import (
    MASTER_KEY,
    NEXT_MASTER_KEY,
    SealedPayloadError,
    load_master,
)

__all__ = ["RewrapOutcome", "rewrap_master"]


@dataclass(frozen=True)
class RewrapOutcome:
    rewrapped: int
    already: int  # re-wrapped by an interrupted earlier run


def rewrap_master(keys_dir: Path) -> RewrapOutcome:
    upcoming_path = keys_dir / NEXT_MASTER_KEY
    if not upcoming_path.exists():
        fresh = nacl.utils.random(nacl.secret.SecretBox.KEY_SIZE)
        write_secret(upcoming_path, base64.b64encode(fresh).decode() + "\n")
    current = load_master(keys_dir / MASTER_KEY)
    upcoming = load_master(upcoming_path)
    rewrapped = already = 0
    for path in sorted((keys_dir / "data").glob("*.key")):
        wrapped = base64.b64decode(read_secret(path), validate=True)
        try:
            upcoming.decrypt(wrapped)
            already += 1
            continue
        except nacl.exceptions.CryptoError:
            pass
        try:
            key = current.decrypt(wrapped)
        except nacl.exceptions.CryptoError as e:
            raise SealedPayloadError(f"{path} unwraps with neither master key") from e
        replace_secret(path, base64.b64encode(upcoming.encrypt(key)).decode() + "\n")
        rewrapped += 1
    for path in sorted((keys_dir / "data").glob("*.key")):  # including keys made meanwhile
        try:
            upcoming.decrypt(base64.b64decode(read_secret(path), validate=True))
        except nacl.exceptions.CryptoError as e:
            raise SealedPayloadError(
                f"{path} does not unwrap with the new master key; run the rotation again"
            ) from e
    os.replace(upcoming_path, keys_dir / MASTER_KEY)
    sync_to_disk(keys_dir)
    return RewrapOutcome(rewrapped, already)
