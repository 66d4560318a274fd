"""The log's public data read straight from a store: what the HTTP API serves, without the
web server. For running the monitor beside the database (a benchmark, a test, an operator's
check on a restored copy) with the same code an outside auditor runs over HTTP."""

from __future__ import annotations

from ledger.store import LedgerStore

__all__ = ["StoreLogSource"]


class StoreLogSource:
    """A ``monitor.LogSource`` over a ``LedgerStore`` (a log that lists no key rotation)."""

    def __init__(self, store: LedgerStore) -> None:
        self.store = store

    def checkpoint(self) -> bytes:
        latest = self.store.latest_checkpoint()
        if latest is None:
            raise LookupError("the log has no signed checkpoint yet")
        return latest.note.encode()

    def consistency(self, old: int, size: int) -> list[bytes]:
        return self.store.consistency_proof(old, size)

    def tile(self, level: int, index: int, width: int) -> bytes:
        return self.store.tile(level, index, width)

    def bundle(self, index: int, width: int) -> bytes:
        return self.store.entry_bundle(index, width)

    def keys(self) -> bytes | None:
        return None
