"""Auditors trust nothing: a live server, the monitor, and the attacks it must catch.

Each attack edits storage behind the running server's back (as a database
administrator could) or signs what the log should never sign, and the
monitor (`careledger audit ...`, a separate process) must exit 1 naming it.
"""

from __future__ import annotations

import base64
import hashlib
import urllib.request
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import orjson
import pytest
import sqlalchemy

from ledger.checkpoint import Checkpoint, sign_checkpoint
from ledger.note import Signer
from supervisor.client.submit import SubmitClient, sign_envelope
from supervisor.custody.key_files import read_secret
from supervisor.demo.synthetic import synthetic_records
from tests.tampering import take_down_ledger_guards

from .conftest import INSTITUTION, LiveServer

pytestmark = [pytest.mark.database, pytest.mark.slow]

CST = timezone(timedelta(hours=8))


def _submit(live: LiveServer, count: int, seed: int) -> list[dict[str, Any]]:
    start = datetime.now(UTC).astimezone(CST).replace(microsecond=0) - timedelta(days=1)
    records = list(synthetic_records(INSTITUTION, count, start=start, seed=seed))
    for record in records:
        record["record_id"] += f"-s{seed}"
    client = SubmitClient(live.url)
    receipts = []
    for first in range(0, count, 500):
        envelope = sign_envelope(
            platform_id=live.platform_id,
            key=live.key,
            batch_id=f"b{seed}-{first}",
            created_at=datetime.now(UTC),
            records=records[first : first + 500],
        )
        receipts.append(client.submit(envelope)[1])
    client.close()
    return receipts


def _audit(live: LiveServer, *args: str) -> Any:
    return live.careledger(
        "audit", "log", live.url, "--vkey", live.verifier.vkey,
        "--state", str(live.folder / "monitor.json"), *args, check=False,
    )  # fmt: skip


def _alarm(done: Any, kind: str) -> None:
    assert done.returncode == 1, done.stdout + done.stderr
    assert f"ALARM ({kind})" in done.stderr and "Traceback" not in done.stderr, done.stderr


def _get(url: str) -> bytes:
    with urllib.request.urlopen(url, timeout=10) as response:
        return bytes(response.read())


