"""The witness follows C2SP tlog-witness: it cosigns growth and refuses anything else."""

from __future__ import annotations

import base64
from datetime import UTC, datetime
from pathlib import Path

import pytest
from flask.testing import FlaskClient

from ledger.checkpoint import Checkpoint, sign_checkpoint
from ledger.note import COSIGNATURE_V1, Signer, open_note
from ledger.store import EntryDraft, LedgerStore
from supervisor.transparency.witness import Witness, create_witness_app

pytestmark = pytest.mark.database
NOW = datetime(2026, 11, 23, 8, tzinfo=UTC)


def _grow(store: LedgerStore, count: int) -> str:
    result = store.append([EntryDraft("demo.entry", {"n": str(i)}) for i in range(count)], now=NOW)
    assert result.checkpoint is not None
    return result.checkpoint.note


def _body(store: LedgerStore, old: int, note: str) -> bytes:
    size = int(note.split("\n")[1])
    proof = store.consistency_proof(old, size) if 0 < old < size else []
    lines = "".join(base64.b64encode(h).decode() + "\n" for h in proof)
    return f"old {old}\n{lines}\n{note}".encode()


@pytest.fixture
def witness_client(store: LedgerStore, tmp_path: Path) -> tuple[FlaskClient, Signer]:
    assert store.signer is not None
    signer = Signer.generate("witness.test/w1", COSIGNATURE_V1)
    logs = {store.signer.name: store.signer.verifier}
    app = create_witness_app(Witness(signer, logs, tmp_path / "w.db", lambda: NOW))
    return app.test_client(), signer


def test_cosigns_a_growing_log_and_answers_409_with_its_size(
    store: LedgerStore, witness_client: tuple[FlaskClient, Signer]
) -> None:
    client, signer = witness_client
    first = _grow(store, 10)
    answer = client.post("/add-checkpoint", data=_body(store, 0, first))
    assert answer.status_code == 200
    cosigned = open_note(first + answer.get_data(as_text=True), [signer.verifier])
    assert [s.name for s in cosigned.verified] == [signer.name]
    second = _grow(store, 7)
    stale = client.post("/add-checkpoint", data=_body(store, 0, second))
    assert stale.status_code == 409 and stale.content_type == "text/x.tlog.size"
    assert stale.get_data(as_text=True) == "10\n"
    assert client.post("/add-checkpoint", data=_body(store, 10, second)).status_code == 200
    assert client.get("/vkey").get_data(as_text=True).strip() == signer.verifier.vkey


def test_refuses_a_fork_a_bad_proof_and_what_it_cannot_check(
    store: LedgerStore, witness_client: tuple[FlaskClient, Signer]
) -> None:
    client, _ = witness_client
    assert store.signer is not None
    note = _grow(store, 12)
    assert client.post("/add-checkpoint", data=_body(store, 0, note)).status_code == 200
    # The same size with another root, signed with the log's own key (a compromised signer).
    fork = sign_checkpoint(Checkpoint(store.signer.name, 12, bytes(32)), store.signer).note
    refused = client.post("/add-checkpoint", data=f"old 12\n\n{fork}".encode())
    assert refused.status_code == 409 and refused.get_data(as_text=True) == "12\n"
    # A larger tree that does not extend the cosigned one.
    bigger = sign_checkpoint(Checkpoint(store.signer.name, 20, bytes(32)), store.signer).note
    proof = "".join(base64.b64encode(bytes([i]) * 32).decode() + "\n" for i in range(3))
    assert (
        client.post("/add-checkpoint", data=f"old 12\n{proof}\n{bigger}".encode()).status_code
        == 422
    )
    stranger = Signer.generate(store.signer.name)
    forged = sign_checkpoint(Checkpoint(store.signer.name, 30, bytes(32)), stranger).note
    assert client.post("/add-checkpoint", data=f"old 12\n\n{forged}".encode()).status_code == 403
    other_log = Signer.generate("other.log/x")
    unknown = sign_checkpoint(Checkpoint(other_log.name, 1, bytes(32)), other_log).note
    assert client.post("/add-checkpoint", data=f"old 0\n\n{unknown}".encode()).status_code == 404
    assert client.post("/add-checkpoint", data=f"old 99\n\n{note}".encode()).status_code == 400
    assert client.post("/add-checkpoint", data=b"old 012\n\n").status_code == 400
    assert client.post("/add-checkpoint", data=b"\xff\xfe").status_code == 400
    # None of that moved the witness: the genuine next checkpoint still cosigns from 12.
    good = _grow(store, 3)
    assert client.post("/add-checkpoint", data=_body(store, 12, good)).status_code == 200


def test_a_witness_given_both_keys_cosigns_across_a_log_key_rotation(
    store: LedgerStore, tmp_path: Path
) -> None:
    """Listed with the old and the new key during the rotation, the witness cosigns the
    transition and what follows; one that knows only the old key refuses what follows."""
    assert store.signer is not None
    old = store.signer.verifier
    new = Signer.generate(old.name)
    signer = Signer.generate("witness.test/w1", COSIGNATURE_V1)
    both = create_witness_app(
        Witness(signer, {old.name: [old, new.verifier]}, tmp_path / "both.db", lambda: NOW)
    ).test_client()
    old_only = create_witness_app(
        Witness(signer, {old.name: old}, tmp_path / "old.db", lambda: NOW)
    ).test_client()
    first = _grow(store, 5)
    for client in (both, old_only):
        assert client.post("/add-checkpoint", data=_body(store, 0, first)).status_code == 200
    transition = store.rotate_signer(new, now=NOW).checkpoint
    assert transition is not None
    for client in (both, old_only):  # signed by both keys
        answer = client.post("/add-checkpoint", data=_body(store, 5, transition.note))
        assert answer.status_code == 200
    after = _grow(store, 4)
    assert both.post("/add-checkpoint", data=_body(store, 6, after)).status_code == 200
    refused = old_only.post("/add-checkpoint", data=_body(store, 6, after))
    assert refused.status_code == 403
