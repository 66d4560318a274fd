"""The ``report.publication`` entry as the projections see it, live and on replay."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from supervisor.custody.payload_keys import PayloadKeys, SealedPayloadError
from supervisor.database import tables
from supervisor.ground.sealed_entries import open_sealed

__all__ = ["REPORT_ENTRY", "report_row", "requested_by_of"]

REPORT_ENTRY = "report.publication"


def report_row(
    index: int, statement: dict[str, Any], requested_by: str, published_at: datetime
) -> dict[str, Any]:
    """The ``reports`` row of a publication entry (live and on replay)."""
    return {
        "report_id": statement["report_id"],
        "entry_index": index,
        "kind": statement["kind"],
        "period": statement["period"],
        "tree_size": statement["tree_size"],
        "root_hash": statement["root_hash"],
        "methodology_sha256": statement["methodology_sha256"],
        "data_sha256": statement["data_sha256"],
        "csv_sha256": statement["csv_sha256"],
        "pdf_zh_sha256": statement["pdf_sha256"]["zh"],
        "pdf_en_sha256": statement["pdf_sha256"]["en"],
        "requested_by": requested_by,
        "published_at": tables.stored_time(published_at),
    }


def requested_by_of(keys: PayloadKeys, leaf: bytes, payload: bytes | None) -> str:
    """Who asked for a published report (``unknown`` once the details are shredded)."""
    try:
        return str(open_sealed(keys, leaf, payload)["requested_by"])
    except SealedPayloadError:
        return "unknown"
