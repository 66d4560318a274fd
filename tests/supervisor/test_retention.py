"""Retention: past its legal term a period's payloads become unreadable; every proof survives."""

from __future__ import annotations

from datetime import date, datetime, timedelta

import pytest
from click.testing import CliRunner
from sqlalchemy import func, select

from ledger.integrity import verify_stored_log
from ledger.proof import verify_consistency, verify_inclusion
from supervisor.cli import cli
from supervisor.config import ConfigError, Settings
from supervisor.custody import payload_keys
from supervisor.custody.payload_keys import PayloadKeys, SealedPayloadError, period_of
from supervisor.custody.retention import (
    RetentionError,
    expired_keys,
    key_expiry,
    parse_policy,
)
from supervisor.database import tables
from supervisor.runtime.projections import rebuild_projections

from .conftest import Portal

pytestmark = pytest.mark.database


def test_a_key_goes_the_month_after_its_last_record_is_old_enough() -> None:
    assert key_expiry("consultation-2010-01", 15) == date(2025, 2, 1)
    assert key_expiry("charge-2010-12", 15) == date(2026, 1, 1)
    names = ["consultation-2011-10", "consultation-2011-11", "process-2023-11", "access-1990-01"]
    policy = {"consultation": 15, "process": 3}
    assert expired_keys(names, policy, date(2026, 11, 30)) == ["consultation-2011-10"]
    assert expired_keys(names, policy, date(2026, 12, 1)) == [
        "consultation-2011-10",
        "consultation-2011-11",
        "process-2023-11",
    ]  # a kind without a policy ("access") is kept for ever


@pytest.mark.parametrize("entry", ["consultation", "consultation=0", "=3", "chat=three"])
def test_a_bad_policy_is_refused(entry: str) -> None:
    with pytest.raises(RetentionError):
        parse_policy([entry])
    with pytest.raises(ConfigError, match="record type"):
        Settings(retention_years=(entry,))


def _received(portal: Portal, records: list[dict[str, object]], at: datetime) -> list[int]:
    portal.clock.now = at
    response = portal.post(portal.envelope(records))
    assert response.status_code == 201, response.get_data(as_text=True)
    return [r["index"] for r in response.get_json()["records"]]


def test_apply_shreds_only_what_is_due_and_every_proof_still_verifies(
    portal: Portal, monkeypatch: pytest.MonkeyPatch
) -> None:
    start = portal.clock.now
    old_month = start - timedelta(days=16 * 366)  # received over 16 years ago
    records = portal.records(120)
    old = _received(portal, records[:60], old_month)
    new = _received(portal, records[60:], start)
    services = portal.services
    old_checkpoint = services.store.latest_checkpoint()
    assert old_checkpoint is not None
    old_size = services.store.head().size
    entries_before = {i: services.store.entry(i).leaf_hash for i in range(old_size)}
    assert services.keys.open(services.store.entry(old[30]).payload or b"")

    env = {
        "CARELEDGER_DATA_DIR": str(portal.settings.data_dir),
        "CARELEDGER_DATABASE_URL": portal.settings.effective_database_url,
    }
    planned = CliRunner().invoke(cli, ["retention", "plan"], env=env)
    assert planned.exit_code == 0, planned.output
    due = [f"{kind}-{period_of(old_month)}" for kind in ("charge", "consultation", "prescription")]
    present = [n for n in due if n in services.keys.data_key_names()]
    assert present and all(name in planned.output for name in present)
    assert "registry" not in planned.output and "practitioner-" not in planned.output

    applied = CliRunner().invoke(cli, ["retention", "apply"], env=env)
    assert applied.exit_code == 0, applied.output
    assert "the log verifies" in applied.output
    for name in present:
        assert f"destroyed {name}" in applied.output
        assert not (portal.settings.keys_dir / "data" / f"{name}.key").exists()

    # The running portal, which had the key cached, stops opening with it once its cache
    # re-checks the file (every 2 s; at once here); a new process never loads it.
    shredded = [i for i in old if services.store.entry(i).type == "record.consultation"]
    monkeypatch.setattr(payload_keys, "_RECHECK_SECONDS", 0.0)
    keys = PayloadKeys(portal.settings.keys_dir)
    for opener in (services.keys, keys):
        with pytest.raises(SealedPayloadError, match="destroyed: retention, ledger entry"):
            opener.open(services.store.entry(shredded[0]).payload or b"")
    assert keys.open(services.store.entry(new[30]).payload or b"")  # the recent ones open

    # Nothing in the tree changed: old leaves, old checkpoint, proofs across the shredding.
    store = services.store
    assert {i: store.entry(i).leaf_hash for i in range(old_size)} == entries_before
    size = store.head().size
    proof = store.inclusion_proof(shredded[0], size)
    verify_inclusion(shredded[0], size, entries_before[shredded[0]], proof.hashes, proof.root)
    verify_consistency(
        old_checkpoint.checkpoint.size,
        size,
        store.consistency_proof(old_checkpoint.checkpoint.size, size),
        old_checkpoint.checkpoint.root,
        store.root_at(size),
    )
    retention_entry = store.entry(size - 1)
    assert retention_entry.type == "retention.shred"
    assert b"consultation-" in retention_entry.leaf and retention_entry.payload is None
    assert verify_stored_log(services.engine, portal.verifier).ok

    # Search forgets the shredded records, their prescriptions' drugs among them, exactly
    # as a rebuild from the ledger would.
    def searchable() -> tuple[object, ...]:
        with services.engine.connect() as connection:
            counted = tuple(
                connection.execute(select(func.count()).select_from(table)).scalar_one()
                for table in (tables.records, tables.record_drugs, tables.prescription_fills)
            )
            summary = sorted(map(tuple, connection.execute(select(tables.record_counts))))
        return (*counted, summary)

    after_apply = searchable()
    assert after_apply[0] < 120
    # The dashboard's summary rows count what search still holds, day by day.
    assert sum(row[3] for row in after_apply[3]) == after_apply[0]  # type: ignore[attr-defined]
    report = rebuild_projections(services.engine, keys, lambda last: size)
    assert report.unreadable > 0 and searchable() == after_apply

    again = CliRunner().invoke(cli, ["retention", "apply"], env=env)
    assert again.exit_code == 0 and "nothing is past retention" in again.output
