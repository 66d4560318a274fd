"""The auditor's monitor: trust nothing the log serves, check everything it signs.

``audit`` fetches the latest checkpoint, verifies the log's signature (and
the cosignatures of given witnesses), proves it consistent with the
checkpoint remembered from the last run, and with ``full`` downloads every
tile and entry bundle and recomputes the tree from the leaves. With
``resume`` it recomputes only the entries added since the last run: the state
keeps the compact range of the entries already checked (the roots of the
maximal aligned subtrees, at most log2(size) hashes) and the last leaf hash,
so a run costs what the log grew by, not what it holds. Every
failure is a ``MonitorAlarmError`` whose ``kind`` says what the log did:
``signature``, ``rollback``, ``fork``, ``tile``, ``entry``, ``witness``, ``key``,
``state`` (this monitor's own saved state does not hold together),
``missing`` (it answers, but not with data its signed checkpoints cover), or
``unreachable`` (no answer, or a server error: an outage, not evidence).

The monitor holds the log's first key; if the log rotated its key, it
follows the rotations the log lists, each proven (``rotation_evidence.py``),
and raises ``key`` on one that is not.

The recomputation here shares nothing with the log's own tree code but the
two hash functions: it folds leaf hashes with its own stack and checks
every served tile against hashes it computed itself.
"""

from __future__ import annotations

import base64
import http.client
import json
import os
import threading
import urllib.parse
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import orjson

from ledger.checkpoint import Checkpoint, open_checkpoint
from ledger.errors import KeyRotationError, LedgerError, ProofError
from ledger.hashing import EMPTY_ROOT, leaf_hash, node_hash
from ledger.leaf import GENESIS_PREV, chain_prefix
from ledger.log_keys import KeyChain
from ledger.note import Verifier
from ledger.proof import verify_consistency
from ledger.rotation_evidence import extend_key_chain, genesis_listing
from ledger.tiles import TILE_WIDTH, format_tile_path, parse_entry_bundle

__all__ = [
    "AuditReport",
    "DirectoryLogSource",
    "HttpLogSource",
    "LogSource",
    "MonitorAlarmError",
    "MonitorState",
    "audit",
    "export_log",
    "follow_key_chain",
    "verify_export",
]


class MonitorAlarmError(Exception):
    """The log misbehaved (or could not be read). ``kind`` names how."""

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(f"{kind}: {message}")
        self.kind = kind


class LogSource(Protocol):
    """Where a log's public data comes from: a server, or an export on disk."""

    def checkpoint(self) -> bytes: ...

    def consistency(self, old: int, size: int) -> list[bytes]: ...

    def tile(self, level: int, index: int, width: int) -> bytes: ...

    def bundle(self, index: int, width: int) -> bytes: ...

    def keys(self) -> bytes | None:
        """The ``/log/keys`` listing (None: a source from before key rotations)."""


