"""Log key rotation: the hand-over entry, the chain of keys, and the store that follows it.

Signatures are checked with the ``cryptography`` package over message bytes
written out here from the format, not with the code under test; checkpoints
before, at and after a rotation must carry exactly the signatures the format
requires (a stolen old key alone signs nothing after the rotation).
"""

from __future__ import annotations

import base64
from datetime import datetime

import orjson
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from sqlalchemy import Engine

from ledger.checkpoint import Checkpoint, open_checkpoint, sign_checkpoint
from ledger.errors import KeyRotationError, LedgerError
from ledger.integrity import verify_stored_log
from ledger.log_keys import ROTATION_ENTRY, KeyChain, KeyRotation, rotation_from_leaf
from ledger.note import Signer, signature_key_ids
from ledger.rotation_evidence import extend_key_chain
from ledger.store import EntryDraft, LedgerStore

from .test_store import drafts

ORIGIN = "test.careledger.local/log"


@pytest.fixture
def successor() -> Signer:
    return Signer.generate(ORIGIN)


def _independently_verified(public_key: bytes, message: bytes, signature: bytes) -> bool:
    try:
        Ed25519PublicKey.from_public_bytes(public_key).verify(signature, message)
    except Exception:
        return False
    return True


def test_both_keys_sign_the_hand_over_as_the_format_states(
    signer: Signer, successor: Signer
) -> None:
    statement = KeyRotation.sign(signer, successor).statement()
    assert set(statement) == {"old_vkey", "new_vkey", "old_signature", "new_signature"}
    assert statement["old_vkey"] == signer.verifier.vkey
    message = (
        b"careledger-log-key-rotation/v1\n"
        + signer.verifier.vkey.encode()
        + b"\n"
        + successor.verifier.vkey.encode()
        + b"\n"
    )
    for key, field in ((signer, "old_signature"), (successor, "new_signature")):
        assert _independently_verified(key.public_key, message, base64.b64decode(statement[field]))
    assert KeyRotation.from_statement(statement).new == successor.verifier


@pytest.mark.parametrize(
    ("change", "complaint"),
    [
        (lambda s, o, n: s | {"old_signature": s["new_signature"]}, "retiring key's signature"),
        (lambda s, o, n: s | {"new_vkey": Signer.generate(ORIGIN).verifier.vkey}, "signature"),
        (lambda s, o, n: s | {"extra": "x"}, "fields"),
        (lambda s, o, n: {k: v for k, v in s.items() if k != "new_signature"}, "fields"),
        (lambda s, o, n: s | {"old_signature": "not base64!"}, "not base64"),
        (lambda s, o, n: s | {"new_vkey": "nonsense"}, "not a verifier key"),
    ],
)
def test_a_hand_over_that_does_not_verify_is_refused(
    signer: Signer, successor: Signer, change, complaint: str
) -> None:  # type: ignore[no-untyped-def]
    statement = KeyRotation.sign(signer, successor).statement()
    with pytest.raises(KeyRotationError, match=complaint):
        KeyRotation.from_statement(change(statement, signer, successor))


def test_a_log_key_rotates_only_to_another_key_of_its_own_name(signer: Signer) -> None:
    with pytest.raises(ValueError, match="same name"):
        KeyRotation.sign(signer, Signer.generate("another.log/origin"))
    with pytest.raises(ValueError, match="new key"):
        KeyRotation.sign(signer, signer)


def test_the_chain_accepts_only_rotations_from_the_key_in_force(
    signer: Signer, successor: Signer
) -> None:
    chain = KeyChain.starting_with(signer.verifier).after(KeyRotation.sign(signer, successor), 9)
    assert chain.keys == ((0, signer.verifier), (10, successor.verifier))
    assert chain.required_signers(9) == (signer.verifier,)
    assert chain.required_signers(10) == (successor.verifier, signer.verifier)
    assert chain.required_signers(11) == (successor.verifier,)
    stranger = Signer.generate(ORIGIN)
    with pytest.raises(KeyRotationError, match="key at that point"):
        chain.after(KeyRotation.sign(signer, stranger), 20)  # the old key, no longer in force
    with pytest.raises(KeyRotationError, match="out of order"):
        chain.after(KeyRotation.sign(successor, stranger), 5)


