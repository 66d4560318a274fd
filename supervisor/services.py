"""What a running portal holds: settings, database, ledger, keys and the services on top."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import Engine

from ledger.store import LedgerStore

from .access_trail import AccessTrail
from .config import Settings
from .database import open_engine
from .inspection import Inspector
from .keys import load_log_signer
from .payload_keys import PayloadKeys
from .reference_data import ReferenceData
from .report_service import ReportService
from .schedules import ScheduleService
from .submission import SubmissionLimits, SubmissionService
from .triage import FindingTriage

__all__ = ["Services", "build_services", "system_clock"]


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


def build_services(settings: Settings, clock: Callable[[], datetime] = system_clock) -> Services:
    """Open the database and load the keys named by ``settings`` (``careledger init`` made them)."""
    engine = open_engine(settings.effective_database_url)
    signer = load_log_signer(settings.log_key_path, settings.log_origin)
    store = LedgerStore(engine, signer)
    keys = PayloadKeys(settings.keys_dir)
    limits = SubmissionLimits(
        max_records=settings.max_batch_records,
        clock_skew=timedelta(seconds=settings.clock_skew_seconds),
    )
    reference = ReferenceData(store)
    return Services(
        settings,
        engine,
        store,
        keys,
        SubmissionService(store, keys, limits, clock),
        clock,
        reference,
        Inspector(store, keys, reference, clock),
        AccessTrail(store, keys, clock),
        FindingTriage(store, keys, clock),
        ReportService(store, keys, signer.verifier, settings.data_dir / "reports", clock),
        ScheduleService(store, keys, clock),
    )
