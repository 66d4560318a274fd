"""An independent witness (C2SP tlog-witness): cosigns a log's checkpoints, never a fork.

Run by another organisation with its own key and its own state file. For
each log it knows (by origin and verifier key) it remembers the latest
checkpoint it cosigned, and cosigns a new one only when a consistency proof
from that checkpoint verifies. The check and the update happen in one
SQLite ``BEGIN IMMEDIATE`` transaction, so concurrent requests cannot roll
its view back.
"""

from __future__ import annotations

import base64
import binascii
import re
import sqlite3
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from flask import Flask, Response, request

from ledger.checkpoint import Checkpoint, open_checkpoint
from ledger.errors import InvalidSignatureError, LedgerError, ProofError, UnverifiedNoteError
from ledger.note import NoteSignature, OpenedNote, Signer, Verifier
from ledger.proof import verify_consistency

__all__ = ["Witness", "WitnessAnswer", "create_witness_app", "parse_add_checkpoint"]

_OLD_LINE = re.compile(r"old (0|[1-9][0-9]{0,19})")
_MAX_PROOF_LINES = 63
_MAX_BODY = 64 * 1024


@dataclass(frozen=True)
class WitnessAnswer:
    status: int
    body: str
    content_type: str = "text/plain; charset=utf-8"


def parse_add_checkpoint(body: bytes) -> tuple[int, list[bytes], bytes]:
    """(old size, consistency proof, checkpoint note) of an add-checkpoint body.

    Raises ``ValueError`` saying what is malformed.
    """
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as e:
        raise ValueError("the body is not UTF-8") from e
    head, separator, note = text.partition("\n\n")
    if not separator:
        raise ValueError("no empty line before the checkpoint")
    lines = head.split("\n")
    match = _OLD_LINE.fullmatch(lines[0])
    if match is None:
        raise ValueError("the first line must be `old <size>`")
    if len(lines) - 1 > _MAX_PROOF_LINES:
        raise ValueError("more than 63 consistency proof lines")
    proof = []
    for line in lines[1:]:
        try:
            hashed = base64.b64decode(line, validate=True)
        except (ValueError, binascii.Error) as e:
            raise ValueError("a proof line is not base64") from e
        if len(hashed) != 32:
            raise ValueError("a proof line is not a 32-byte hash")
        proof.append(hashed)
    return int(match[1]), proof, note.encode()


class _State:
    """The witness's memory: the latest cosigned checkpoint per origin (a SQLite file)."""

    def __init__(self, path: Path) -> None:
        self._path = path
        with self._connect() as connection:
            connection.execute(
                "CREATE TABLE IF NOT EXISTS cosigned (origin TEXT PRIMARY KEY, "
                "size INTEGER NOT NULL, root BLOB NOT NULL, note TEXT NOT NULL)"
            )

    def _connect(self) -> sqlite3.Connection:
        connection = sqlite3.connect(self._path, timeout=30, isolation_level=None)
        connection.execute("PRAGMA journal_mode=WAL")
        connection.execute("PRAGMA synchronous=FULL")
        return connection

    def transaction(self) -> sqlite3.Connection:
        connection = self._connect()
        connection.execute("BEGIN IMMEDIATE")
        return connection