def test_checkpoints_need_the_signatures_of_their_place_in_the_chain(
    signer: Signer, successor: Signer
) -> None:
    chain = KeyChain.starting_with(signer.verifier).after(KeyRotation.sign(signer, successor), 9)
    root = bytes(32)

    def note(size: int, *keys: Signer) -> str:
        return sign_checkpoint(Checkpoint(ORIGIN, size, root), *keys).note

    assert open_checkpoint(note(9, signer), chain)[0].size == 9
    assert open_checkpoint(note(10, successor, signer), chain)[0].size == 10
    assert open_checkpoint(note(11, successor), chain)[0].size == 11
    for refused in (note(10, successor), note(10, signer), note(11, signer), note(9, successor)):
        with pytest.raises(LedgerError):
            open_checkpoint(refused, chain)
    # A verifier that never heard of the rotation still opens what the old key signed.
    assert open_checkpoint(note(10, successor, signer), signer.verifier)[0].size == 10
    with pytest.raises(LedgerError):
        open_checkpoint(note(11, successor), signer.verifier)


# -- the store ---------------------------------------------------------------------------


def test_a_rotation_is_one_entry_whose_checkpoint_both_keys_sign(
    store: LedgerStore, engine: Engine, signer: Signer, successor: Signer, now: datetime
) -> None:
    store.append(drafts(0, 40), now=now)
    rotated = store.rotate_signer(successor, now=now)
    assert (rotated.first_index, rotated.size) == (40, 41)
    assert rotated.checkpoint is not None
    note = rotated.checkpoint.note
    assert signature_key_ids(note) == [successor.key_id, signer.key_id]  # new key first
    after = store.append(drafts(41, 5), now=now)
    assert after.checkpoint is not None
    assert signature_key_ids(after.checkpoint.note) == [successor.key_id]
    entry = store.entry(40)
    assert entry.type == ROTATION_ENTRY and entry.payload is None
    assert rotation_from_leaf(entry.leaf).new == successor.verifier
    assert store.key_chain(signer.verifier).keys == ((0, signer.verifier), (41, successor.verifier))
    # The old checkpoints stay as they were signed, verifiable with the old key alone.
    first = store.checkpoint_at(40)
    assert first is not None and open_checkpoint(first.note, signer.verifier)[0].size == 40
    result = verify_stored_log(engine, signer.verifier)  # from the first key, as an auditor
    assert result.ok and result.checkpoints_checked == 3, result.discrepancy


def test_another_process_follows_the_rotation_when_it_next_signs(
    store: LedgerStore, engine: Engine, signer: Signer, successor: Signer, now: datetime
) -> None:
    store.append(drafts(0, 3), now=now)
    follower = LedgerStore(
        engine, signer, find_signer=lambda key_id: successor if key_id == successor.key_id else None
    )
    stranded = LedgerStore(engine, signer)  # cannot load the new key
    store.rotate_signer(successor, now=now)
    signed = follower.append(drafts(4, 2), now=now).checkpoint
    assert signed is not None and signature_key_ids(signed.note) == [successor.key_id]
    assert follower.signer == successor
    size = store.head().size
    with pytest.raises(LedgerError, match="install the new log key"):
        stranded.append(drafts(6, 2), now=now)
    assert store.head().size == size  # refused whole: nothing signed with the old key
    with pytest.raises(LedgerError, match="rotated already"):
        stranded.rotate_signer(Signer.generate(ORIGIN), now=now)


def test_a_rotation_entry_is_appended_by_the_rotation_alone(
    store: LedgerStore, signer: Signer, successor: Signer, now: datetime
) -> None:
    statement = KeyRotation.sign(signer, successor).statement()
    with pytest.raises(ValueError, match="rotate_signer only"):
        store.append([EntryDraft(ROTATION_ENTRY, statement, None)], now=now)


