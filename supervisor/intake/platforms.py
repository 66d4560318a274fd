"""Platforms and their Ed25519 keys: registered, rotated and revoked as ledger entries.

Key events are part of the audit trail: each is a ledger entry, and the
``platforms`` and ``platform_keys`` tables are their projection (rebuilt by
replaying the ledger). A key is identified by the first 16 hex digits of the
SHA-256 of its public key.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from hashlib import sha256
from typing import Any

import nacl.signing
from sqlalchemy import Connection, insert, select, update

from ledger.store import AppendResult, EntryDraft, LedgerStore
from supervisor.database import tables
from supervisor.ground.plain_text import unprintable

__all__ = [
    "KEY_EVENT_TYPES",
    "KEY_ID_PATTERN",
    "PLATFORM_ID_PATTERN",
    "PlatformError",
    "PlatformKey",
    "PlatformRegistry",
    "apply_key_event",
    "authorised_institutions",
    "decode_key_bytes",
    "generate_platform_key",
    "key_id_of",
    "parse_public_key",
    "platform_id_for",
]

REGISTERED = "platform.registered"
KEY_ADDED = "platform.key_added"
KEY_REVOKED = "platform.key_revoked"
AUTHORISED = "platform.authorised"
AUTHORISATION_REVOKED = "platform.authorisation_revoked"
KEY_EVENT_TYPES = (REGISTERED, KEY_ADDED, KEY_REVOKED, AUTHORISED, AUTHORISATION_REVOKED)
_INSTITUTION_CODE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
#: Published in the OpenAPI document; checked before any database lookup.
PLATFORM_ID_PATTERN = r"^PLT-[A-Za-z0-9][A-Za-z0-9._-]{0,63}$"
KEY_ID_PATTERN = r"^[0-9a-f]{16}$"


class PlatformError(Exception):
    """A registration or key change that cannot be made (unknown, duplicate, revoked)."""


@dataclass(frozen=True)
class PlatformKey:
    """A platform's key as the projection knows it."""

    key_id: str
    platform_id: str
    institution_code: str
    public_key: bytes
    revoked: bool


def key_id_of(public_key: bytes) -> str:
    return sha256(public_key).hexdigest()[:16]


def platform_id_for(institution_code: str) -> str:
    return f"PLT-{institution_code}"


def decode_key_bytes(text: str, what: str) -> bytes:
    """32 raw Ed25519 key bytes (a public key or a seed) from strict base64.

    Raises ``PlatformError`` naming ``what`` is wrong.
    """
    try:
        raw = base64.b64decode(text.strip(), validate=True)
    except ValueError as e:
        raise PlatformError(f"the {what} is not valid base64") from e
    if len(raw) != 32:
        raise PlatformError(f"an Ed25519 {what} has 32 bytes, not {len(raw)}")
    return raw


def parse_public_key(text: str) -> bytes:
    return decode_key_bytes(text, "public key")


def generate_platform_key() -> tuple[bytes, bytes]:
    """A new Ed25519 key pair: (32-byte seed, 32-byte public key)."""
    signing = nacl.signing.SigningKey.generate()
    return bytes(signing), bytes(signing.verify_key)