class HttpLogSource:
    """The public log API of a careledger portal; one keep-alive connection per thread."""

    def __init__(self, url: str, timeout: float = 30.0) -> None:
        parsed = urllib.parse.urlsplit(url.rstrip("/"))
        if parsed.scheme not in ("http", "https") or not parsed.hostname:
            raise MonitorAlarmError("unreachable", f"{url!r} is not an http(s) URL")
        self._parsed = parsed
        self._host: str = parsed.hostname
        self._timeout = timeout
        self._local = threading.local()

    def get(self, path: str) -> bytes:
        connection = getattr(self._local, "connection", None)
        if connection is None:
            kind = (
                http.client.HTTPSConnection
                if self._parsed.scheme == "https"
                else http.client.HTTPConnection
            )
            connection = kind(self._host, self._parsed.port, timeout=self._timeout)
            self._local.connection = connection
        try:
            connection.request("GET", self._parsed.path + path)
            response = connection.getresponse()
            body = response.read()
        except (OSError, http.client.HTTPException) as e:
            connection.close()
            self._local.connection = None
            raise MonitorAlarmError("unreachable", f"GET {path}: {e}") from e
        if response.status == 404 and path.endswith("/checkpoint"):
            raise MonitorAlarmError(
                "unreachable", f"GET {path}: no checkpoint is published there (yet)"
            )
        if response.status in (400, 404, 410):
            # The server answers, but not with what it signed for: entries deleted, tiles
            # withheld. Not an outage to wait out.
            raise MonitorAlarmError(
                "missing",
                f"GET {path}: HTTP {response.status}: the log does not serve data that its "
                "signed checkpoints cover (deleted or withheld)",
            )
        if response.status != 200:
            raise MonitorAlarmError("unreachable", f"GET {path}: HTTP {response.status}")
        return body

    def checkpoint(self) -> bytes:
        return self.get("/log/checkpoint")

    def consistency(self, old: int, size: int) -> list[bytes]:
        document = orjson.loads(self.get(f"/log/proof/consistency?old={old}&size={size}"))
        return [base64.b64decode(h, validate=True) for h in document["hashes"]]

    def tile(self, level: int, index: int, width: int) -> bytes:
        return self.get("/log/" + format_tile_path(level, index, width))

    def bundle(self, index: int, width: int) -> bytes:
        return self.get("/log/" + format_tile_path(None, index, width))

    def keys(self) -> bytes | None:
        return self.get("/log/keys")

    def checkpoint_history(self) -> Iterator[dict[str, object]]:
        after = 0
        while True:
            page = orjson.loads(self.get(f"/log/checkpoints?after={after}&limit=1000"))
            if not page["checkpoints"]:
                return
            yield from page["checkpoints"]
            after = page["checkpoints"][-1]["size"]


class DirectoryLogSource:
    """An export written by ``export_log``: the C2SP layout on disk, no server."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def read(self, relative: str) -> bytes:
        try:
            return (self.folder / relative).read_bytes()
        except OSError as e:
            raise MonitorAlarmError("tile", f"the export lacks {relative}") from e

    def checkpoint(self) -> bytes:
        return self.read("checkpoint")

    def consistency(self, old: int, size: int) -> list[bytes]:
        raise MonitorAlarmError("fork", "an export holds no proofs: audit it with full=True")

    def tile(self, level: int, index: int, width: int) -> bytes:
        return self.read(format_tile_path(level, index, width))

    def bundle(self, index: int, width: int) -> bytes:
        return self.read(format_tile_path(None, index, width))

    def keys(self) -> bytes | None:
        path = self.folder / "keys.json"
        return path.read_bytes() if path.exists() else None


@dataclass(frozen=True)
class MonitorState:
    """The last checkpoint this monitor verified, and how far it recomputed the entries."""

    size: int
    root: bytes
    note: str
    #: The entries recomputed from their tiles and bundles so far (None: never).
    entries: CheckedEntries | None = None

    @classmethod
    def load(cls, path: Path) -> MonitorState | None:
        if not path.exists():
            return None
        document = json.loads(path.read_text(encoding="utf-8"))
        checked = document.get("entries")  # absent in a state written before resuming existed
        return cls(
            document["size"],
            base64.b64decode(document["root"]),
            document["note"],
            None if checked is None else CheckedEntries.from_json(checked),
        )

    def save(self, path: Path) -> None:
        """Write atomically: a crash leaves the old state or the new, never half."""
        document: dict[str, object] = {
            "size": self.size,
            "root": base64.b64encode(self.root).decode(),
            "note": self.note,
        }
        if self.entries is not None:
            document["entries"] = self.entries.to_json()
        text = json.dumps(document, indent=2)
        temporary = path.with_name(path.name + ".tmp")
        temporary.write_text(text + "\n", encoding="utf-8")
        os.replace(temporary, path)


@dataclass(frozen=True)
class CheckedEntries:
    """Entries ``0 .. size-1`` recomputed and found to hash to the signed root: the compact
    range that folds them (``(height, hash)``, largest first) and the last one's leaf
    hash, which the next entry's chain prefix names."""

    size: int
    stack: tuple[tuple[int, bytes], ...]
    last_leaf: bytes

    @classmethod
    def from_json(cls, document: dict[str, object]) -> CheckedEntries:
        stack = document["stack"]
        assert isinstance(stack, list)
        return cls(
            int(str(document["size"])),
            tuple((int(height), base64.b64decode(hashed)) for height, hashed in stack),
            base64.b64decode(str(document["last_leaf"])),
        )

    def to_json(self) -> dict[str, object]:
        return {
            "size": self.size,
            "stack": [[height, base64.b64encode(h).decode()] for height, h in self.stack],
            "last_leaf": base64.b64encode(self.last_leaf).decode(),
        }


