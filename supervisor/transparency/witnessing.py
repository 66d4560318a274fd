"""The log's side of witnessing: ask witnesses to cosign, keep and serve their cosignatures.

``collect_cosignatures`` sends the latest checkpoint to every configured
witness with a consistency proof from the size that witness last cosigned,
verifies each answer against the witness's key, and stores the signature
line. ``published_checkpoint`` is what ``GET /log/checkpoint`` serves: the
latest checkpoint that the witness quorum cosigned, with every cosignature
collected for it.
"""

from __future__ import annotations

import base64
import http.client
import logging
import urllib.parse
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Engine, func, insert, select

from ledger.checkpoint import SignedCheckpoint
from ledger.errors import LedgerError
from ledger.note import COSIGNATURE_V1, Verifier, open_note
from ledger.store import LedgerStore
from supervisor.database import tables

__all__ = [
    "CollectionResult",
    "WitnessEndpoint",
    "collect_cosignatures",
    "cosignature_lines",
    "parse_witnesses",
    "published_checkpoint",
    "witnessed_since",
]

_log = logging.getLogger("careledger.witnessing")


@dataclass(frozen=True)
class WitnessEndpoint:
    url: str
    verifier: Verifier


def parse_witnesses(entries: Sequence[str]) -> list[WitnessEndpoint]:
    """Settings' ``"<url> <vkey>"`` entries; the vkeys must be cosigner (0x04) keys."""
    endpoints = []
    for entry in entries:
        url, vkey = entry.split()
        verifier = Verifier.from_vkey(vkey)
        if verifier.algorithm != COSIGNATURE_V1:
            raise LedgerError(f"witness key {verifier.name} is not a cosignature/v1 key")
        endpoints.append(WitnessEndpoint(url.rstrip("/"), verifier))
    return endpoints


@dataclass(frozen=True)
class CollectionResult:
    size: int
    cosigned_by: tuple[str, ...]
    failures: tuple[str, ...]


def _post(url: str, body: bytes) -> tuple[int, str, bytes]:
    parsed = urllib.parse.urlsplit(url)
    kind = http.client.HTTPSConnection if parsed.scheme == "https" else http.client.HTTPConnection
    connection = kind(parsed.hostname or "", parsed.port, timeout=10)
    try:
        connection.request("POST", parsed.path + "/add-checkpoint", body=body)
        response = connection.getresponse()
        return response.status, response.getheader("Content-Type", ""), response.read()
    finally:
        connection.close()


def _last_cosigned_size(engine: Engine, witness: str) -> int:
    with engine.connect() as connection:
        found = connection.execute(
            select(func.max(tables.cosignatures.c.size)).where(
                tables.cosignatures.c.witness == witness
            )
        ).scalar_one_or_none()
    return int(found or 0)


def _request_body(store: LedgerStore, old: int, checkpoint: SignedCheckpoint) -> bytes:
    size = checkpoint.checkpoint.size
    proof = store.consistency_proof(old, size) if 0 < old < size else []
    lines = [f"old {old}\n"] + [base64.b64encode(h).decode() + "\n" for h in proof]
    # Stored notes carry the log's signature only; cosignatures live beside them.
    return ("".join(lines) + "\n").encode() + checkpoint.note.encode()


def _ask(store: LedgerStore, witness: WitnessEndpoint, checkpoint: SignedCheckpoint) -> str:
    """One witness's cosignature line for ``checkpoint``; raises ``LedgerError`` otherwise."""
    old = _last_cosigned_size(store.engine, witness.verifier.name)
    for _ in range(2):  # a 409 tells the size the witness holds: retry once from there
        status, content_type, body = _post(witness.url, _request_body(store, old, checkpoint))
        if status == 409 and content_type.startswith("text/x.tlog.size"):
            told = int(body.decode().strip() or 0)
            if told > checkpoint.checkpoint.size:
                raise LedgerError(
                    f"witness {witness.verifier.name} cosigned size {told} of this log, beyond "
                    f"its size now ({checkpoint.checkpoint.size}): the log was rolled back "
                    "(restored from an older backup, or entries deleted); restore the newest "
                    "backup before publishing anything"
                )
            old = told
            continue
        if status != 200:
            raise LedgerError(f"witness {witness.verifier.name} answered {status}: {body[:200]!r}")
        note = checkpoint.note + body.decode()
        opened = open_note(note, [witness.verifier])
        line = next(s for s in opened.verified if s.name == witness.verifier.name).line()
        return line
    raise LedgerError(f"witness {witness.verifier.name} keeps answering 409")