def apply_key_event(
    connection: Connection, index: int, entry_type: str, statement: Mapping[str, Any]
) -> None:
    """Project one key event into ``platforms`` and ``platform_keys`` (live and on replay)."""
    if entry_type == REGISTERED:
        connection.execute(
            insert(tables.platforms).values(
                platform_id=statement["platform_id"],
                institution_code=statement["institution_code"],
                name=statement["name"],
                entry_index=index,
            )
        )
    if entry_type in (REGISTERED, KEY_ADDED):
        connection.execute(
            insert(tables.platform_keys).values(
                key_id=statement["key_id"],
                platform_id=statement["platform_id"],
                public_key=base64.b64decode(statement["public_key"]),
                added_index=index,
                revoked_index=None,
            )
        )
    elif entry_type == KEY_REVOKED:
        connection.execute(
            update(tables.platform_keys)
            .where(tables.platform_keys.c.key_id == statement["key_id"])
            .values(revoked_index=index)
        )
    elif entry_type == AUTHORISED:
        connection.execute(
            insert(tables.platform_institutions).values(
                platform_id=statement["platform_id"],
                institution_code=statement["institution_code"],
                authorised_index=index,
                revoked_index=None,
            )
        )
    elif entry_type == AUTHORISATION_REVOKED:
        pi = tables.platform_institutions.c
        connection.execute(
            update(tables.platform_institutions)
            .where(
                pi.platform_id == statement["platform_id"],
                pi.institution_code == statement["institution_code"],
                pi.revoked_index.is_(None),
            )
            .values(revoked_index=index)
        )


def authorised_institutions(connection: Connection, platform_id: str) -> frozenset[str]:
    """The institution codes a platform may submit for: its own, and those authorised to it
    and not revoked (read in the caller's transaction, so under the head lock it is what
    every committed authorisation and revocation says)."""
    own = connection.execute(
        select(tables.platforms.c.institution_code).where(
            tables.platforms.c.platform_id == platform_id
        )
    ).scalars()
    pi = tables.platform_institutions.c
    authorised = connection.execute(
        select(pi.institution_code).where(pi.platform_id == platform_id, pi.revoked_index.is_(None))
    ).scalars()
    return frozenset([*own, *authorised])


