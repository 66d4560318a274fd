"""Master-key rotation: every payload opens afterwards, the old master opens nothing new,
an interrupted rotation finishes, and a process that started before it keeps working."""

from __future__ import annotations

import base64
import os
import stat
from datetime import UTC, datetime
from pathlib import Path

import nacl.exceptions
import pytest
from click.testing import CliRunner

from supervisor.cli import cli
from supervisor.custody import master_rewrap as key_rotation
from supervisor.custody.key_files import KeyFileError, read_secret
from supervisor.custody.payload_keys import (
    MASTER_KEY,
    NEXT_MASTER_KEY,
    PayloadKeys,
    create_payload_keys,
    load_master,
)

_JAN = datetime(2026, 1, 15, tzinfo=UTC)
_FEB = datetime(2026, 2, 15, tzinfo=UTC)
_MAR = datetime(2026, 3, 15, tzinfo=UTC)


@pytest.fixture
def keys_dir(tmp_path: Path) -> Path:
    folder = tmp_path / "keys"
    create_payload_keys(folder)
    return folder


def _wrapped(keys_dir: Path, name: str) -> bytes:
    return base64.b64decode(read_secret(keys_dir / "data" / f"{name}.key"))


def test_rotation_rewraps_every_data_key_and_retires_the_old_master(keys_dir: Path) -> None:
    before = PayloadKeys(keys_dir)
    sealed = {
        (kind, moment): before.seal(kind, moment, f"{kind} {moment}".encode())
        for kind in ("consultation", "charge", "access")
        for moment in (_JAN, _FEB)
    }
    old_master = load_master(keys_dir / MASTER_KEY)
    result = CliRunner().invoke(
        cli, ["keys", "rewrap-master"], env={"CARELEDGER_DATA_DIR": str(keys_dir.parent)}
    )
    assert result.exit_code == 0, result.output
    assert "6 data keys re-wrapped" in result.output
    assert not (keys_dir / NEXT_MASTER_KEY).exists()
    assert stat.S_IMODE((keys_dir / MASTER_KEY).stat().st_mode) == 0o600

    fresh = PayloadKeys(keys_dir)  # a process started after the rotation
    for (kind, moment), blob in sealed.items():
        assert fresh.open(blob) == f"{kind} {moment}".encode()
    with pytest.raises(nacl.exceptions.CryptoError):  # the old master opens no key file now
        old_master.decrypt(_wrapped(keys_dir, "consultation-2026-01"))

    # A process that started before the rotation (old master in memory) still opens what
    # it sealed, and a key it makes afterwards is wrapped with the new master.
    assert before.open(sealed[("charge", _JAN)]) == f"charge {_JAN}".encode()
    march = before.seal("consultation", _MAR, b"after the rotation")
    assert fresh.open(march) == b"after the rotation"
    load_master(keys_dir / MASTER_KEY).decrypt(_wrapped(keys_dir, "consultation-2026-03"))


def test_an_interrupted_rotation_opens_everything_and_finishes_on_a_second_run(
    keys_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    keys = PayloadKeys(keys_dir)
    blobs = [keys.seal(kind, _JAN, kind.encode()) for kind in ("a", "b", "c", "d")]
    real_replace = key_rotation.replace_secret
    calls = []

    def crash_after_two(path: Path, text: str) -> None:
        if len(calls) == 2:
            raise OSError("killed")
        calls.append(path)
        real_replace(path, text)

    monkeypatch.setattr(key_rotation, "replace_secret", crash_after_two)
    with pytest.raises(OSError, match="killed"):
        key_rotation.rewrap_master(keys_dir)
    assert (keys_dir / NEXT_MASTER_KEY).exists()
    # Mid-rotation: two keys under the new master, two under the old; all open, and a key
    # made now is wrapped with the new one.
    midway = PayloadKeys(keys_dir)
    assert [midway.open(b) for b in blobs] == [b"a", b"b", b"c", b"d"]
    late = midway.seal("e", _JAN, b"e")
    load_master(keys_dir / NEXT_MASTER_KEY).decrypt(_wrapped(keys_dir, "e-2026-01"))

    monkeypatch.setattr(key_rotation, "replace_secret", real_replace)
    outcome = key_rotation.rewrap_master(keys_dir)
    assert (outcome.rewrapped, outcome.already) == (2, 3)
    after = PayloadKeys(keys_dir)
    assert [after.open(b) for b in [*blobs, late]] == [b"a", b"b", b"c", b"d", b"e"]


def test_keys_readable_by_others_are_refused(keys_dir: Path) -> None:
    os.chmod(keys_dir / MASTER_KEY, 0o644)
    with pytest.raises(KeyFileError, match="chmod 600"):
        PayloadKeys(keys_dir)