def collect_cosignatures(
    store: LedgerStore, witnesses: Sequence[WitnessEndpoint], *, now: datetime
) -> CollectionResult:
    """Ask every witness to cosign the latest checkpoint; store what verifies."""
    latest = store.latest_checkpoint()
    if latest is None:
        return CollectionResult(0, (), ())
    size = latest.checkpoint.size
    cosigned, failures = [], []
    for witness in witnesses:
        try:
            line = _ask(store, witness, latest)
        except (LedgerError, OSError, http.client.HTTPException) as e:
            _log.warning(
                "witness failed", extra={"witness": witness.verifier.name, "error": str(e)}
            )
            failures.append(f"{witness.verifier.name}: {e}")
            continue
        with store.engine.begin() as connection:
            exists = connection.execute(
                select(tables.cosignatures.c.line).where(
                    tables.cosignatures.c.size == size,
                    tables.cosignatures.c.witness == witness.verifier.name,
                )
            ).first()
            if exists is None:
                connection.execute(
                    insert(tables.cosignatures).values(
                        size=size,
                        witness=witness.verifier.name,
                        line=line,
                        collected_at=tables.stored_time(now),
                    )
                )
        cosigned.append(witness.verifier.name)
    return CollectionResult(size, tuple(cosigned), tuple(failures))


def cosignature_lines(engine: Engine, size: int) -> list[str]:
    with engine.connect() as connection:
        return list(
            connection.execute(
                select(tables.cosignatures.c.line)
                .where(tables.cosignatures.c.size == size)
                .order_by(tables.cosignatures.c.witness)
            ).scalars()
        )


def published_checkpoint(store: LedgerStore, quorum: int) -> str | None:
    """The checkpoint note to publish, with its cosignature lines attached.

    With ``quorum`` 0 the latest checkpoint; otherwise the latest one that at
    least ``quorum`` witnesses cosigned (None until one has).
    """
    if quorum == 0:
        latest = store.latest_checkpoint()
        if latest is None:
            return None
        return latest.note + "".join(cosignature_lines(store.engine, latest.checkpoint.size))
    with store.engine.connect() as connection:
        size = connection.execute(
            select(tables.cosignatures.c.size)
            .group_by(tables.cosignatures.c.size)
            .having(func.count() >= quorum)
            .order_by(tables.cosignatures.c.size.desc())
            .limit(1)
        ).scalar_one_or_none()
    if size is None:
        return None
    found = _cosigned_note(store, int(size))
    return None if found is None else found[0]


def _cosigned_note(store: LedgerStore, size: int) -> tuple[str, list[str]] | None:
    """The checkpoint of ``size`` with its cosignature lines attached, and the witnesses."""
    checkpoint = store.checkpoint_at(size)
    if checkpoint is None:
        return None
    lines = cosignature_lines(store.engine, size)
    names = [line[2:].split(" ", 1)[0] for line in lines]
    return checkpoint.note + "".join(lines), names


def witnessed_since(store: LedgerStore, size: int) -> tuple[str, list[str]] | None:
    """The latest cosigned checkpoint of at least ``size`` entries: (note with
    cosignatures, witness names), or None if no witness cosigned one yet."""
    with store.engine.connect() as connection:
        found = connection.execute(
            select(func.max(tables.cosignatures.c.size)).where(tables.cosignatures.c.size >= size)
        ).scalar_one_or_none()
    return None if found is None else _cosigned_note(store, int(found))
