"""What a running portal holds: settings, database, ledger, keys and the services on top."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import partial

from sqlalchemy import Engine

from ledger.log_keys import KeyChain
from ledger.note import Verifier
from ledger.store import LedgerStore
from supervisor.cases.service import CaseService
from supervisor.config import Settings
from supervisor.custody.key_files import load_log_signer
from supervisor.custody.log_rotation import log_signer_finder
from supervisor.custody.payload_keys import PayloadKeys
from supervisor.database.engine import open_engine
from supervisor.inspection.access_trail import AccessTrail
from supervisor.inspection.inspector import Inspector
from supervisor.inspection.reference_data import ReferenceData
from supervisor.inspection.shares import ShareWorker
from supervisor.inspection.triage import FindingTriage
from supervisor.intake.submission import SubmissionLimits, SubmissionService
from supervisor.reporting.service import ReportService
from supervisor.runtime.schedules import ScheduleService

__all__ = ["Services", "build_services", "log_genesis", "system_clock"]


def system_clock() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class Services:
    settings: Settings
    engine: Engine
    store: LedgerStore
    keys: PayloadKeys
    submissions: SubmissionService
    clock: Callable[[], datetime]
    reference: ReferenceData
    inspector: Inspector
    access: AccessTrail
    triage: FindingTriage
    reports: ReportService
    schedules: ScheduleService
    cases: CaseService
    #: The log's first key (``log.vkey``, printed by ``init``): where its key chain starts.
    log_genesis: Verifier

    def log_keys(self) -> KeyChain:
        """Every key the log has signed with, following its rotations from ``log_genesis``."""
        return self.store.key_chain(self.log_genesis)


def build_services(settings: Settings, clock: Callable[[], datetime] = system_clock) -> Services:
    """Open the database and load the keys named by ``settings`` (``careledger init`` made them)."""
    engine = open_engine(settings.effective_database_url)
    signer = load_log_signer(settings.log_key_path, settings.log_origin)
    store = LedgerStore(engine, signer, find_signer=log_signer_finder(settings))
    genesis = log_genesis(settings, signer.verifier)
    keys = PayloadKeys(settings.keys_dir)
    limits = SubmissionLimits(
        max_records=settings.max_batch_records,
        clock_skew=timedelta(seconds=settings.clock_skew_seconds),
    )
    reference = ReferenceData(store)
    submissions = SubmissionService(store, keys, limits, clock)
    return Services(
        settings,
        engine,
        store,
        keys,
        submissions,
        clock,
        reference,
        Inspector(store, keys, reference, clock, start_worker=share_worker(settings)),
        AccessTrail(store, keys, clock),
        FindingTriage(store, keys, clock),
        ReportService(
            store, keys, lambda: store.key_chain(genesis), settings.data_dir / "reports", clock
        ),
        ScheduleService(store, keys, clock),
        CaseService(store, keys, submissions, clock),
        genesis,
    )


def share_worker(settings: Settings) -> Callable[[], ShareWorker] | None:
    """How the inspector starts its second process, if the settings allow one and the
    database is one another process can open."""
    url = settings.effective_database_url
    if settings.inspector_processes < 2 or (url.startswith("sqlite://") and ":memory:" in url):
        return None
    return partial(ShareWorker, url, settings.keys_dir)


def log_genesis(settings: Settings, signer: Verifier) -> Verifier:
    """The key ``init`` wrote to ``log.vkey``; until a first rotation, the signer's own."""
    path = settings.log_vkey_path
    if path.exists():
        return Verifier.from_vkey(path.read_text(encoding="ascii").strip())
    return signer
