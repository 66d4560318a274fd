"""Keys that protect records at rest: sealed payloads and keyed pseudonyms.

* The master key (``keys/master.key``) wraps every data key; it never
  encrypts a record itself.
* A data key per record type and month (``keys/data/<type>-<YYYY-MM>.key``,
  wrapped by the master key) seals the payloads received in that month, so
  destroying one file makes exactly that period's payloads of that type
  unreadable (crypto-shredding) while every proof stays valid.
* The pseudonym key turns national ID numbers into HMAC-SHA256 pseudonyms:
  search by person without the number ever being stored in clear.

Keys live in files (0600, never overwritten), never in the database.
"""

from __future__ import annotations

import base64
import contextlib
import hmac
import os
import re
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime
from hashlib import sha256
from pathlib import Path

import nacl.exceptions
import nacl.secret
import nacl.utils

from supervisor.custody.key_files import KeyFileError, read_secret, sync_to_disk, write_secret

__all__ = [
    "MASTER_KEY",
    "NEXT_MASTER_KEY",
    "SALT_SIZE",
    "PayloadKeys",
    "PayloadShreddedError",
    "SealedPayloadError",
    "create_payload_keys",
    "load_master",
    "period_of",
]

_SEAL_VERSION = b"CLS1"
#: Sealed records and findings start with a random salt of this size; the leaf commits to
#: SHA-256(salt || canonical JSON), so the commitment reveals nothing guessable.
SALT_SIZE = 32
_KEY_NAME = re.compile(r"[a-z][a-z0-9_]*-[0-9]{4}-[0-9]{2}")


class SealedPayloadError(Exception):
    """A sealed payload cannot be opened: unknown format, shredded or wrong key, or tampered."""


class PayloadShreddedError(SealedPayloadError):
    """Its data key was destroyed at the end of its retention (a tombstone says so): the
    one reason a payload may legitimately not open. Every other failure is tampering."""


def period_of(moment: datetime) -> str:
    """The key period of a time: its UTC month, ``YYYY-MM``."""
    return f"{moment.year:04d}-{moment.month:02d}"


def _b64_key(text: str, path: Path) -> bytes:
    try:
        raw = base64.b64decode(text, validate=True)
    except ValueError as e:
        raise KeyFileError(f"{path} is not a base64 key") from e
    if len(raw) != nacl.secret.SecretBox.KEY_SIZE:
        raise KeyFileError(f"{path} holds {len(raw)} bytes, not a 32-byte key")
    return raw


MASTER_KEY = "master.key"
#: A master key being rotated in: wraps new data keys until it replaces ``master.key``.
NEXT_MASTER_KEY = "master-next.key"


def load_master(path: Path) -> nacl.secret.SecretBox:
    return nacl.secret.SecretBox(_b64_key(read_secret(path), path))


def create_payload_keys(keys_dir: Path) -> list[Path]:
    """Create whichever of the master and pseudonym keys is missing; never overwrites one."""
    created = []
    for name in ("master.key", "pseudonym.key"):
        path = keys_dir / name
        if not path.exists():
            key = nacl.utils.random(nacl.secret.SecretBox.KEY_SIZE)
            write_secret(path, base64.b64encode(key).decode() + "\n")
            created.append(path)
    return created


#: How long an unwrapped data key is used before its file is looked for again: after
#: ``retention apply`` destroys a key, every running process stops opening with it within this.
_RECHECK_SECONDS = 2.0


@dataclass
class _DataKey:
    name: str
    box: nacl.secret.SecretBox
    checked: float = field(default_factory=time.monotonic)