@dataclass(frozen=True)
class AuditReport:
    checkpoint: Checkpoint
    note: str
    previous_size: int | None
    witnesses: tuple[str, ...]
    entries_recomputed: int
    #: The log's keys as verified, from the first one the monitor holds.
    log_keys: KeyChain
    #: Where the recomputation stands after this run (None: no entries were recomputed).
    entries: CheckedEntries | None = None
    #: The first entry this run recomputed (0 for a full run).
    recomputed_from: int = 0


class _Folder:
    """Merkle tree hash of a growing list of leaf hashes, rootable at any size (a stack)."""

    def __init__(self, checked: CheckedEntries | None = None) -> None:
        self._stack: list[tuple[int, bytes]] = []  # (height, hash), largest first
        self.size = 0
        if checked is not None:
            self._stack = list(checked.stack)
            self.size = checked.size
            if sum(1 << height for height, _ in self._stack) != checked.size:
                raise MonitorAlarmError(
                    "state", "the saved compact range does not cover the saved size"
                )

    def stack(self) -> tuple[tuple[int, bytes], ...]:
        return tuple(self._stack)

    def add(self, hashed: bytes) -> None:
        height, current = 0, hashed
        while self._stack and self._stack[-1][0] == height:
            current = node_hash(self._stack.pop()[1], current)
            height += 1
        self._stack.append((height, current))
        self.size += 1

    def root(self) -> bytes:
        if not self._stack:
            return EMPTY_ROOT
        result = self._stack[-1][1]
        for _, left in reversed(self._stack[:-1]):
            result = node_hash(left, result)
        return result


def _perfect_root(hashes: Sequence[bytes]) -> bytes:
    """Root of a complete subtree (len a power of two)."""
    level = list(hashes)
    while len(level) > 1:
        level = [node_hash(level[i], level[i + 1]) for i in range(0, len(level), 2)]
    return level[0]


def _split_hashes(data: bytes, expected: int, where: str) -> list[bytes]:
    if len(data) != expected * 32:
        raise MonitorAlarmError("tile", f"{where} has {len(data)} bytes, not {expected * 32}")
    return [data[i : i + 32] for i in range(0, len(data), 32)]


