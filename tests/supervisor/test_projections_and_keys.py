"""Projections are a pure function of the ledger; payload keys seal, shred and stay private."""

from __future__ import annotations

import base64
import multiprocessing
import os
import signal
import stat
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from sqlalchemy import select

from ledger import schema as ledger_schema
from ledger.leaf import decode_leaf
from supervisor.cli import cli
from supervisor.custody.key_files import KeyFileError
from supervisor.custody.payload_keys import PayloadKeys, SealedPayloadError, create_payload_keys
from supervisor.database import tables
from supervisor.intake.receipts import verify_receipt

from .conftest import FROZEN_NOW, Portal


def _snapshot(portal: Portal) -> dict[str, list[Any]]:
    with portal.services.engine.connect() as connection:
        return {
            name: sorted(tuple(row) for row in connection.execute(select(table)))
            for name, table in [
                ("records", tables.records),
                ("batches", tables.batches),
                ("platforms", tables.platforms),
                ("platform_keys", tables.platform_keys),
            ]
        }


@pytest.mark.database
def test_rebuilding_projections_by_replay_gives_the_live_rows(portal: Portal) -> None:
    for seed in (1, 2, 3):
        records = portal.records(40, seed=seed)
        for record in records:
            record["record_id"] += f"-{seed}"
        assert portal.post(portal.envelope(records)).status_code == 201
    live = _snapshot(portal)
    assert len(live["records"]) == 120 and len(live["batches"]) == 3
    env = {
        "CARELEDGER_DATA_DIR": str(portal.settings.data_dir),
        "CARELEDGER_DATABASE_URL": portal.settings.database_url,
    }
    result = CliRunner().invoke(cli, ["projections", "rebuild"], env=env)
    assert result.exit_code == 0, result.output
    assert "120 records in 3 batches, 1 key events" in result.output
    rebuilt = _snapshot(portal)
    assert rebuilt == live


@pytest.mark.database
def test_destroying_a_data_key_shreds_its_payloads_and_every_proof_still_verifies(
    portal: Portal,
) -> None:
    envelope = portal.envelope(portal.records(40))  # the roster, then care records
    receipt = portal.post(envelope).get_json()
    key_files = list((portal.settings.keys_dir / "data").glob("*.key"))
    assert {f.name for f in key_files} >= {"consultation-2026-11.key", "charge-2026-11.key"}
    (portal.settings.keys_dir / "data" / "consultation-2026-11.key").unlink()
    fresh_keys = PayloadKeys(portal.settings.keys_dir)  # no cached key in memory
    with portal.services.engine.connect() as connection:
        rows = connection.execute(
            select(ledger_schema.entries.c.type, ledger_schema.entries.c.payload).where(
                ledger_schema.entries.c.type.like("record.%")
            )
        ).all()
    for row in rows:
        if row.type == "record.consultation":
            with pytest.raises(SealedPayloadError, match="not available"):
                fresh_keys.open(bytes(row.payload))
        else:
            fresh_keys.open(bytes(row.payload))
    verify_receipt(receipt, portal.verifier, envelope)


def test_sealed_payloads_refuse_tampering_and_foreign_formats(tmp_path: Path) -> None:
    create_payload_keys(tmp_path)
    keys = PayloadKeys(tmp_path)
    sealed = keys.seal("consultation", FROZEN_NOW, b"salt+record")
    assert keys.open(sealed) == b"salt+record"
    assert b"salt+record" not in sealed
    tampered = sealed[:-1] + bytes([sealed[-1] ^ 1])
    with pytest.raises(SealedPayloadError, match="altered"):
        keys.open(tampered)
    with pytest.raises(SealedPayloadError, match="not a careledger"):
        keys.open(b"plain text")
    other = tmp_path / "other"
    create_payload_keys(other)
    (other / "data").mkdir(mode=0o700)
    data_key = tmp_path / "data" / "consultation-2026-11.key"
    (other / "data" / data_key.name).write_text(data_key.read_text())
    os.chmod(other / "data" / data_key.name, 0o600)
    with pytest.raises(SealedPayloadError, match="does not unwrap"):
        PayloadKeys(other).open(sealed)


