"""A prescription's journey: the consultation, the prescription and the hospital
pharmacist's review, then every dispensing of it by any pharmacy through any platform, and
every delivery of those dispensings, in the order they happened.

Loading reads by indexes only (the prescription by its key, its fills by
``ix_prescription_fills_prescription``, each pharmacy's deliveries by
``ix_records_consultation``), so a journey costs its own records, whatever the ledger's
size. The records are opened, proved and given their findings as the record page does
(``record_page.proved_records``); turning them into rows is pure (``journey_rows``,
``drug_totals``, ``double_fills``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from sqlalchemy import Connection, select, tuple_

from ledger.database import read_transaction
from supervisor.database import tables
from supervisor.runtime.services import Services
from supervisor.web.portal.pharmacy_profiles import pharmacy_names
from supervisor.web.portal.record_fields import moment_of, person_name
from supervisor.web.portal.timeline import FindingLink, TimelineRecord, drug_text, timeline_rows

__all__ = [
    "DOUBLE_FILL_RULE",
    "FILL_LIMIT",
    "DoubleFill",
    "DrugTotal",
    "JourneyRow",
    "JourneySource",
    "SourceRow",
    "double_fills",
    "drug_totals",
    "journey_rows",
    "load_journey",
]

DOUBLE_FILL_RULE = "DISP-DOUBLE-FILL"
#: At most this many dispensings of one prescription, and deliveries of them, on a journey
#: (a real prescription has one or two; a hundred is already a case for the findings list).
FILL_LIMIT = 100
#: How far a prescription's corrections are followed (each hop is one indexed read).
_CORRECTION_HOPS = 8

_r = tables.records.c
_pf = tables.prescription_fills.c
_f = tables.findings.c
_WANTED = (
    _r.entry_index,
    _r.record_id,
    _r.record_type,
    _r.occurred_at,
    _r.institution_code,
    _r.platform_id,
    _r.amends,
    _r.consultation_record_id,
    _r.patient_pseudonym,
)


@dataclass(frozen=True)
class SourceRow:
    """A record of the journey as the projection lists it."""

    entry_index: int
    record_id: str
    record_type: str
    occurred_at: datetime
    institution_code: str
    platform_id: str
    amends: str | None
    consultation_record_id: str | None
    patient_pseudonym: str | None


@dataclass(frozen=True)
class JourneySource:
    """What ``load_journey`` read: the rows in ledger order and the names to show."""

    institution_code: str  # the prescription's key
    record_id: str
    rows: tuple[SourceRow, ...]
    prescription_found: bool
    #: Place code -> its name (pharmacy filing, else platform registration); None: unknown.
    places: Mapping[str, str | None]
    #: Platform id -> the name it registered under.
    platforms: Mapping[str, str]
    #: Double-fill findings on the dispensings: finding id -> the ledger indices it names.
    double_fill_related: Mapping[str, tuple[int, ...]]
    fills_left_out: int = 0
    deliveries_left_out: int = 0


@dataclass(frozen=True)
class JourneyRow:
    at: datetime
    place_code: str
    place: str  # "name (code)", or the code
    platform_id: str
    person: str  # the doctor or pharmacist who acted, "" when the place acted
    what: str
    index: int
    record_id: str
    record_type: str
    findings: tuple[FindingLink, ...]
    proved: bool | None  # None: a later event of a record already badged above
    pending: bool = False
    tampered: bool = False
    superseded: bool = False  # a dispensing its pharmacy corrected (not counted in totals)


@dataclass(frozen=True)
class DrugTotal:
    drug_code: str
    drug_name: str
    unit: str
    prescribed: Decimal | None  # None: not prescribed, or the prescription is unknown
    dispensed: Decimal
    dispensings: int  # how many dispensings gave it

    @property
    def exceeded(self) -> bool:
        """More given than prescribed (a drug not on a known prescription: prescribed 0)."""
        return self.prescribed is not None and self.dispensed > self.prescribed


@dataclass(frozen=True)
class DoubleFill:
    """A DISP-DOUBLE-FILL finding and the dispensings it names."""

    finding_id: str
    severity: str
    record_index: int  # the dispensing it lies on
    record_id: str
    pharmacies: tuple[str, ...]  # codes, in ledger order of their dispensings
    platforms: tuple[str, ...]


def _source_row(row: Any) -> SourceRow:
    return SourceRow(
        int(row.entry_index),
        row.record_id,
        row.record_type,
        tables.read_time(row.occurred_at),
        row.institution_code,
        row.platform_id,
        row.amends,
        row.consultation_record_id,
        row.patient_pseudonym,
    )


def _prescription_rows(connection: Connection, institution: str, record_id: str) -> list[Any]:
    """The prescription and its corrections (each a prescription of its own record id)."""
    same_place = _r.institution_code == institution
    ids = {record_id}
    found: dict[int, Any] = {}
    for _hop in range(_CORRECTION_HOPS):
        rows = [
            *connection.execute(select(*_WANTED).where(same_place, _r.record_id.in_(ids))),
            *connection.execute(select(*_WANTED).where(same_place, _r.amends.in_(ids))),
        ]
        found |= {r.entry_index: r for r in rows if r.record_type == "prescription"}
        grown = ids | {r.record_id for r in found.values()}
        if grown == ids:
            break
        ids = grown
    return sorted(found.values(), key=lambda r: r.entry_index)


def _consultation_rows(connection: Connection, institution: str, visit: str | None) -> list[Any]:
    if visit is None:
        return []
    return list(
        connection.execute(
            select(*_WANTED).where(
                _r.institution_code == institution,
                _r.record_id == visit,
                _r.record_type == "consultation",
            )
        )
    )


def load_journey(services: Services, institution: str, record_id: str) -> JourneySource | None:
    """The prescription ``(institution, record_id)`` and everything that followed it; None
    if the ledger holds neither the prescription nor any dispensing naming it."""
    with read_transaction(services.engine) as connection:
        prescriptions = _prescription_rows(connection, institution, record_id)
        keys = sorted({record_id, *(r.record_id for r in prescriptions)})
        fills = connection.execute(
            select(_pf.entry_index)
            .where(
                _pf.prescription_institution_code == institution,
                _pf.prescription_record_id.in_(keys),
            )
            .order_by(_pf.entry_index)
            .limit(FILL_LIMIT + 1)
        ).scalars()
        fill_indices = list(fills)
        fills_left_out = max(0, len(fill_indices) - FILL_LIMIT)
        fill_indices = fill_indices[:FILL_LIMIT]
        if not prescriptions and not fill_indices:
            return None
        dispensings = list(
            connection.execute(select(*_WANTED).where(_r.entry_index.in_(fill_indices)))
        )
        visit = prescriptions[0].consultation_record_id if prescriptions else None
        consultations = _consultation_rows(connection, institution, visit)
        deliveries = _deliveries(connection, dispensings)
        deliveries_left_out = max(0, len(deliveries) - FILL_LIMIT)
        related = _double_fill_related(connection, fill_indices)
        rows = sorted(
            [*consultations, *prescriptions, *dispensings, *deliveries[:FILL_LIMIT]],
            key=lambda r: r.entry_index,
        )
        platform_ids = sorted({r.platform_id for r in rows})
        p = tables.platforms.c
        platforms = {
            key: value
            for key, value in connection.execute(
                select(p.platform_id, p.name).where(p.platform_id.in_(platform_ids))
            )
        }
        places = {
            code: named.name
            for code, named in pharmacy_names(
                services, connection, {r.institution_code for r in rows}
            ).items()
        }
    return JourneySource(
        institution,
        record_id,
        tuple(_source_row(r) for r in rows),
        bool(prescriptions),
        places,
        platforms,
        related,
        fills_left_out,
        deliveries_left_out,
    )


def _deliveries(connection: Connection, dispensings: Sequence[Any]) -> list[Any]:
    """Deliveries of the dispensings: in each pharmacy, the records whose
    ``consultation_record_id`` column holds a dispensing's record id."""
    pairs = sorted({(d.institution_code, d.record_id) for d in dispensings})
    if not pairs:
        return []
    return list(
        connection.execute(
            select(*_WANTED)
            .where(
                tuple_(_r.institution_code, _r.consultation_record_id).in_(pairs),
                _r.record_type == "delivery",
            )
            .limit(FILL_LIMIT + 1)
        )
    )


