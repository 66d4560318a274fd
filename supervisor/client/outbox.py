"""What the platform's client is about to send, written down before it is sent.

A client killed after the regulator committed a batch but before it wrote the
receipt must not send those records again under a new batch id (they would be
refused as received already, for ever). So the signed envelope is written to
the outbox first, durably; a rerun finds it and resends exactly it (same
``batch_id``, same bytes), which the regulator answers with the original
receipt. The outbox is cleared once the receipt is written, or once the
regulator has refused the batch for good.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import orjson

from supervisor.custody.key_files import sync_to_disk

__all__ = ["Outbox"]


class Outbox:
    """One signed envelope at most, in a file beside the receipts."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def pending(self) -> dict[str, Any] | None:
        """The envelope a previous run was sending when it stopped, if any."""
        if not self.path.exists():
            return None
        envelope: dict[str, Any] = orjson.loads(self.path.read_bytes())
        return envelope

    def hold(self, envelope: dict[str, Any]) -> None:
        """Write ``envelope`` durably before it is sent (write, fsync, rename, fsync)."""
        temporary = self.path.with_name(self.path.name + ".tmp")
        temporary.unlink(missing_ok=True)
        # 0600: a batch holds patients' ID numbers.
        descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "wb") as handle:
            handle.write(orjson.dumps(envelope))
            handle.flush()
            os.fsync(handle.fileno())
        temporary.replace(self.path)
        sync_to_disk(self.path.parent)

    def clear(self) -> None:
        """The envelope's fate is settled: receipted, or refused for good."""
        self.path.unlink(missing_ok=True)
        sync_to_disk(self.path.parent)
