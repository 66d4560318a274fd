"""A follower's chunk inspected in shares, the second one in another process.

One process reads, opens, looks up and judges about 10,000 records a second,
and most of that is Python that holds the interpreter's lock: a second
thread would not help, a second process does. A chunk is shared out by
institution: all of an institution's records in the chunk (and its pending
records now due) go to one share, so a share is complete for the keys its
records are looked up by (the charges of a consultation, an institution's
filings), as a whole chunk is. Institutions keep their share for a whole
follow, so that each process's memo holds the filings and recent records it
is asked for again.

Each share is inspected end to end where it is: rows read by index, payloads
opened, related records looked up below the head the follower read (the same
ledger in both processes, whatever was appended since), rules run. Only the
findings and what still waits come back: handing parsed records between
processes cost six times their parsing. The follower commits both shares'
findings, its cursor and the pending changes in one append, as before.
"""

from __future__ import annotations

import contextlib
import gc
import logging
import multiprocessing
import pickle  # nosec B403: between this process and its own child, never from outside
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from functools import partial
from pathlib import Path

from sqlalchemy import Connection, Engine

from inspectors.findings import Finding
from inspectors.policy import Policy
from inspectors.reference import ReferenceSnapshot
from ledger.database import read_transaction
from supervisor.custody.payload_keys import PayloadKeys
from supervisor.database.engine import open_engine
from supervisor.inspection.finality import Waiting, decide
from supervisor.inspection.related_records import (
    ChunkRow,
    RecordReader,
    read_record_rows,
    read_rows_at,
)

__all__ = [
    "Pending",
    "Share",
    "ShareOutcome",
    "ShareWorker",
    "Sharing",
    "case_subject",
    "collector_paused",
    "inspect_share",
]

_log = logging.getLogger("careledger.inspector")

#: The follower's own share of a chunk, the rest going to the other process. Half: both
#: inspect a record at the same speed, and the worker has nothing to do while the
#: follower commits (the next chunk's share depends on what this one left pending).
OWN_SHARE = 0.5


@dataclass(frozen=True)
class Share:
    """One process's part of a chunk: its records' indices (None: every record in
    ``[start, end)``) and the pending records now due that it decides."""

    start: int
    end: int
    head: int
    indices: tuple[int, ...] | None
    due: tuple[int, ...]
    now: datetime


@dataclass(frozen=True)
class Pending:
    """A record not final yet: when it arrived and what it waits for."""

    index: int
    received_at: datetime
    why: Waiting


@dataclass(frozen=True)
class ShareOutcome:
    findings: list[Finding]
    waiting: list[Pending]
    records: int  # new records opened (not counting due ones)
    unreadable: int


def case_subject(keys: PayloadKeys, institution_code: str, licence: str) -> str:
    """A practitioner as a case key names them: keyed, so no one without the regulator's
    keys can test a guessed licence number against a public leaf."""
    return keys.pseudonym("case-subject", f"{institution_code}\x00{licence}")[:16]


def inspect_share(
    connection: Connection,
    reader: RecordReader,
    share: Share,
    reference: ReferenceSnapshot,
    policy: Policy,
    *,
    subject_key: Callable[[str, str], str],
) -> ShareOutcome:
    """Read, open, look up and judge one share of a chunk."""
    if share.indices is None:
        rows = read_record_rows(connection, share.start, share.end, share.end - share.start)
    else:
        rows = read_rows_at(connection, share.indices)
    fresh, unreadable = reader.open(rows)
    due = reader.load_indices(connection, share.due) if share.due else []
    candidates = [*due, *fresh]
    world = reader.related(connection, candidates, complete_from=share.start, bound=share.head)
    findings, waiting = decide(
        candidates, world, reference, policy, share.now, case_subject=subject_key
    )
    return ShareOutcome(
        findings,
        [Pending(item.index, item.received_at, why) for item, why in waiting],
        len(fresh),
        unreadable,
    )