def _double_fill_related(
    connection: Connection, indices: Sequence[int]
) -> dict[str, tuple[int, ...]]:
    if not indices:
        return {}
    found = connection.execute(
        select(_f.finding_id, _f.related_indices).where(
            _f.record_index.in_(indices), _f.rule_id == DOUBLE_FILL_RULE
        )
    )
    return {
        finding_id: tuple(int(i) for i in related.split(",") if i.strip())
        for finding_id, related in found
    }


# -- pure: rows, totals, double fills -----------------------------------------------------


def _label(name: str | None, code: str) -> str:
    return f"{name} ({code})" if name else code


def _superseded(rows: Sequence[SourceRow]) -> set[int]:
    """Dispensings a later dispensing of the same pharmacy corrects (``amends``)."""
    corrected = {(r.institution_code, r.amends) for r in rows if r.amends}
    return {
        r.entry_index
        for r in rows
        if r.record_type == "dispensing" and (r.institution_code, r.record_id) in corrected
    }


def _dispensing_events(
    item: TimelineRecord,
    _: Callable[[str], str],
    word: Callable[[object], str],
) -> list[tuple[datetime | None, str, str]]:
    r = item.record or {}
    review = r.get("pharmacist_review") if isinstance(r.get("pharmacist_review"), Mapping) else None
    pharmacist = person_name(item.reference, review.get("pharmacist_license_no")) if review else ""
    drugs = [
        drug_text(item.reference, it) for it in r.get("items") or [] if isinstance(it, Mapping)
    ]
    what = _("Dispensed %(drugs)s, %(channel)s") % {
        "drugs": "、".join(drugs) or "—",
        "channel": word(r.get("channel")),
    }
    if r.get("prescription") is None:
        what += " · " + _("without a prescription")
    if r.get("substitution_note"):
        what += " · " + _("substitution noted: %(note)s") % {"note": r["substitution_note"]}
    if r.get("amends"):
        what += f" · {_('corrects')} {r['amends']}"
    events: list[tuple[datetime | None, str, str]] = [
        (moment_of(r.get("dispensed_at")) or item.occurred_at, pharmacist, what)
    ]
    if review is not None:
        events.append(
            (
                moment_of(review.get("reviewed_at")),
                pharmacist,
                _("Pharmacy pharmacist's review: %(result)s")
                % {"result": word(review.get("result"))},
            )
        )
    return events