def _independent_root(url: str, size: int) -> bytes:
    """The root from the served tiles and bundles, with nothing of careledger but hashlib."""

    def tile_path(level: str, index: int, width: int) -> str:
        digits = f"{index:03d}"
        groups = [digits[max(0, i - 3) : i] for i in range(len(digits), 0, -3)][::-1]
        groups = [g.rjust(3, "0") for g in groups]
        name = "/".join([f"x{g}" for g in groups[:-1]] + [groups[-1]])
        return f"{url}/log/tile/{level}/{name}" + ("" if width == 256 else f".p/{width}")

    leaf_hashes: list[bytes] = []
    for index in range((size + 255) // 256):
        width = min(256, size - 256 * index)
        tile = _get(tile_path("0", index, width))
        bundle = _get(tile_path("entries", index, width))
        offset = 0
        for position in range(width):
            length = int.from_bytes(bundle[offset : offset + 2], "big")
            leaf = bundle[offset + 2 : offset + 2 + length]
            offset += 2 + length
            hashed = hashlib.sha256(b"\x00" + leaf).digest()
            assert hashed == tile[32 * position : 32 * position + 32]
            leaf_hashes.append(hashed)

    def mth(hashes: list[bytes]) -> bytes:  # RFC 9162 section 2.1.1, as written
        if len(hashes) == 1:
            return hashes[0]
        k = 1
        while k * 2 < len(hashes):
            k *= 2
        return hashlib.sha256(b"\x01" + mth(hashes[:k]) + mth(hashes[k:])).digest()

    return mth(leaf_hashes)


def test_the_monitor_follows_a_growing_log_and_recomputes_it(live: LiveServer) -> None:
    receipts = _submit(live, 700, seed=1)
    first = _audit(live)
    assert first.returncode == 0, first.stderr
    assert "size 701 (first run)" in first.stdout
    assert "recomputed 701 new entries (from entry 0)" in first.stdout
    _submit(live, 600, seed=2)
    resumed = _audit(live)  # only what the log grew by, from the state's compact range
    assert resumed.returncode == 0, resumed.stderr
    assert "size 1301 (was 701)" in resumed.stdout
    assert "recomputed 600 new entries (from entry 701)" in resumed.stdout
    second = _audit(live, "--full")
    assert second.returncode == 0, second.stderr
    assert "size 1301 (was 1301)" in second.stdout and "recomputed 1301 entries" in second.stdout
    # The served tiles and bundles, read by code that shares nothing with the server's.
    note = _get(f"{live.url}/log/checkpoint").decode()
    size, root = int(note.split("\n")[1]), note.split("\n")[2]
    assert size == 1301
    assert base64.b64encode(_independent_root(live.url, size)).decode() == root
    # A receipt from the first batch: valid offline, and still in the grown log.
    receipt_path = live.folder / "receipt.json"
    receipt_path.write_bytes(orjson.dumps(receipts[0]))
    checked = live.careledger(
        "audit", "receipt", str(receipt_path), "--vkey", live.verifier.vkey, "--log", live.url
    )
    assert "still contains them" in checked.stdout
    # An export verifies with no server at all.
    export = live.folder / "export"
    live.careledger("audit", "export", live.url, str(export), "--vkey", live.verifier.vkey)
    verified = live.careledger("audit", "verify-export", str(export), "--vkey", live.verifier.vkey)
    assert "export verifies: 1301 entries" in verified.stdout


def _engine(live: LiveServer) -> sqlalchemy.Engine:
    return sqlalchemy.create_engine(live.env["CARELEDGER_DATABASE_URL"])


def test_a_database_row_edited_behind_the_servers_back(live: LiveServer) -> None:
    _submit(live, 600, seed=3)
    assert _audit(live).returncode == 0
    engine = _engine(live)
    with engine.begin() as connection:
        leaf = connection.execute(
            sqlalchemy.text("SELECT leaf FROM ledger_entries WHERE idx = 300")
        ).scalar_one()
        edited = bytes(leaf).replace(b'"record_id":"', b'"record_id":"X', 1)
        take_down_ledger_guards(connection)
        connection.execute(
            sqlalchemy.text("UPDATE ledger_entries SET leaf = :leaf WHERE idx = 300"),
            {"leaf": edited},
        )
    engine.dispose()
    live.tampered = True
    _alarm(_audit(live, "--full"), "tile")


def test_a_tile_served_with_one_hash_changed(live: LiveServer) -> None:
    _submit(live, 600, seed=4)
    assert _audit(live).returncode == 0
    engine = _engine(live)
    with engine.begin() as connection:
        blob = connection.execute(
            sqlalchemy.text("SELECT hashes FROM ledger_tiles WHERE level = 0 AND idx = 1")
        ).scalar_one()
        changed = bytearray(blob)
        changed[32 * 7] ^= 0x01
        take_down_ledger_guards(connection)
        connection.execute(
            sqlalchemy.text("UPDATE ledger_tiles SET hashes = :h WHERE level = 0 AND idx = 1"),
            {"h": bytes(changed)},
        )
    engine.dispose()
    live.tampered = True
    _alarm(_audit(live, "--full"), "tile")


def test_a_second_checkpoint_of_the_same_size_is_a_fork(live: LiveServer) -> None:
    """A compromised signing key signs another root for a size the monitor has seen."""
    _submit(live, 300, seed=5)
    assert _audit(live).returncode == 0
    signer = Signer.from_skey(read_secret(live.folder / "var" / "keys" / "log-signing.key"))
    engine = _engine(live)
    with engine.begin() as connection:
        size = connection.execute(sqlalchemy.text("SELECT max(size) FROM ledger_checkpoints"))
        size_value = int(size.scalar_one())
        forged = sign_checkpoint(Checkpoint(signer.name, size_value, bytes(32)), signer)
        take_down_ledger_guards(connection)
        connection.execute(
            sqlalchemy.text("UPDATE ledger_checkpoints SET note = :note WHERE size = :size"),
            {"note": forged.note, "size": size_value},
        )
    engine.dispose()
    live.tampered = True
    _alarm(_audit(live), "fork")
