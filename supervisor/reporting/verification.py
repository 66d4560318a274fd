"""Verifying a report file against the ledger, trusting nothing but the log's key.

The publication entry is found by the file's hash among the ledger's own
``report.publication`` entries (not the ``reports`` projection, which an
administrator could edit); it and the report's checkpoint are proven against
the log's signed head; and the data is recomputed at that checkpoint, where
one altered record behind the report changes its hash or breaks the chain.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from hashlib import sha256
from typing import Any

import orjson
from sqlalchemy import Engine, select

from ledger import schema as ledger_schema
from ledger.checkpoint import open_checkpoint
from ledger.database import read_transaction
from ledger.errors import LedgerError
from ledger.hashing import leaf_hash
from ledger.log_keys import KeyChain
from ledger.proof import verify_consistency, verify_inclusion
from ledger.store import LedgerStore
from reports.methodology import methodology_with_hash
from supervisor.custody.payload_keys import PayloadKeys
from supervisor.reporting.computation import (
    DIGEST_EDITIONS,
    compute_report,
    parse_report_period,
)
from supervisor.reporting.publication import REPORT_ENTRY
from supervisor.reporting.sources import LedgerBasisError

__all__ = ["VERIFICATION_STEPS", "Check", "Verification", "find_publication", "verify_report"]


@dataclass(frozen=True)
class Check:
    name: str
    ok: bool
    detail: str  # English, as the command line prints it
    #: The same as ``detail`` for other languages: what was found, and its values.
    key: str = ""
    params: dict[str, str] = field(default_factory=dict)


@dataclass
class Verification:
    """What ``report verify`` established, check by check; ``ok`` only if all passed."""

    checks: list[Check] = field(default_factory=list)
    report_id: str | None = None

    @property
    def ok(self) -> bool:
        return bool(self.checks) and all(c.ok for c in self.checks)

    def add(self, name: str, ok: bool, detail: str, key: str = "", **params: object) -> bool:
        self.checks.append(Check(name, ok, detail, key, {k: str(v) for k, v in params.items()}))
        return ok

    def document(self) -> dict[str, Any]:
        """As JSON-ready data (what a portal job keeps for its page)."""
        return {
            "report_id": self.report_id,
            "ok": self.ok,
            "checks": [
                {"name": c.name, "ok": c.ok, "detail": c.detail, "key": c.key, "params": c.params}
                for c in self.checks
            ],
        }


#: The checks, in the order they run: the steps of a verification's progress.
VERIFICATION_STEPS = ("published", "included", "checkpoint", "recomputed")


def find_publication(engine: Engine, file_hash: str) -> tuple[int, bytes, dict[str, Any]] | None:
    """The publication entry naming a file with ``file_hash``, found in the ledger itself."""
    e = ledger_schema.entries.c
    with read_transaction(engine) as connection:
        rows = connection.execute(
            select(e.idx, e.leaf).where(e.type == REPORT_ENTRY).order_by(e.idx)
        ).all()
    for index, leaf in rows:
        statement = orjson.loads(leaf)["statement"]
        named = {statement["data_sha256"], *statement["pdf_sha256"].values()}
        if file_hash in named:
            return int(index), bytes(leaf), statement
    return None


def verify_report(
    store: LedgerStore,
    keys: PayloadKeys,
    log_keys: KeyChain,
    content: bytes,
    *,
    now: datetime,
    progress: Callable[[str], None] = lambda step: None,
) -> Verification:
    """Check a report file (either PDF edition, or the JSON data) against the ledger.

    ``progress`` is told each step (``VERIFICATION_STEPS``) as it starts.
    """
    result = Verification()
    progress("published")
    file_hash = sha256(content).hexdigest()
    found = find_publication(store.engine, file_hash)
    if not result.add(
        "published",
        found is not None,
        f"a report.publication entry names this file (SHA-256 {file_hash})"
        if found is not None
        else f"no report.publication entry in the ledger names a file with SHA-256 "
        f"{file_hash}: the file was altered, or was never published here",
        "published" if found is not None else "not_published",
        hash=file_hash,
    ):
        return result
    assert found is not None
    index, leaf, statement = found
    result.report_id = statement["report_id"]
    progress("included")
    latest = store.latest_checkpoint()
    if latest is None or latest.checkpoint.size <= index:
        latest = store.sign_checkpoint(now=now)
    try:
        head, _ = open_checkpoint(latest.note, log_keys)
        proof = store.inclusion_proof(index, head.size)
        verify_inclusion(index, head.size, leaf_hash(leaf), proof.hashes, head.root)
    except LedgerError as e:
        result.add(
            "included",
            False,
            f"entry {index} is not proven in the log: {e}",
            "not_included",
            index=index,
            reason=e,
        )
        return result
    result.add(
        "included",
        True,
        f"entry {index} is included in the log's signed checkpoint at size {head.size}",
        "included",
        index=index,
        size=head.size,
    )
    progress("checkpoint")
    size = int(statement["tree_size"])
    root = bytes.fromhex(statement["root_hash"])
    report_checkpoint = store.checkpoint_at(size)
    try:
        if report_checkpoint is None:
            raise LedgerError(f"no checkpoint at size {size} is stored")
        at, _ = open_checkpoint(report_checkpoint.note, log_keys)
        if at.root != root:
            raise LedgerError("the stored checkpoint's root differs from the report's")
        verify_consistency(
            size, head.size, store.consistency_proof(size, head.size), root, head.root
        )
    except LedgerError as e:
        result.add(
            "checkpoint",
            False,
            f"the report's checkpoint does not hold: {e}",
            "checkpoint_broken",
            reason=e,
        )
        return result
    result.add(
        "checkpoint",
        True,
        f"the report's checkpoint (size {size}, root {root.hex()[:16]}…) is signed by the "
        f"log and consistent with its head (size {head.size})",
        "checkpoint_holds",
        size=size,
        root=root.hex()[:16],
        head=head.size,
    )
    progress("recomputed")
    methodology = None
    if statement["kind"] == "assessment":
        methodology = methodology_with_hash(statement["methodology_sha256"])
    try:
        period = parse_report_period(statement["kind"], statement["period"])
        with read_transaction(store.engine) as connection:
            computed = compute_report(
                connection,
                keys,
                statement["kind"],
                period,
                checkpoint=report_checkpoint,
                methodology=methodology,
                # Digests published before editions were recorded are the first edition.
                digest_edition=statement.get("digest_edition", DIGEST_EDITIONS[0]),
                languages=(),
            )
    except LedgerBasisError as e:
        result.add(
            "recomputed",
            False,
            f"the ledger at size {size} no longer holds: {e}",
            "basis_broken",
            size=size,
            reason=e,
        )
        return result
    same = computed.data.data_sha256 == statement["data_sha256"]
    result.add(
        "recomputed",
        same,
        f"recomputed at size {size}: data SHA-256 {computed.data.data_sha256} "
        + (
            "matches the publication"
            if same
            else f"differs from the published {statement['data_sha256']}"
        ),
        "recomputed_same" if same else "recomputed_differs",
        size=size,
        hash=computed.data.data_sha256,
        published=statement["data_sha256"],
    )
    return result