def _delivery_events(
    item: TimelineRecord, _: Callable[[str], str]
) -> list[tuple[datetime | None, str, str]]:
    r = item.record or {}
    shipped = _("Shipped by %(carrier)s, %(chain)s") % {
        "carrier": r.get("carrier") or "—",
        "chain": _("cold chain") if r.get("cold_chain") else _("not cold chain"),
    }
    if r.get("temperature_excursion"):
        shipped += " · " + _("temperature excursion reported")
    if r.get("amends"):
        shipped += f" · {_('corrects')} {r['amends']}"
    return [
        (moment_of(r.get("shipped_at")) or item.occurred_at, "", shipped),
        (moment_of(r.get("delivered_at")), "", _("Delivered to the recipient")),
        (moment_of(r.get("recipient_verified_at")), "", _("Recipient's identity verified")),
    ]


def journey_rows(
    source: JourneySource,
    records: Sequence[TimelineRecord],
    _: Callable[[str], str],
    value_names: Mapping[str, str],
) -> list[JourneyRow]:
    """Every event of the journey's records, oldest first (ties in ledger order). The
    consultation and prescription read as on their record page's timeline; each record's
    findings and proof badge sit on its first event."""
    by_index = {r.entry_index: r for r in source.rows}
    superseded = _superseded(source.rows)

    def word(value: object) -> str:
        return value_names.get(str(value), str(value))

    rows: list[JourneyRow] = []
    for item in records:
        origin = by_index[item.index]
        place = _label(source.places.get(origin.institution_code), origin.institution_code)
        opened = item.record is not None and not item.content_mismatch
        events: list[tuple[datetime | None, str, str]]
        if opened and item.record_type == "dispensing":
            events = _dispensing_events(item, _, word)
        elif opened and item.record_type == "delivery":
            events = _delivery_events(item, _)
        else:
            # As the record page's timeline tells it (a destroyed or altered record too).
            events = [
                (row.at, "" if row.actor == place else row.actor, row.what)
                for row in timeline_rows([item], -1, place, _, value_names)
            ]
        first = True
        for at, person, what in events:
            if at is None:
                continue  # not (yet) happened: a parcel not yet delivered, say
            rows.append(
                JourneyRow(
                    at,
                    origin.institution_code,
                    place,
                    origin.platform_id,
                    person,
                    what,
                    item.index,
                    item.record_id,
                    item.record_type,
                    item.findings if first else (),
                    item.proved if first else None,
                    item.proof_pending and first,
                    item.content_mismatch,
                    item.index in superseded,
                )
            )
            first = False
    rows.sort(key=lambda row: (row.at, row.index))
    return rows


