"""Retention by crypto-shredding: once a period's legal retention has ended, its data key goes.

Payloads are sealed with one key per kind and month (``payload_keys.py``).
When every record a key sealed is past its retention, ``careledger
retention apply``:

1. appends a ``retention.shred`` entry naming the keys and the policy
   (public: it holds no personal data), and in the same transaction drops
   those records from the search projection;
2. destroys the keys (tombstones stay, so a period's key is never re-made).

Leaves, tiles and checkpoints are untouched, so every inclusion and
consistency proof still verifies; only the sealed payloads become noise.
If the process dies between 1 and 2, the next run finds the keys still
there and records and destroys them again.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime

from sqlalchemy import Connection, delete, select

from ledger.store import AppendResult, EntryDraft, LedgerStore
from supervisor.config import ConfigError, parse_retention_policy
from supervisor.custody.payload_keys import PayloadKeys
from supervisor.database import tables
from supervisor.database.record_counts import add_record_counts, count_rows

__all__ = [
    "RETENTION_ENTRY",
    "RetentionError",
    "RetentionOutcome",
    "apply_retention",
    "expired_keys",
    "key_expiry",
    "parse_policy",
]

RETENTION_ENTRY = "retention.shred"


class RetentionError(ValueError):
    """A retention policy entry that is not ``<kind>=<years>``."""


def parse_policy(entries: Iterable[str]) -> dict[str, int]:
    """``("consultation=15", ...)`` as ``{"consultation": 15, ...}`` (the setting's parser)."""
    try:
        return parse_retention_policy(entries)
    except ConfigError as e:
        raise RetentionError(str(e)) from e


def _split(name: str) -> tuple[str, int, int]:
    kind, year, month = name.rsplit("-", 2)
    return kind, int(year), int(month)


def key_expiry(name: str, years: int) -> date:
    """The first day a key may go: its month's last record, ``years`` later, has passed.

    A key of month M sealed records received up to the end of M, so it goes
    on the first day of the month after M, ``years`` on.
    """
    _, year, month = _split(name)
    year, month = (year + 1, 1) if month == 12 else (year, month + 1)
    return date(year + years, month, 1)


def expired_keys(names: Iterable[str], policy: Mapping[str, int], today: date) -> list[str]:
    """The keys past retention; kinds without a policy are kept for ever."""
    expired = []
    for name in names:
        kind = _split(name)[0]
        if kind in policy and key_expiry(name, policy[kind]) <= today:
            expired.append(name)
    return sorted(expired)


@dataclass(frozen=True)
class RetentionOutcome:
    destroyed: tuple[str, ...]
    entry_index: int | None  # None: nothing was due


def _month_bounds(name: str) -> tuple[str, datetime, datetime]:
    kind, year, month = _split(name)
    start = datetime(year, month, 1, tzinfo=UTC)
    end = datetime(year + (month == 12), 1 if month == 12 else month + 1, 1, tzinfo=UTC)
    return kind, start, end


def _forget_records(connection: Connection, names: Sequence[str]) -> None:
    """Drop shredded records from search, with their fills and drugs, as ``projections
    rebuild`` would: a fill of a shredded dispensing would otherwise still count
    against its prescription, and a drug search would still name the record."""
    r = tables.records.c
    for name in names:
        kind, start, end = _month_bounds(name)
        shredded = (
            r.record_type == kind,
            r.received_at >= tables.stored_time(start),
            r.received_at < tables.stored_time(end),
        )
        forgotten = connection.execute(
            select(r.received_at, r.institution_code, r.record_type).where(*shredded)
        ).mappings()
        add_record_counts(connection, {k: -n for k, n in count_rows(forgotten).items()})
        for side in (tables.prescription_fills, tables.record_drugs):
            connection.execute(
                delete(side).where(side.c.entry_index.in_(select(r.entry_index).where(*shredded)))
            )
        connection.execute(delete(tables.records).where(*shredded))


def apply_retention(
    store: LedgerStore,
    keys: PayloadKeys,
    policy: Mapping[str, int],
    now: datetime,
    *,
    dry_run: bool = False,
) -> RetentionOutcome:
    """Record, then destroy, every data key past retention."""
    due = expired_keys(keys.data_key_names(), policy, now.astimezone(UTC).date())
    if not due or dry_run:
        return RetentionOutcome(tuple(due), None)
    statement = {
        "keys": due,
        "policy": {kind: policy[kind] for kind in sorted(policy)},
        "basis": "legal retention ended; payloads sealed with these keys are now unreadable",
    }

    def forget(connection: Connection, _result: AppendResult) -> None:
        _forget_records(connection, due)

    result = store.append([EntryDraft(RETENTION_ENTRY, statement, None)], now=now, within=forget)
    for name in due:
        keys.destroy(name, f"retention, ledger entry {result.first_index}")
    return RetentionOutcome(tuple(due), result.first_index)
