"""The reference data in force at a moment of the ledger, and the versions a finding names:
what a record's page and a finding's evidence read, not the data in force today."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from supervisor.inspection.reference_data import ReferenceData

from .conftest import Portal


def _price(ceiling: str, valid_from: str = "2026-01-01") -> list[dict[str, Any]]:
    return [
        {
            "item_code": "P001",
            "item_name": "互联网复诊费",
            "unit": "次",
            "ceiling_price": ceiling,
            "valid_from": valid_from,
            "valid_to": None,
            "insurance_covered": True,
        }
    ]


def test_the_snapshot_at_an_entry_is_the_one_imported_before_it(portal: Portal) -> None:
    reference: ReferenceData = portal.services.reference
    first = reference.import_rows("prices", _price("30.00"), source="t", now=portal.clock.now)
    assert first.entry_index is not None
    portal.clock.now += timedelta(minutes=1)
    second = reference.import_rows("prices", _price("35.00"), source="t", now=portal.clock.now)
    assert second.entry_index is not None

    before_any = reference.snapshot_at(first.entry_index)
    assert before_any.prices.by_code == {}  # nothing was in force yet
    between = reference.snapshot_at(second.entry_index)
    assert str(between.prices.by_code["P001"][0].ceiling_price) == "30.00"
    after = reference.snapshot_at(second.entry_index + 1)
    assert str(after.prices.by_code["P001"][0].ceiling_price) == "35.00"
    assert after.prices.version == second.version

    # A finding names versions by hash: the old one is read back as it was imported.
    named = reference.snapshot_of({"prices": first.version, "registry": "0" * 64})
    assert named.prices.version == first.version
    assert str(named.prices.by_code["P001"][0].ceiling_price) == "30.00"
    assert named.registry.by_license == {}
    assert reference.snapshot_of({"prices": "f" * 64}).prices.by_code == {}
