"""Thin views over the ledger store: checkpoints, C2SP tiles and entry bundles, proofs.

No authentication and CORS for everyone: this is public by design, and
nothing here can carry patient data (leaves hold only ids, salted
commitments and signatures; payloads never leave through this API).
Full and partial tiles never change once served, so they are cached for a
year; the checkpoint is revalidated every time.
"""

from __future__ import annotations

import base64
import re
from typing import Any

import orjson
from flask import Blueprint, Response, request

from ledger.errors import LedgerError, OutOfRangeError
from ledger.leaf_index import LeafIndexBehindError
from ledger.tiles import parse_tile_path
from supervisor.transparency.witnessing import published_checkpoint
from supervisor.web.current import services
from supervisor.web.problems import problem_response

__all__ = ["log"]

#: A SHA-256 hash in canonical standard base64 (as the OpenAPI document publishes).
_HASH_B64 = re.compile(r"[A-Za-z0-9+/]{42}[AEIMQUYcgkosw048]=")

log = Blueprint("log", __name__)

_IMMUTABLE = "public, max-age=31536000, immutable"
_MAX_CHECKPOINTS_PAGE = 1000
#: Indices and sizes are signed 64-bit in the database.
_MAX_INDEX = 2**63


class _BadParameterError(Exception):
    def __init__(self, name: str, detail: str) -> None:
        super().__init__(f"{name}: {detail}")
        self.name = name
        self.detail = detail


@log.after_request
def public(response: Response) -> Response:
    response.headers["Access-Control-Allow-Origin"] = "*"
    return response


@log.errorhandler(_BadParameterError)
def bad_parameter(error: _BadParameterError) -> Response:
    return problem_response(
        400,
        "bad-parameter",
        "A query parameter is malformed or out of range",
        str(error),
        errors=[{"pointer": f"#/query/{error.name}", "detail": error.detail}],
    )


@log.errorhandler(OutOfRangeError)
def out_of_range(error: OutOfRangeError) -> Response:
    """A well-formed question about something the log does not hold (yet): 404."""
    return problem_response(404, "not-in-log", "Not in the log", str(error))


@log.errorhandler(LeafIndexBehindError)
def index_behind(error: LeafIndexBehindError) -> Response:
    return problem_response(
        503, "index-behind", "Leaf index catching up", str(error), headers={"Retry-After": "5"}
    )


def _json(body: Any, cache: str = "no-cache") -> Response:
    response = Response(orjson.dumps(body), mimetype="application/json")
    response.headers["Cache-Control"] = cache
    return response


def _int_parameter(name: str, *, required: bool = True, minimum: int = 0) -> int | None:
    text = request.args.get(name)
    if text is None:
        if required:
            raise _BadParameterError(name, "is required")
        return None
    if not text.isascii() or not text.isdigit() or (len(text) > 1 and text[0] == "0"):
        raise _BadParameterError(name, f"must be a decimal integer, not {text!r}")
    value = int(text)
    if value < minimum or value >= _MAX_INDEX:
        raise _BadParameterError(name, f"must be at least {minimum} and below 2^63")
    return value


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


@log.get("/checkpoint")
def checkpoint() -> Response:
    portal = services()
    note = published_checkpoint(portal.store, portal.settings.witness_quorum)
    if note is None:
        return problem_response(
            404, "no-checkpoint", "No checkpoint yet", "no checkpoint is published yet"
        )
    response = Response(note, mimetype="text/plain")
    response.headers["Cache-Control"] = "no-cache"
    return response


@log.get("/vkey")
def vkey() -> Response:
    """The key the log signs with now (after a rotation, not the first one: see ``/log/keys``)."""
    response = Response(services().log_keys().current.vkey + "\n", mimetype="text/plain")
    response.headers["Cache-Control"] = "no-cache"
    return response