def test_verification_names_a_rotation_from_a_key_not_in_force(
    engine: Engine, signer: Signer, now: datetime
) -> None:
    """A rogue entry claiming a hand-over between two keys the log never used."""
    store = LedgerStore(engine, signer)
    store.append(drafts(0, 3), now=now)
    rogue, other = Signer.generate(ORIGIN), Signer.generate(ORIGIN)
    statement = KeyRotation.sign(rogue, other).statement()
    store._append([EntryDraft(ROTATION_ENTRY, statement, None)], now, None)
    result = verify_stored_log(engine, signer.verifier)
    assert result.discrepancy is not None
    assert (result.discrepancy.kind, result.discrepancy.index) == ("entry", 3)
    assert "key at that point" in result.discrepancy.message


# -- the evidence a verifier holding the first key checks --------------------------------


def _listing(store: LedgerStore, genesis: Signer) -> dict[str, object]:
    """What ``GET /log/keys`` serves, built here from the store's public parts."""
    chain = store.key_chain(genesis.verifier)
    keys: list[dict[str, object]] = [{"vkey": genesis.verifier.vkey, "from_size": 0}]
    for start, key in chain.keys[1:]:
        transition = store.checkpoint_at(start)
        assert transition is not None
        keys.append(
            {
                "vkey": key.vkey,
                "from_size": start,
                "rotation": {
                    "index": start - 1,
                    "leaf": base64.b64encode(store.entry(start - 1).leaf).decode(),
                    "checkpoint": transition.note,
                    "inclusion_proof": [
                        base64.b64encode(h).decode()
                        for h in store.inclusion_proof(start - 1, start).hashes
                    ],
                },
            }
        )
    return {"origin": ORIGIN, "keys": keys}


def test_a_verifier_with_the_first_key_follows_two_rotations_each_proven(
    store: LedgerStore, signer: Signer, successor: Signer, now: datetime
) -> None:
    third = Signer.generate(ORIGIN)
    store.append(drafts(0, 300), now=now)
    store.rotate_signer(successor, now=now)
    store.append(drafts(301, 10), now=now)
    store.rotate_signer(third, now=now)
    listing = _listing(store, signer)
    chain = extend_key_chain(KeyChain.starting_with(signer.verifier), listing)
    assert chain.current == third.verifier and len(chain.keys) == 3
    # Starting from a chain verified before gives the same, with no new work to trust.
    assert extend_key_chain(chain, listing) == chain
    latest = store.latest_checkpoint()
    assert latest is not None and open_checkpoint(latest.note, chain)[0].size == 312


@pytest.mark.parametrize(
    "forgery",
    ["no evidence", "proof altered", "checkpoint by the new key only", "history rewritten"],
)
def test_a_key_listing_that_is_not_proven_is_refused(
    store: LedgerStore, signer: Signer, successor: Signer, now: datetime, forgery: str
) -> None:
    store.append(drafts(0, 20), now=now)
    store.rotate_signer(successor, now=now)
    listing = orjson.loads(orjson.dumps(_listing(store, signer)))
    rotation = listing["keys"][1]["rotation"]
    if forgery == "no evidence":
        del listing["keys"][1]["rotation"]
    elif forgery == "proof altered":
        first = bytearray(base64.b64decode(rotation["inclusion_proof"][0]))
        first[0] ^= 1
        rotation["inclusion_proof"][0] = base64.b64encode(bytes(first)).decode()
    elif forgery == "checkpoint by the new key only":
        checkpoint = Checkpoint(ORIGIN, 21, store.root_at(21))
        rotation["checkpoint"] = sign_checkpoint(checkpoint, successor).note
    else:
        listing["keys"][0]["vkey"] = Signer.generate(ORIGIN).verifier.vkey
    with pytest.raises(KeyRotationError):
        extend_key_chain(KeyChain.starting_with(signer.verifier), listing)