class Witness:
    """Answers add-checkpoint requests for the logs in ``logs`` (origin -> its keys).

    A log has one key, or, while it rotates its key, the old and the new one: a
    checkpoint signed by either is accepted (the transition checkpoint carries
    both). Once the rotation is done, drop the old key, so that a stolen old key
    signs nothing this witness cosigns.
    """

    def __init__(
        self,
        signer: Signer,
        logs: Mapping[str, Verifier | Sequence[Verifier]],
        state_path: Path,
        clock: Callable[[], datetime],
    ) -> None:
        self.signer = signer
        self.logs = {
            origin: (keys,) if isinstance(keys, Verifier) else tuple(keys)
            for origin, keys in logs.items()
        }
        self._state = _State(state_path)
        self._clock = clock

    def add_checkpoint(self, body: bytes) -> WitnessAnswer:
        try:
            old, proof, note = parse_add_checkpoint(body)
        except ValueError as e:
            return WitnessAnswer(400, f"{e}\n")
        origin = note.split(b"\n", 1)[0].decode("utf-8", "replace")
        keys = self.logs.get(origin)
        if keys is None:
            return WitnessAnswer(404, f"unknown log {origin!r}\n")
        opened_by_a_key = self._open(note, keys)
        if isinstance(opened_by_a_key, WitnessAnswer):
            return opened_by_a_key
        checkpoint, opened = opened_by_a_key
        if old > checkpoint.size:
            return WitnessAnswer(400, "old size is beyond the checkpoint\n")
        connection = self._state.transaction()
        try:
            answer = self._check_and_cosign(connection, old, proof, checkpoint, opened.text)
            connection.execute("COMMIT" if answer.status == 200 else "ROLLBACK")
        except BaseException:
            connection.execute("ROLLBACK")
            raise
        finally:
            connection.close()
        return answer

    @staticmethod
    def _open(
        note: bytes, keys: Sequence[Verifier]
    ) -> tuple[Checkpoint, OpenedNote] | WitnessAnswer:
        """The checkpoint opened with the first of the log's keys that signed it."""
        failure: LedgerError | None = None
        for key in keys:
            try:
                return open_checkpoint(note, key)
            except LedgerError as e:
                failure = failure if isinstance(failure, InvalidSignatureError) else e
        if isinstance(failure, UnverifiedNoteError | InvalidSignatureError):
            return WitnessAnswer(403, f"the checkpoint is not signed by the log: {failure}\n")
        return WitnessAnswer(400, f"malformed checkpoint: {failure}\n")

    def _check_and_cosign(
        self,
        connection: sqlite3.Connection,
        old: int,
        proof: Sequence[bytes],
        checkpoint: Checkpoint,
        text: str,
    ) -> WitnessAnswer:
        row = connection.execute(
            "SELECT size, root FROM cosigned WHERE origin = ?", (checkpoint.origin,)
        ).fetchone()
        known_size, known_root = (0, b"") if row is None else (int(row[0]), bytes(row[1]))
        if old != known_size:
            return WitnessAnswer(409, f"{known_size}\n", "text/x.tlog.size")
        if old == checkpoint.size and old > 0:
            if checkpoint.root != known_root:
                return WitnessAnswer(409, f"{known_size}\n", "text/x.tlog.size")
        elif old > 0:
            try:
                verify_consistency(old, checkpoint.size, proof, known_root, checkpoint.root)
            except ProofError as e:
                return WitnessAnswer(422, f"the consistency proof does not verify: {e}\n")
        elif proof:
            return WitnessAnswer(422, "the proof must be empty from size 0\n")
        connection.execute(
            "INSERT INTO cosigned (origin, size, root, note) VALUES (?, ?, ?, ?) "
            "ON CONFLICT(origin) DO UPDATE SET size = excluded.size, root = excluded.root, "
            "note = excluded.note",
            (checkpoint.origin, checkpoint.size, checkpoint.root, text),
        )
        timestamp = int(self._clock().timestamp())
        cosignature = self.signer.cosign(text.encode(), timestamp)
        return WitnessAnswer(
            200, NoteSignature(self.signer.name, self.signer.key_id, cosignature).line()
        )


def create_witness_app(witness: Witness) -> Flask:
    """The witness's HTTP face: ``POST /add-checkpoint`` and its own verifier key."""
    app = Flask("careledger-witness")
    app.config["MAX_CONTENT_LENGTH"] = _MAX_BODY

    @app.post("/add-checkpoint")
    def add_checkpoint() -> Response:
        answer = witness.add_checkpoint(request.get_data(cache=False))
        return Response(answer.body, status=answer.status, content_type=answer.content_type)

    @app.get("/vkey")
    def vkey() -> Response:
        return Response(witness.signer.verifier.vkey + "\n", mimetype="text/plain")

    return app
