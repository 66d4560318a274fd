"""The access trail (数据访问留痕): every look at patient-level data is a ledger entry.

The entry's public statement says only what kind of access it was and which
ledger entry was looked at, with a commitment to the sealed details (who,
in which roles, why, which patient's pseudonym): the public log shows that
access happened and can never lose it, without naming staff or patients.
``access_events`` is its projection, for the pages that list who looked.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, insert, select

from ledger.database import read_transaction
from ledger.store import AppendResult, LedgerStore
from supervisor.custody.payload_keys import PayloadKeys
from supervisor.database import tables
from supervisor.ground.sealed_entries import sealed_entry

__all__ = ["ACCESS_ENTRY_PREFIX", "AccessEvent", "AccessTrail", "access_row"]

ACCESS_ENTRY_PREFIX = "access."
_ACTIONS = ("viewed_record", "searched_patient", "exported")


@dataclass(frozen=True)
class AccessEvent:
    entry_index: int
    action: str
    username: str
    roles: tuple[str, ...]
    purpose: str
    subject_index: int | None
    patient_pseudonym: str | None
    at: datetime


def access_row(index: int, details: Mapping[str, Any], at: datetime) -> dict[str, Any]:
    """The ``access_events`` row of an access entry's sealed details (live and on replay)."""
    return {
        "entry_index": index,
        "action": details["action"],
        "username": details["username"],
        "roles": ",".join(details["roles"]),
        "purpose": details["purpose"],
        "subject_index": details.get("subject_index"),
        "patient_pseudonym": details.get("patient_pseudonym"),
        "at": tables.stored_time(at),
    }


class AccessTrail:
    """Records accesses (one ledger entry each) and lists them."""

    def __init__(
        self, store: LedgerStore, keys: PayloadKeys, clock: Callable[[], datetime]
    ) -> None:
        self.store = store
        self.keys = keys
        self.clock = clock

    def record(
        self,
        action: str,
        *,
        username: str,
        roles: frozenset[str],
        purpose: str,
        subject_index: int | None = None,
        patient_pseudonym: str | None = None,
    ) -> int:
        """Append the access entry before the data is shown; returns its ledger index."""
        if action not in _ACTIONS:
            raise ValueError(f"unknown access action {action!r}")
        now = self.clock()
        details = {
            "action": action,
            "username": username,
            "roles": sorted(roles),
            "purpose": purpose,
            "subject_index": subject_index,
            "patient_pseudonym": patient_pseudonym,
        }
        draft = sealed_entry(
            self.keys,
            ACCESS_ENTRY_PREFIX + action,
            "access",
            now,
            public={"action": action, "subject_index": subject_index},
            details=details,
        )

        def project(connection: Connection, result: AppendResult) -> None:
            connection.execute(
                insert(tables.access_events).values(access_row(result.first_index, details, now))
            )

        result = self.store.append([draft], now=now, within=project)
        return result.first_index

    def events(
        self, *, subject_index: int | None = None, patient_pseudonym: str | None = None
    ) -> list[AccessEvent]:
        query = select(tables.access_events).order_by(tables.access_events.c.entry_index.desc())
        if subject_index is not None:
            query = query.where(tables.access_events.c.subject_index == subject_index)
        if patient_pseudonym is not None:
            query = query.where(tables.access_events.c.patient_pseudonym == patient_pseudonym)
        with read_transaction(self.store.engine) as connection:
            return [_event(row) for row in connection.execute(query.limit(500))]


def _event(row: Any) -> AccessEvent:
    at = tables.read_time(row.at)
    return AccessEvent(
        row.entry_index,
        row.action,
        row.username,
        tuple(r for r in row.roles.split(",") if r),
        row.purpose,
        row.subject_index,
        row.patient_pseudonym,
        at,
    )