@log.get("/keys")
def keys() -> Response:
    """Every key the log has signed with and the first tree size each signs; for each
    rotation, its evidence (leaf, transition checkpoint, inclusion proof), so a verifier
    holding the first key checks the whole history (``ledger/rotation_evidence.py``)."""
    store = services().store
    chain = services().log_keys()
    listed: list[dict[str, Any]] = [{"vkey": chain.keys[0][1].vkey, "from_size": 0}]
    for start, key in chain.keys[1:]:
        index = start - 1
        transition = store.checkpoint_at(start)
        proof = store.inclusion_proof(index, start)
        listed.append(
            {
                "vkey": key.vkey,
                "from_size": start,
                "rotation": {
                    "index": index,
                    "leaf": base64.b64encode(store.entry(index).leaf).decode(),
                    "checkpoint": None if transition is None else transition.note,
                    "inclusion_proof": [base64.b64encode(h).decode() for h in proof.hashes],
                },
            }
        )
    return _json({"origin": chain.origin, "keys": listed})


@log.get("/tile/<path:rest>")
def tile(rest: str) -> Response:
    try:
        path = parse_tile_path("tile/" + rest)
    except LedgerError as e:
        return problem_response(404, "not-a-tile", "No such tile path", str(e))
    if path.index >= _MAX_INDEX >> 8:
        return problem_response(404, "tile-not-yet", "Not in the log yet", "beyond any log")
    store = services().store
    try:
        if path.level is None:
            data = store.entry_bundle(path.index, path.width)
        else:
            data = store.tile(path.level, path.index, path.width)
    except OutOfRangeError as e:
        return problem_response(404, "tile-not-yet", "Not in the log yet", str(e))
    response = Response(data, mimetype="application/octet-stream")
    response.headers["Cache-Control"] = _IMMUTABLE
    return response


@log.get("/proof/inclusion")
def inclusion() -> Response:
    store = services().store
    size = _int_parameter("size", minimum=1)
    assert size is not None
    index = _int_parameter("index", required=False)
    if index is not None and index >= size:
        raise _BadParameterError("index", "must be below size")
    text = request.args.get("leaf_hash")
    wanted = None
    if text is not None:  # checked whenever given, even beside an index
        if not _HASH_B64.fullmatch(text):  # canonical: no stray padding bits
            raise _BadParameterError("leaf_hash", "must be 32 bytes in standard base64")
        wanted = base64.b64decode(text, validate=True)
    if index is None:
        if wanted is None:
            raise _BadParameterError("index", "index or leaf_hash is required")
        index = store.index_of_leaf(wanted)
    proof = store.inclusion_proof(index, size)
    if wanted is not None and proof.leaf_hash != wanted:
        raise _BadParameterError("leaf_hash", "is not the hash of the leaf at index")
    return _json(
        {
            "index": proof.index,
            "size": proof.size,
            "leaf_hash": _b64(proof.leaf_hash),
            "hashes": [_b64(h) for h in proof.hashes],
        },
        _IMMUTABLE,  # a proof for (index, size) never changes
    )


@log.get("/proof/consistency")
def consistency() -> Response:
    old = _int_parameter("old", minimum=1)
    size = _int_parameter("size", minimum=1)
    assert old is not None and size is not None
    if old > size:
        raise _BadParameterError("old", "must not be above size")
    hashes = services().store.consistency_proof(old, size)
    return _json({"old": old, "size": size, "hashes": [_b64(h) for h in hashes]}, _IMMUTABLE)


@log.get("/entries/<int:index>")
def entry(index: int) -> Response:
    if index >= _MAX_INDEX:
        raise _BadParameterError("index", "must be below 2^63")
    stored = services().store.entry(index)
    return _json(
        {
            "index": stored.index,
            "type": stored.type,
            "leaf": orjson.loads(stored.leaf),
            "leaf_bytes": _b64(stored.leaf),
            "leaf_hash": _b64(stored.leaf_hash),
        },
        _IMMUTABLE,
    )


@log.get("/checkpoints")
def checkpoints() -> Response:
    after = _int_parameter("after", required=False) or 0
    limit = _int_parameter("limit", required=False, minimum=1) or 100
    notes = services().store.checkpoints_after(after, min(limit, _MAX_CHECKPOINTS_PAGE))
    return _json(
        {
            "checkpoints": [
                {"size": c.checkpoint.size, "root": _b64(c.checkpoint.root), "note": c.note}
                for c in notes
            ]
        }
    )
