"""Pharmacy profiles: the pharmacy's latest filing (licences, GSP, online sales filing, its
chain), its roster as the registry in force knows each pharmacist, its dispensings and
deliveries month by month (online against in store), and its findings and cases counted as
institution pages count them (``profiles.record_activity``, ``profiles.case_standing``).

Costs follow the pharmacy, not the province: its records by the institution-code index, its
chain's stores among the codes its platform is authorised for, the channel of at most
``CHANNEL_SAMPLE`` recent dispensings (the channel is in the sealed content only).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

import orjson
from sqlalchemy import Connection, func, select

from inspectors.reference import ReferenceSnapshot
from ledger import schema as ledger_schema
from ledger.database import read_transaction
from supervisor.custody.payload_keys import SealedPayloadError
from supervisor.database import tables
from supervisor.ground.china_time import PROVINCE_ZONE
from supervisor.ground.records import PayloadMismatchError, open_leaf_payload
from supervisor.runtime.services import Services
from supervisor.web.portal.profiles import (
    Activity,
    CaseStanding,
    NamedInstitution,
    RosterMember,
    case_standing,
    filed_day,
    filed_moment,
    filed_text,
    open_document,
    record_activity,
    roster_member,
)

__all__ = [
    "CHANNEL_SAMPLE",
    "VOLUME_MONTHS",
    "FiledPharmacy",
    "MonthVolume",
    "PharmacyProfile",
    "filed_pharmacy",
    "is_pharmacy",
    "latest_pharmacy_filings",
    "pharmacy_names",
    "pharmacy_profile",
]

#: Months of dispensings and deliveries a profile counts, this month included.
VOLUME_MONTHS = 12
#: Recent dispensings whose channel is read (opened one by one): beyond, not split.
CHANNEL_SAMPLE = 2_000

_r = tables.records.c
_e = ledger_schema.entries.c
_f = tables.findings.c


@dataclass(frozen=True)
class FiledPharmacy:
    """A pharmacy's latest filing as it sent it (None where the content lacks a field)."""

    entry_index: int
    name: str | None
    kind: str | None
    license_no: str | None
    license_valid_until: date | None
    gsp_valid_until: date | None
    online_sales_filed: bool | None
    physical_address: str | None
    region_code: str | None
    parent_code: str | None
    pharmacists: tuple[str, ...]
    filed_at: datetime | None


@dataclass(frozen=True)
class MonthVolume:
    month: str  # YYYY-MM, China time
    dispensings: int
    deliveries: int
    online: int  # among the dispensings whose channel was read
    in_store: int
    unread: int  # dispensings past ``CHANNEL_SAMPLE`` or unreadable: channel not known


@dataclass(frozen=True)
class PharmacyProfile:
    code: str
    name: str | None
    filing: FiledPharmacy | None  # None: no filing, or its content is unreadable
    filing_unreadable: bool
    licence_in_force: bool | None  # on today's date in China; None: unknown
    gsp_in_force: bool | None
    platform_name: str | None  # the platform registered under this code, if any
    #: Platforms that may send its records: its own, and those authorised for its code.
    platforms: tuple[str, ...]
    parent: NamedInstitution | None  # its chain's headquarters, as filed
    stores: tuple[NamedInstitution, ...]  # pharmacies whose latest filing names it as parent
    roster: tuple[RosterMember, ...]
    months: tuple[MonthVolume, ...]  # oldest first
    activity: Activity
    cases: CaseStanding


def filed_pharmacy(index: int, document: Mapping[str, Any]) -> FiledPharmacy:
    """A ``pharmacy`` record's content as the profile reads it."""
    pharmacists = document.get("pharmacists")
    online = document.get("online_sales_filed")
    return FiledPharmacy(
        index,
        filed_text(document, "name"),
        filed_text(document, "kind"),
        filed_text(document, "license_no"),
        filed_day(document.get("license_valid_until")),
        filed_day(document.get("gsp_valid_until")),
        online if isinstance(online, bool) else None,
        filed_text(document, "physical_address"),
        filed_text(document, "region_code"),
        filed_text(document, "parent_code"),
        tuple(p for p in pharmacists if isinstance(p, str))
        if isinstance(pharmacists, list)
        else (),
        filed_moment(document.get("occurred_at")),
    )