def _recompute(
    source: LogSource,
    checkpoint: Checkpoint,
    progress: Callable[[int], None] | None,
    on_size: Callable[[int, bytes], None] | None,
    parallel: int,
    *,
    checked: CheckedEntries | None = None,
) -> CheckedEntries:
    """Fetch the tiles and bundles of the entries after ``checked`` (every one if None) and
    check them against the leaves; the upper tiles too when starting from 0."""
    size = checkpoint.size
    tiles = (size + TILE_WIDTH - 1) // TILE_WIDTH
    folder = _Folder(checked)
    start = folder.size
    prev = GENESIS_PREV if checked is None else checked.last_leaf

    def fetch(index: int) -> tuple[int, int, bytes, bytes]:
        width = min(TILE_WIDTH, size - index * TILE_WIDTH)
        return index, width, source.tile(0, index, width), source.bundle(index, width)

    upper: list[bytes] = []  # roots of full level-0 tiles: level-1 tile contents
    with ThreadPoolExecutor(max_workers=parallel) as pool:
        for index, width, tile, bundle in pool.map(fetch, range(start // TILE_WIDTH, tiles)):
            served = _split_hashes(tile, width, f"tile 0/{index}")
            try:
                leaves = parse_entry_bundle(bundle)
            except LedgerError as e:
                raise MonitorAlarmError("entry", f"entry bundle {index}: {e}") from e
            if len(leaves) != width:
                raise MonitorAlarmError(
                    "entry", f"entry bundle {index} holds {len(leaves)} entries"
                )
            for position, leaf in enumerate(leaves):
                entry_index = index * TILE_WIDTH + position
                if entry_index < start:
                    continue  # checked by an earlier run, folded into its compact range
                if not leaf.startswith(chain_prefix(entry_index, prev)):
                    raise MonitorAlarmError(
                        "entry", f"entry {entry_index} does not follow entry {entry_index - 1}"
                    )
                prev = leaf_hash(leaf)
                if prev != served[position]:
                    raise MonitorAlarmError(
                        "tile", f"tile 0/{index} hash {position} is not entry {entry_index}'s"
                    )
                folder.add(prev)
                if on_size is not None:
                    on_size(folder.size, prev)
            if width == TILE_WIDTH:
                upper.append(_perfect_root(served))
            if progress is not None:
                progress(min(width, index * TILE_WIDTH + width - start))
    if folder.root() != checkpoint.root:
        raise MonitorAlarmError("tile", "the leaves do not hash to the signed root")
    if checked is None:
        # From 0 every level-0 tile's root is at hand. A resumed run has only the new ones;
        # a wrong upper tile can make a proof fail, never pass, and ``full`` checks them.
        _check_upper_tiles(source, upper, 1)
    return CheckedEntries(folder.size, folder.stack(), prev)


def _agrees(checked: CheckedEntries, state: MonitorState) -> bool:
    """Whether a saved compact range is the saved checkpoint's own tree."""
    return checked.size == state.size and _Folder(checked).root() == state.root


def _check_upper_tiles(source: LogSource, hashes: list[bytes], level: int) -> None:
    """Tiles above level 0 must hold exactly the roots of the full tiles below them."""
    if not hashes:
        return
    roots = []
    for index in range(0, (len(hashes) + TILE_WIDTH - 1) // TILE_WIDTH):
        expected = hashes[index * TILE_WIDTH : (index + 1) * TILE_WIDTH]
        served = _split_hashes(
            source.tile(level, index, len(expected)), len(expected), f"tile {level}/{index}"
        )
        if served != expected:
            raise MonitorAlarmError(
                "tile", f"tile {level}/{index} does not match the tiles below it"
            )
        if len(expected) == TILE_WIDTH:
            roots.append(_perfect_root(expected))
    _check_upper_tiles(source, roots, level + 1)


def audit(
    source: LogSource,
    verifier: Verifier,
    state: MonitorState | None,
    *,
    witnesses: Sequence[Verifier] = (),
    witness_quorum: int = 0,
    full: bool = False,
    resume: bool = False,
    progress: Callable[[int], None] | None = None,
    parallel: int = 4,
) -> AuditReport:
    """Check the log against what this monitor saw before. Raises ``MonitorAlarmError``.

    ``verifier``: the log's first key, or a chain of its keys verified before.
    ``full``: recompute every entry and tile. ``resume``: recompute the entries added
    since the state's (all of them the first time).
    """
    chain = follow_key_chain(source, verifier)
    note = source.checkpoint()
    try:
        checkpoint, opened = open_checkpoint(note, chain, witnesses)
    except LedgerError as e:
        raise MonitorAlarmError("signature", f"the checkpoint does not verify: {e}") from e
    cosigned = tuple(s.name for s in opened.verified if s.name != chain.origin)
    if len(cosigned) < witness_quorum:
        raise MonitorAlarmError(
            "witness",
            f"{len(cosigned)} of the required {witness_quorum} witnesses cosigned size "
            f"{checkpoint.size}",
        )
    if state is not None:
        if checkpoint.size < state.size:
            raise MonitorAlarmError(
                "rollback",
                f"the log shows size {checkpoint.size}, but it signed size {state.size} before",
            )
        if checkpoint.size == state.size and checkpoint.root != state.root:
            raise MonitorAlarmError(
                "fork", f"two different roots signed for size {checkpoint.size}"
            )
        if state.size < checkpoint.size:
            proof = source.consistency(state.size, checkpoint.size) if state.size else []
            if state.size:
                try:
                    verify_consistency(
                        state.size, checkpoint.size, proof, state.root, checkpoint.root
                    )
                except ProofError as e:
                    raise MonitorAlarmError(
                        "fork",
                        f"size {checkpoint.size} is not an extension of size {state.size}: {e}",
                    ) from e
    earlier = None if full or state is None else state.entries
    checked = None
    if full or resume:
        if earlier is not None and state is not None and not _agrees(earlier, state):
            raise MonitorAlarmError(
                "state",
                "the saved state's checked entries do not fold to its own root: "
                "run with --full to recompute from the first entry",
            )
        checked = _recompute(source, checkpoint, progress, None, parallel, checked=earlier)
    start = 0 if earlier is None else earlier.size
    return AuditReport(
        checkpoint,
        note.decode() if isinstance(note, bytes) else note,
        None if state is None else state.size,
        cosigned,
        0 if checked is None else checked.size - start,
        chain,
        checked,
        start,
    )


def follow_key_chain(source: LogSource, verifier: Verifier | KeyChain) -> KeyChain:
    """The log's keys, from the one(s) trusted, along every rotation the log lists, proven."""
    chain = verifier if isinstance(verifier, KeyChain) else KeyChain.starting_with(verifier)
    listing = source.keys()
    if listing is None:
        return chain
    try:
        return extend_key_chain(chain, orjson.loads(listing))
    except (KeyRotationError, orjson.JSONDecodeError) as e:
        raise MonitorAlarmError("key", f"the log's key history does not verify: {e}") from e


def export_log(
    source: HttpLogSource,
    verifier: Verifier,
    folder: Path,
    progress: Callable[[int], None] | None = None,
) -> Checkpoint:
    """Download the public log at its latest checkpoint into ``folder`` (C2SP layout)."""
    chain = follow_key_chain(source, verifier)
    note = source.checkpoint()
    try:
        checkpoint, _ = open_checkpoint(note, chain)
    except LedgerError as e:
        raise MonitorAlarmError("signature", f"the checkpoint does not verify: {e}") from e
    folder.mkdir(parents=True, exist_ok=True)

    def keep(path: str, data: bytes) -> None:
        target = folder / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)

    size, level, count = checkpoint.size, 0, checkpoint.size
    while count > 0:
        for index in range((count + TILE_WIDTH - 1) // TILE_WIDTH):
            width = min(TILE_WIDTH, count - index * TILE_WIDTH)
            keep(format_tile_path(level, index, width), source.tile(level, index, width))
            if level == 0:
                keep(format_tile_path(None, index, width), source.bundle(index, width))
                if progress is not None:
                    progress(width)
        count //= TILE_WIDTH
        level += 1
    history = [c for c in source.checkpoint_history() if int(str(c["size"])) <= size]
    keep("checkpoints.json", orjson.dumps(history))
    keep("checkpoint", note)
    keep("vkey", verifier.vkey.encode() + b"\n")
    keep("keys.json", source.keys() or orjson.dumps(genesis_listing(chain)))
    return checkpoint


def verify_export(
    folder: Path,
    verifier: Verifier,
    progress: Callable[[int], None] | None = None,
) -> AuditReport:
    """Recompute an export with no server: the tree, every tile, every checkpoint it lists."""
    source = DirectoryLogSource(folder)
    report = audit(source, verifier, None, full=False)
    history = orjson.loads(source.read("checkpoints.json"))
    expected: dict[int, bytes] = {}
    for item in history:
        try:
            old, _ = open_checkpoint(item["note"], report.log_keys)
        except LedgerError as e:
            raise MonitorAlarmError("signature", f"listed checkpoint does not verify: {e}") from e
        expected[old.size] = old.root
    folder_roots: dict[int, bytes] = {}
    tracker = _Folder()

    def record(size: int, hashed: bytes) -> None:
        tracker.add(hashed)
        if size in expected:
            folder_roots[size] = tracker.root()

    count = _recompute(source, report.checkpoint, progress, record, 1).size
    for size, root in expected.items():
        if folder_roots.get(size) != root:
            raise MonitorAlarmError(
                "fork", f"the export's checkpoint of size {size} is not its tree"
            )
    return AuditReport(
        report.checkpoint, report.note, None, report.witnesses, count, report.log_keys
    )