class PlatformRegistry:
    """Registers platforms and changes their keys, each change a ledger entry."""

    def __init__(self, store: LedgerStore) -> None:
        self.store = store

    def key(self, key_id: str) -> PlatformKey | None:
        """The key with this id, or None. Reads the projection."""
        query = (
            select(
                tables.platform_keys.c.key_id,
                tables.platform_keys.c.platform_id,
                tables.platforms.c.institution_code,
                tables.platform_keys.c.public_key,
                tables.platform_keys.c.revoked_index,
            )
            .join(
                tables.platforms,
                tables.platforms.c.platform_id == tables.platform_keys.c.platform_id,
            )
            .where(tables.platform_keys.c.key_id == key_id)
        )
        with self.store.engine.connect() as connection:
            row = connection.execute(query).first()
        if row is None:
            return None
        return PlatformKey(
            row.key_id,
            row.platform_id,
            row.institution_code,
            row.public_key,
            row.revoked_index is not None,
        )

    def _append(self, draft: EntryDraft, now: datetime) -> AppendResult:
        def project(connection: Connection, result: AppendResult) -> None:
            apply_key_event(connection, result.first_index, draft.type, draft.statement)

        return self.store.append([draft], now=now, within=project)

    def register(
        self, institution_code: str, name: str, public_key: bytes, *, now: datetime
    ) -> tuple[str, str]:
        """Register a platform with its first key; returns (platform_id, key_id)."""
        if not _INSTITUTION_CODE.fullmatch(institution_code):
            raise PlatformError(f"bad institution code {institution_code!r}")
        if not name.strip() or len(name) > 200:
            raise PlatformError("the platform name must be 1 to 200 characters")
        problem = unprintable(name)
        if problem is not None:
            raise PlatformError(f"the platform name {problem}")
        platform_id = platform_id_for(institution_code)
        with self.store.engine.connect() as connection:
            exists = connection.execute(
                select(tables.platforms.c.platform_id).where(
                    tables.platforms.c.institution_code == institution_code
                )
            ).first()
        if exists is not None:
            raise PlatformError(f"institution {institution_code} is registered already")
        key_id = self._check_new_key(public_key)
        statement = {
            "institution_code": institution_code,
            "key_id": key_id,
            "name": name.strip(),
            "platform_id": platform_id,
            "public_key": base64.b64encode(public_key).decode(),
        }
        self._append(EntryDraft(REGISTERED, statement), now)
        return platform_id, key_id

    def _check_new_key(self, public_key: bytes) -> str:
        key_id = key_id_of(public_key)
        if self.key(key_id) is not None:
            raise PlatformError(f"key {key_id} is registered already (keys are never reused)")
        return key_id

    def add_key(self, platform_id: str, public_key: bytes, *, now: datetime) -> str:
        """Add a key to a platform (rotation: add the new key, then revoke the old)."""
        self._require_platform(platform_id)
        key_id = self._check_new_key(public_key)
        statement = {
            "key_id": key_id,
            "platform_id": platform_id,
            "public_key": base64.b64encode(public_key).decode(),
        }
        self._append(EntryDraft(KEY_ADDED, statement), now)
        return key_id

    def revoke_key(self, platform_id: str, key_id: str, reason: str, *, now: datetime) -> None:
        """Revoke a key: batches signed with it are refused from now on."""
        key = self.key(key_id)
        if key is None or key.platform_id != platform_id:
            raise PlatformError(f"platform {platform_id} has no key {key_id}")
        if key.revoked:
            raise PlatformError(f"key {key_id} is revoked already")
        statement = {"key_id": key_id, "platform_id": platform_id, "reason": reason}
        self._append(EntryDraft(KEY_REVOKED, statement), now)

    def authorise(self, platform_id: str, institution_code: str, *, now: datetime) -> int:
        """Let a platform submit for another institution (a chain's store, a pharmacy a
        circulation platform serves); returns the ledger index of the authorisation."""
        self._require_platform(platform_id)
        if not _INSTITUTION_CODE.fullmatch(institution_code):
            raise PlatformError(f"bad institution code {institution_code!r}")
        with self.store.engine.connect() as connection:
            codes = authorised_institutions(connection, platform_id)
        if institution_code in codes:
            raise PlatformError(f"{platform_id} may submit for {institution_code} already")
        statement = {"institution_code": institution_code, "platform_id": platform_id}
        return self._append(EntryDraft(AUTHORISED, statement), now).first_index

    def revoke_authorisation(
        self, platform_id: str, institution_code: str, reason: str, *, now: datetime
    ) -> int:
        """End an authorisation: batches with that institution's records are refused from
        the moment it commits. A platform's own institution cannot be revoked this way."""
        self._require_platform(platform_id)
        pi = tables.platform_institutions.c
        with self.store.engine.connect() as connection:
            active = connection.execute(
                select(pi.authorised_index).where(
                    pi.platform_id == platform_id,
                    pi.institution_code == institution_code,
                    pi.revoked_index.is_(None),
                )
            ).first()
        if active is None:
            raise PlatformError(f"{platform_id} holds no authorisation for {institution_code}")
        if not reason.strip() or len(reason) > 500:
            raise PlatformError("the reason must be 1 to 500 characters")
        problem = unprintable(reason)
        if problem is not None:
            raise PlatformError(f"the reason {problem}")
        statement = {
            "institution_code": institution_code,
            "platform_id": platform_id,
            "reason": reason.strip(),
        }
        return self._append(EntryDraft(AUTHORISATION_REVOKED, statement), now).first_index

    def authorisations(self, platform_id: str) -> list[Any]:
        """Every authorisation of a platform, current and revoked, oldest first."""
        self._require_platform(platform_id)
        pi = tables.platform_institutions.c
        with self.store.engine.connect() as connection:
            return list(
                connection.execute(
                    select(tables.platform_institutions)
                    .where(pi.platform_id == platform_id)
                    .order_by(pi.authorised_index)
                )
            )

    def _require_platform(self, platform_id: str) -> None:
        with self.store.engine.connect() as connection:
            found = connection.execute(
                select(tables.platforms.c.platform_id).where(
                    tables.platforms.c.platform_id == platform_id
                )
            ).first()
        if found is None:
            raise PlatformError(f"no platform {platform_id}")