def latest_pharmacy_filings(connection: Connection, codes: Iterable[str]) -> dict[str, int]:
    """Each pharmacy's latest filing entry (by the institution-code index)."""
    wanted = sorted(set(codes))
    if not wanted:
        return {}
    rows = connection.execute(
        select(_r.institution_code, func.max(_r.entry_index))
        .where(_r.institution_code.in_(wanted), _r.record_type == "pharmacy")
        .group_by(_r.institution_code)
    )
    return {code: int(index) for code, index in rows}


def pharmacy_names(
    services: Services, connection: Connection, codes: Iterable[str]
) -> dict[str, NamedInstitution]:
    """Places by the name their latest pharmacy filing gives, else their platform's name."""
    wanted = sorted(set(codes))
    filings = latest_pharmacy_filings(connection, wanted)
    p = tables.platforms.c
    registered = {
        key: value
        for key, value in connection.execute(
            select(p.institution_code, p.name).where(p.institution_code.in_(wanted))
        )
    }
    named = {}
    for code in wanted:
        name = None
        if code in filings and (document := open_document(services, filings[code])) is not None:
            name = filed_text(document, "name")
        named[code] = NamedInstitution(code, name or registered.get(code))
    return named


def _platforms(connection: Connection, code: str) -> tuple[str | None, tuple[str, ...]]:
    """(the name of the platform registered under ``code``, every platform that may send
    for it: its own and those authorised and not revoked)."""
    p = tables.platforms.c
    pi = tables.platform_institutions.c
    own = connection.execute(
        select(p.platform_id, p.name).where(p.institution_code == code)
    ).first()
    authorised = connection.execute(
        select(pi.platform_id).where(pi.institution_code == code, pi.revoked_index.is_(None))
    ).scalars()
    ids = {*authorised, *([own.platform_id] if own is not None else [])}
    return (own.name if own is not None else None), tuple(sorted(ids))


def _stores(services: Services, connection: Connection, code: str) -> list[NamedInstitution]:
    """Pharmacies whose latest filing names ``code`` as their chain's headquarters, among
    those the platform registered under ``code`` may send for (a chain sends for its stores;
    the parent is in sealed content only, so the candidates are what its platform covers)."""
    p = tables.platforms.c
    pi = tables.platform_institutions.c
    candidates = connection.execute(
        select(pi.institution_code)
        .join(tables.platforms, p.platform_id == pi.platform_id)
        .where(p.institution_code == code, pi.revoked_index.is_(None))
    ).scalars()
    filings = latest_pharmacy_filings(connection, [c for c in candidates if c != code])
    stores = []
    for store, index in sorted(filings.items()):
        document = open_document(services, index)
        if document is not None and document.get("parent_code") == code:
            stores.append(NamedInstitution(store, filed_text(document, "name")))
    return stores


def _month_of(moment: datetime) -> str:
    return tables.read_time(moment).astimezone(PROVINCE_ZONE).strftime("%Y-%m")


def _months_back(today: date, count: int) -> list[str]:
    """The ``count`` months up to ``today``'s, oldest first (YYYY-MM)."""
    year, month = today.year, today.month
    months = []
    for _step in range(count):
        months.append(f"{year:04d}-{month:02d}")
        year, month = (year, month - 1) if month > 1 else (year - 1, 12)
    return months[::-1]


def _channels(services: Services, connection: Connection, indices: list[int]) -> dict[int, str]:
    """The channel each dispensing states (only those whose content can be read)."""
    channels: dict[int, str] = {}
    for start in range(0, len(indices), 500):
        chunk = indices[start : start + 500]
        for entry in connection.execute(
            select(_e.idx, _e.leaf, _e.payload).where(_e.idx.in_(chunk))
        ):
            payload = None if entry.payload is None else bytes(entry.payload)
            try:
                document = orjson.loads(
                    open_leaf_payload(services.keys, bytes(entry.leaf), payload)
                )
            except (SealedPayloadError, PayloadMismatchError):
                continue
            if isinstance(document.get("channel"), str):
                channels[int(entry.idx)] = document["channel"]
    return channels


