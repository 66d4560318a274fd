"""Institution and practitioner profiles: who they are (filings, the registry), how much they
send or do, what was found, and the share of their records with no finding."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson
from sqlalchemy import func, select

from ledger.database import read_transaction
from supervisor.custody.payload_keys import SealedPayloadError
from supervisor.database import tables
from supervisor.ground.records import PayloadMismatchError, open_leaf_payload
from supervisor.runtime.services import Services

__all__ = ["Profile", "institution_profile", "practitioner_profile"]

_r = tables.records.c
_f = tables.findings.c
_SERVICE_TYPES = ("consultation", "prescription", "charge")


@dataclass(frozen=True)
class Profile:
    key: str
    facts: dict[str, Any] | None  # the filing or the registry entry; None if unknown
    volumes: dict[str, int]  # record type -> records
    findings_by_rule: list[tuple[str, int]]
    open_findings: int
    compliance_rate: float | None  # service records with no finding / service records
    related: list[tuple[str, str]]  # (code or licence, label): roster or institutions


def _profile(
    services: Services,
    key: str,
    where: Any,
    facts: dict[str, Any] | None,
    related: list[tuple[str, str]],
) -> Profile:
    with read_transaction(services.engine) as connection:
        volumes = {
            t: int(n)
            for t, n in connection.execute(
                select(_r.record_type, func.count()).where(where).group_by(_r.record_type)
            )
        }
        flagged_records = select(_r.entry_index).where(where)
        by_rule = connection.execute(
            select(_f.rule_id, func.count())
            .where(_f.record_index.in_(flagged_records))
            .group_by(_f.rule_id)
            .order_by(func.count().desc(), _f.rule_id)
        ).all()
        open_count = connection.execute(
            select(func.count()).where(
                _f.record_index.in_(flagged_records),
                _f.state.in_(("open", "acknowledged", "rectification_ordered")),
            )
        ).scalar_one()
        service = [where, _r.record_type.in_(_SERVICE_TYPES)]
        total = connection.execute(select(func.count()).where(*service)).scalar_one()
        with_finding = connection.execute(
            select(func.count(func.distinct(_f.record_index))).where(
                _f.record_index.in_(select(_r.entry_index).where(*service))
            )
        ).scalar_one()
    return Profile(
        key,
        facts,
        volumes,
        [(rule, int(n)) for rule, n in by_rule],
        int(open_count),
        None if total == 0 else round(1 - with_finding / total, 4),
        related,
    )


def _open(services: Services, index: int) -> dict[str, Any] | None:
    entry = services.store.entry(index)
    try:
        document: dict[str, Any] = orjson.loads(
            open_leaf_payload(services.keys, entry.leaf, entry.payload)
        )
    except (SealedPayloadError, PayloadMismatchError):
        return None  # shredded, or not what the ledger committed to: shown as unknown
    return document


def institution_profile(services: Services, code: str) -> Profile | None:
    where = _r.institution_code == code
    with read_transaction(services.engine) as connection:
        filing = connection.execute(
            select(_r.entry_index)
            .where(where, _r.record_type == "institution")
            .order_by(_r.entry_index.desc())
            .limit(1)
        ).scalar()
        roster = (
            connection.execute(
                select(_r.practitioner_license_no)
                .where(where, _r.record_type == "practitioner")
                .distinct()
                .order_by(_r.practitioner_license_no)
            )
            .scalars()
            .all()
        )
        known = connection.execute(select(func.count()).where(where)).scalar_one()
    if not known:
        return None
    facts = None if filing is None else _open(services, int(filing))
    return _profile(services, code, where, facts, [(licence, licence) for licence in roster])


def practitioner_profile(services: Services, license_no: str) -> Profile | None:
    reference, _ = services.reference.snapshot()
    entry = reference.registry.by_license.get(license_no)
    where = _r.practitioner_license_no == license_no
    with read_transaction(services.engine) as connection:
        institutions = (
            connection.execute(
                select(_r.institution_code).where(where).distinct().order_by(_r.institution_code)
            )
            .scalars()
            .all()
        )
    if entry is None and not institutions:
        return None
    facts = None
    if entry is not None:
        facts = {
            "name": entry.name,
            "role": entry.role,
            "status": entry.status,
            "valid_from": entry.valid_from.isoformat(),
            "valid_to": None if entry.valid_to is None else entry.valid_to.isoformat(),
            "practice_start": entry.practice_start.isoformat(),
            "primary_institution_code": entry.primary_institution_code,
            "multi_site_institution_codes": sorted(entry.multi_site_institution_codes),
            "departments": sorted(entry.departments),
            "registry_version": reference.registry.version,
        }
    return _profile(services, license_no, where, facts, [(c, c) for c in institutions])