class PayloadKeys:
    """Seals and opens record payloads and computes pseudonyms, from one key folder.

    Thread-safe; data keys are created on first use and cached unwrapped in
    memory. Several processes may race to create the same data key: the
    loser reads the winner's file.
    """

    def __init__(self, keys_dir: Path) -> None:
        self._dir = keys_dir
        self._master = load_master(keys_dir / MASTER_KEY)
        self._pseudonym_key = _b64_key(
            read_secret(keys_dir / "pseudonym.key"), keys_dir / "pseudonym.key"
        )
        self._data_keys: dict[str, _DataKey] = {}
        self._lock = threading.Lock()

    # -- pseudonyms ------------------------------------------------------------

    def pseudonym(self, kind: str, id_number: str) -> str:
        """Keyed pseudonym of an ID number (hex); ``kind`` separates patients from staff."""
        normalised = id_number.strip().upper()
        message = kind.encode() + b"\x00" + normalised.encode()
        return hmac.new(self._pseudonym_key, message, sha256).hexdigest()

    # -- data keys ---------------------------------------------------------------

    def _data_key_path(self, name: str) -> Path:
        return self._dir / "data" / f"{name}.key"

    def data_key_names(self) -> list[str]:
        """The data keys that exist, as ``<kind>-<YYYY-MM>``."""
        folder = self._dir / "data"
        if not folder.exists():
            return []
        names = (p.name.removesuffix(".key") for p in folder.glob("*.key"))
        return sorted(n for n in names if _KEY_NAME.fullmatch(n))

    def _tombstone(self, name: str) -> Path:
        return self._dir / "data" / f"{name}.shredded"

    def destroy(self, name: str, reason: str) -> None:
        """Crypto-shred: overwrite the wrapped key, sync, unlink, sync the folder.

        A tombstone ``<name>.shredded`` (holding ``reason``) stays, so the key is
        never created afresh for its period and a failed open says why.

        (On copy-on-write or flash storage the old blocks may survive the
        overwrite; they hold the key wrapped by the master key, which is why
        retention is followed by ``keys rewrap-master``.)
        """
        if not _KEY_NAME.fullmatch(name):
            raise SealedPayloadError(f"bad data key name {name!r}")
        path = self._data_key_path(name)
        with self._lock:
            self._data_keys.pop(name, None)
            tombstone = self._tombstone(name)
            if not tombstone.exists():
                tombstone.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
                tombstone.write_text(reason + "\n", encoding="utf-8")
            if not path.exists():
                return
            size = path.stat().st_size
            with path.open("r+b") as handle:
                handle.write(b"\0" * size)
                handle.flush()
                os.fsync(handle.fileno())
            path.unlink()
            sync_to_disk(path.parent)

    def _cached(self, name: str) -> _DataKey | None:
        found = self._data_keys.get(name)
        if found is None:
            return None
        now = time.monotonic()
        if now - found.checked > _RECHECK_SECONDS:
            if not self._data_key_path(name).exists():  # shredded since it was loaded
                self._data_keys.pop(name, None)
                return None
            found.checked = now
        return found

    def _data_key(self, name: str, *, create: bool) -> _DataKey:
        found = self._cached(name)
        if found is not None:
            return found
        if not _KEY_NAME.fullmatch(name):
            raise SealedPayloadError(f"bad data key name {name!r}")
        with self._lock:
            found = self._cached(name)
            if found is not None:
                return found
            path = self._data_key_path(name)
            tombstone = self._tombstone(name)
            if tombstone.exists():
                raise PayloadShreddedError(
                    f"data key {name} was destroyed: {tombstone.read_text('utf-8').strip()}"
                )
            if create and not path.exists():
                key = nacl.utils.random(nacl.secret.SecretBox.KEY_SIZE)
                wrapped = base64.b64encode(self._wrapping_master().encrypt(key)).decode()
                # Another process may create it first: then use theirs.
                with contextlib.suppress(KeyFileError):
                    write_secret(path, wrapped + "\n")
            try:
                wrapped_text = read_secret(path)
            except KeyFileError as e:
                raise SealedPayloadError(f"data key {name} is not available: {e}") from e
            key = self._unwrap(name, wrapped_text)
            found = self._data_keys[name] = _DataKey(name, nacl.secret.SecretBox(key))
            return found

    # -- the master key, which may be mid-rotation (``key_rotation.py``) ----------------

    def _wrapping_master(self) -> nacl.secret.SecretBox:
        """The master a new data key is wrapped with, read from disk (rare: once per kind and
        month): the next one while a rotation is under way, never one rotated out since."""
        upcoming = self._dir / NEXT_MASTER_KEY
        if upcoming.exists():
            return load_master(upcoming)
        self._master = load_master(self._dir / MASTER_KEY)
        return self._master

    def _unwrap(self, name: str, wrapped_text: str) -> bytes:
        try:
            wrapped = base64.b64decode(wrapped_text, validate=True)
        except ValueError as e:
            raise SealedPayloadError(f"data key {name} is not base64") from e
        candidates = [self._master]
        for file_name in (NEXT_MASTER_KEY, MASTER_KEY):  # mid-rotation, or rotated since start
            path = self._dir / file_name
            if path.exists():
                candidates.append(load_master(path))
        for index, master in enumerate(candidates):
            try:
                key = master.decrypt(wrapped)
            except nacl.exceptions.CryptoError:
                continue
            if index and (self._dir / MASTER_KEY).exists():
                self._master = load_master(self._dir / MASTER_KEY)
            return key
        raise SealedPayloadError(f"data key {name} does not unwrap with the master key")

    # -- payloads ------------------------------------------------------------------

    def seal(self, record_type: str, received_at: datetime, plaintext: bytes) -> bytes:
        """``CLS1`` + key name + NUL + SecretBox(nonce, ciphertext)."""
        data_key = self._data_key(f"{record_type}-{period_of(received_at)}", create=True)
        return _SEAL_VERSION + data_key.name.encode() + b"\x00" + data_key.box.encrypt(plaintext)

    def open(self, sealed: bytes) -> bytes:
        """The plaintext of a sealed payload. Raises ``SealedPayloadError``."""
        if not sealed.startswith(_SEAL_VERSION) or b"\x00" not in sealed:
            raise SealedPayloadError("not a careledger sealed payload")
        name, _, box_bytes = sealed[len(_SEAL_VERSION) :].partition(b"\x00")
        data_key = self._data_key(name.decode("ascii", "replace"), create=False)
        try:
            return data_key.box.decrypt(box_bytes)
        except nacl.exceptions.CryptoError as e:
            raise SealedPayloadError(f"payload sealed with {data_key.name} was altered") from e