def _quantity(value: object) -> Decimal | None:
    try:
        return Decimal(str(value)) if value is not None else None
    except InvalidOperation:
        return None


def drug_totals(source: JourneySource, records: Sequence[TimelineRecord]) -> list[DrugTotal]:
    """Per drug: what the prescription (its latest readable version) prescribed and what all
    the dispensings together gave (a corrected dispensing counts once, as corrected)."""
    superseded = _superseded(source.rows)
    prescribed: dict[str, Decimal] = {}
    names: dict[str, tuple[str, str]] = {}
    known_prescription = False
    for item in records:
        if item.record_type == "prescription" and item.record is not None:
            known_prescription, prescribed = True, {}  # a later version replaces the earlier
            for it in item.record.get("items") or []:
                quantity = _quantity(it.get("quantity")) if isinstance(it, Mapping) else None
                if quantity is not None:
                    code = str(it.get("drug_code"))
                    prescribed[code] = prescribed.get(code, Decimal(0)) + quantity
                    names.setdefault(
                        code, (str(it.get("drug_name") or code), str(it.get("unit") or ""))
                    )
    dispensed: dict[str, Decimal] = {}
    givers: dict[str, int] = {}
    for item in records:
        if item.record_type != "dispensing" or item.record is None or item.index in superseded:
            continue
        for it in item.record.get("items") or []:
            quantity = _quantity(it.get("quantity")) if isinstance(it, Mapping) else None
            if quantity is None:
                continue
            code = str(it.get("drug_code"))
            dispensed[code] = dispensed.get(code, Decimal(0)) + quantity
            givers[code] = givers.get(code, 0) + 1
            names.setdefault(code, (str(it.get("drug_name") or code), str(it.get("unit") or "")))
    # Drugs named as the catalogue in force names them (the first readable record's).
    reference = next((r.reference for r in records if r.record is not None), None)
    totals = []
    for code in sorted({*prescribed, *dispensed}):
        name, unit = names[code]
        known = reference.drugs.by_code.get(code) if reference is not None else None
        totals.append(
            DrugTotal(
                code,
                known.drug_name if known is not None else name,
                unit,
                prescribed.get(code, Decimal(0)) if known_prescription else None,
                dispensed.get(code, Decimal(0)),
                givers.get(code, 0),
            )
        )
    return totals


def double_fills(source: JourneySource, records: Sequence[TimelineRecord]) -> list[DoubleFill]:
    """The DISP-DOUBLE-FILL findings on the journey's dispensings, each with the pharmacies
    and platforms of the dispensings it names (those on this journey)."""
    by_index = {r.entry_index: r for r in source.rows}
    found = []
    for item in records:
        for link in item.findings:
            if link.rule != DOUBLE_FILL_RULE:
                continue
            named = {*source.double_fill_related.get(link.finding_id, ()), item.index}
            involved = [
                by_index[i]
                for i in sorted(named)
                if i in by_index and by_index[i].record_type == "dispensing"
            ]
            found.append(
                DoubleFill(
                    link.finding_id,
                    link.severity,
                    item.index,
                    item.record_id,
                    tuple(dict.fromkeys(r.institution_code for r in involved)),
                    tuple(dict.fromkeys(r.platform_id for r in involved)),
                )
            )
    return found