@dataclass
class Sharing:
    """Which process inspects which institution's records, for the span of one follow.

    An institution seen for the first time goes to the share furthest below its target
    fraction of the records shared so far; it stays there.
    """

    targets: tuple[float, ...] = (OWN_SHARE, 1 - OWN_SHARE)
    owner: dict[str, int] = field(default_factory=dict)
    loads: list[int] = field(default_factory=lambda: [0, 0])

    def split(
        self, chunk: Sequence[ChunkRow], due: dict[int, str]
    ) -> list[tuple[tuple[int, ...], tuple[int, ...]]]:
        """(record indices, due indices) of each share."""
        counts: dict[str, int] = {}
        for row in chunk:
            counts[row.institution_code] = counts.get(row.institution_code, 0) + 1
        for code in due.values():
            counts[code] = counts.get(code, 0) + 1
        for code, count in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])):
            share = self.owner.get(code)
            if share is None:
                share = min(range(len(self.targets)), key=lambda s: self.loads[s] / self.targets[s])
                self.owner[code] = share
            self.loads[share] += count
        parts: list[tuple[list[int], list[int]]] = [([], []) for _ in self.targets]
        for row in chunk:
            parts[self.owner[row.institution_code]][0].append(row.entry_index)
        for index, code in sorted(due.items()):
            parts[self.owner[code]][1].append(index)
        return [(tuple(records), tuple(due_part)) for records, due_part in parts]


@contextmanager
def collector_paused() -> Iterator[None]:
    """Pause the cyclic garbage collector for one chunk. A chunk allocates millions of
    objects that reference counting frees; the collector, run every few hundred
    allocations, walked the whole heap (a follow's remembered records among it) for
    nothing: a quarter of a pass at a million records. It runs again after the chunk."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


# -- the second process --------------------------------------------------------


@dataclass
class _WorkerState:
    engine: Engine
    keys: PayloadKeys
    reader: RecordReader
    follow: int | None = None
    context_key: object = None
    context: tuple[ReferenceSnapshot, Policy] | None = None


_state: _WorkerState | None = None


def _start(database_url: str, keys_dir: str) -> None:
    """The child's initialiser: its own engine, keys and reader."""
    global _state  # noqa: PLW0603  (one state per child process)
    keys = PayloadKeys(Path(keys_dir))
    _state = _WorkerState(open_engine(database_url), keys, RecordReader(keys))


def _ready() -> bool:
    return _state is not None


def _inspect(
    follow: int | None, context_key: object, context: bytes | None, share: Share
) -> ShareOutcome:
    state = _state
    assert state is not None
    if context is not None:
        state.context = pickle.loads(context)  # nosec B301: our own parent's pickle
        state.context_key = context_key
    if state.context is None or state.context_key != context_key:
        raise RuntimeError("the inspector's worker was not given this pass's reference data")
    if follow != state.follow:
        state.reader.forget(remember=follow is not None)
        state.follow = follow
    reference, policy = state.context
    with collector_paused(), read_transaction(state.engine) as connection:
        return inspect_share(
            connection,
            state.reader,
            share,
            reference,
            policy,
            subject_key=partial(case_subject, state.keys),
        )


class ShareWorker:
    """The second process of a follow: started when a follow meets a full chunk, used once
    it is ready (the follower inspects whole chunks itself meanwhile), stopped at the
    follow's end."""

    def __init__(self, database_url: str, keys_dir: Path) -> None:
        self._pool = ProcessPoolExecutor(
            max_workers=1,
            # Spawned, not forked: the scheduler runs the follower in a thread, and a fork
            # copies other threads' locks in whatever state they are.
            mp_context=multiprocessing.get_context("spawn"),
            initializer=_start,
            initargs=(database_url, str(keys_dir)),
        )
        self._starting: Future[bool] | None = self._pool.submit(_ready)
        self._sent_key: object = None
        self._broken = False

    def ready(self) -> bool:
        """Whether the child has started (without waiting for it); never, if it could not
        (logged once: the follower goes on alone)."""
        if self._broken:
            return False
        if self._starting is None:
            return True
        if not self._starting.done():
            return False
        try:
            self._starting.result()
        except Exception:
            _log.exception("the inspector's worker could not start; inspecting alone")
            self._broken = True
            return False
        self._starting = None
        return True

    def settled(self, timeout: float) -> bool:
        """Wait up to ``timeout`` seconds for the child to start or fail; whether it is
        ready."""
        if self._starting is not None:
            with contextlib.suppress(Exception):  # ``ready`` logs a failure to start
                self._starting.exception(timeout=timeout)
        return self.ready()

    def submit(
        self,
        follow: int | None,
        reference: ReferenceSnapshot,
        policy: Policy,
        share: Share,
    ) -> Future[ShareOutcome]:
        key = (id(reference), policy.sha256, tuple(sorted(reference.versions().items())))
        context = None
        if key != self._sent_key:
            context = pickle.dumps((reference, policy), protocol=pickle.HIGHEST_PROTOCOL)
            self._sent_key = key
        return self._pool.submit(_inspect, follow, key, context, share)

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)