def _volumes(
    services: Services, connection: Connection, code: str, today: date
) -> list[MonthVolume]:
    """Dispensings (online, in store) and deliveries per month, the last ``VOLUME_MONTHS``."""
    months = _months_back(today, VOLUME_MONTHS)
    first = datetime.fromisoformat(f"{months[0]}-01T00:00:00").replace(tzinfo=PROVINCE_ZONE)
    rows = connection.execute(
        select(_r.entry_index, _r.record_type, _r.occurred_at).where(
            _r.institution_code == code,
            _r.record_type.in_(("dispensing", "delivery")),
            _r.occurred_at >= tables.stored_time(first),
        )
    ).all()
    dispensings = sorted(
        (int(r.entry_index) for r in rows if r.record_type == "dispensing"), reverse=True
    )
    channels = _channels(services, connection, sorted(dispensings[:CHANNEL_SAMPLE]))
    counts: dict[str, dict[str, int]] = {m: {} for m in months}
    for r in rows:
        month = _month_of(r.occurred_at)
        if month not in counts:
            continue  # occurred in the future (a clock ahead): not in the months shown
        tally = counts[month]
        tally[r.record_type] = tally.get(r.record_type, 0) + 1
        if r.record_type == "dispensing":
            channel = channels.get(int(r.entry_index), "unread")
            tally[channel] = tally.get(channel, 0) + 1
    return [
        MonthVolume(
            month,
            t.get("dispensing", 0),
            t.get("delivery", 0),
            t.get("online", 0),
            t.get("in_store", 0),
            t.get("unread", 0),
        )
        for month, t in counts.items()
    ]


def _in_force(until: date | None, today: date) -> bool | None:
    return None if until is None else until >= today


def pharmacy_profile(
    services: Services, code: str, reference: ReferenceSnapshot
) -> PharmacyProfile | None:
    """The pharmacy's page, or None if no pharmacy filing, dispensing or delivery names the
    code. ``reference`` is the snapshot in force (one per page)."""
    where = _r.institution_code == code
    today = services.clock().astimezone(PROVINCE_ZONE).date()
    with read_transaction(services.engine) as connection:
        known = connection.execute(
            select(_r.entry_index)
            .where(where, _r.record_type.in_(("pharmacy", "dispensing", "delivery")))
            .limit(1)
        ).first()
        if known is None:
            return None
        filing_index = latest_pharmacy_filings(connection, [code]).get(code)
        document = None if filing_index is None else open_document(services, filing_index)
        filing = None
        if document is not None and filing_index is not None:
            filing = filed_pharmacy(filing_index, document)
        parent = None
        if filing is not None and filing.parent_code:
            parent = pharmacy_names(services, connection, [filing.parent_code])[filing.parent_code]
        platform_name, platforms = _platforms(connection, code)
        stores = _stores(services, connection, code)
        months = _volumes(services, connection, code, today)
        activity = record_activity(
            connection, where, tables.findings, _f.institution_code == code, institution=code
        )
        cases = case_standing(connection, code, today)
    return PharmacyProfile(
        code,
        (filing.name if filing is not None else None) or platform_name,
        filing,
        filing_index is not None and document is None,
        None if filing is None else _in_force(filing.license_valid_until, today),
        None if filing is None else _in_force(filing.gsp_valid_until, today),
        platform_name,
        platforms,
        parent,
        tuple(stores),
        tuple(roster_member(reference, p) for p in (filing.pharmacists if filing else ())),
        tuple(months),
        activity,
        cases,
    )


def is_pharmacy(services: Services, code: str) -> bool:
    """Whether ``code`` filed as a pharmacy and never as an institution (a hospital that
    also files its pharmacy under its own code keeps its institution page). Filings only:
    a few rows per code, whatever its volume of dispensings."""
    with read_transaction(services.engine) as connection:
        kinds = set(
            connection.execute(
                select(_r.record_type)
                .where(
                    _r.institution_code == code,
                    _r.record_type.in_(("institution", "pharmacy")),
                )
                .distinct()
            ).scalars()
        )
    return kinds == {"pharmacy"}