def test_key_files_are_private_never_overwritten_and_refused_when_readable(
    tmp_path: Path,
) -> None:
    assert len(create_payload_keys(tmp_path)) == 2
    assert create_payload_keys(tmp_path) == []  # existing keys are kept, never replaced
    keys = PayloadKeys(tmp_path)
    keys.seal("charge", FROZEN_NOW, b"x")
    for path in [*tmp_path.glob("*.key"), *tmp_path.glob("data/*.key")]:
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        assert len(base64.b64decode(path.read_text())) in (32, 72)
    os.chmod(tmp_path / "master.key", 0o640)
    with pytest.raises(KeyFileError, match="chmod 600"):
        PayloadKeys(tmp_path)


def test_pseudonyms_are_keyed_normalised_and_separated_by_kind(tmp_path: Path) -> None:
    create_payload_keys(tmp_path / "a")
    create_payload_keys(tmp_path / "b")
    a, b = PayloadKeys(tmp_path / "a"), PayloadKeys(tmp_path / "b")
    number = "33010019900101123x"
    assert a.pseudonym("patient", number) == a.pseudonym("patient", " 33010019900101123X ")
    assert a.pseudonym("patient", number) != a.pseudonym("practitioner", number)
    assert a.pseudonym("patient", number) != b.pseudonym("patient", number)
    assert number.upper() not in a.pseudonym("patient", number).upper()


def _default_signals() -> None:
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, signal.SIG_DFL)


def _seal_in_another_process(keys_dir: str) -> bytes:
    return PayloadKeys(Path(keys_dir)).seal("consultation", FROZEN_NOW, b"from a worker")


def test_a_key_file_appears_only_whole(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Found by the HTTP benchmark: a worker read a data key another was still writing.

    While the bytes are being synced, the key's own name must not exist yet.
    """
    import supervisor.custody.key_files

    path = tmp_path / "keys" / "k.key"
    seen: list[bool] = []
    real_fsync = os.fsync

    def watching_fsync(descriptor: int) -> None:
        seen.append(path.exists())
        real_fsync(descriptor)

    monkeypatch.setattr(supervisor.custody.key_files.os, "fsync", watching_fsync)
    supervisor.custody.key_files.write_secret(path, "secret\n")
    assert seen and seen[0] is False
    assert path.read_text() == "secret\n"
    assert [p.name for p in path.parent.iterdir()] == ["k.key"]  # no temporary left


def test_workers_racing_to_create_the_same_data_key_all_use_one_key(tmp_path: Path) -> None:
    create_payload_keys(tmp_path)
    context = multiprocessing.get_context("fork")
    # Workers start with default signal handling whatever this process set before, and the
    # pool is closed and joined rather than terminated (terminating a worker that holds
    # the task queue's lock leaves the others waiting for it).
    pool = context.Pool(8, initializer=_default_signals)
    try:
        sealed = pool.map(_seal_in_another_process, [str(tmp_path)] * 32)
    finally:
        pool.close()
        pool.join()
    keys = PayloadKeys(tmp_path)
    assert {keys.open(s) for s in sealed} == {b"from a worker"}
    assert [p.name for p in (tmp_path / "data").iterdir()] == ["consultation-2026-11.key"]


def test_stored_times_are_utc_whatever_zone_the_clock_gives(portal: Portal) -> None:
    """SQLite keeps no offset: a +08:00 time stored as is would read back eight hours off,
    and every deadline computed from it (late transmission, grace periods) with it."""
    portal.clock.now = portal.clock.now.astimezone(timezone(timedelta(hours=8)))
    assert portal.post(portal.envelope(portal.records(3))).status_code == 201
    services = portal.services
    with services.engine.connect() as connection:
        rows = connection.execute(select(tables.records)).all()
        batch = connection.execute(select(tables.batches)).one()
    for row in rows:
        stored = row.received_at if row.received_at.tzinfo else row.received_at.replace(tzinfo=UTC)
        leaf = decode_leaf(services.store.entry(row.entry_index).leaf)
        assert stored == datetime.fromisoformat(leaf.received_at) == portal.clock.now
    stored = (
        batch.received_at if batch.received_at.tzinfo else batch.received_at.replace(tzinfo=UTC)
    )
    assert stored == portal.clock.now
