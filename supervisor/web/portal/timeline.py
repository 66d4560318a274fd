"""A consultation's timeline: what happened, in what order, who did it, what was found and
whether the ledger vouches for it.

Pure: the consultation's records (as opened from the ledger), the reference data in force
at each record's time and the reader's gettext come in; rows of text come out. One record
gives one or more events (a prescription is signed, reviewed, dispensed); its findings and
its proof badge sit on its first event, so each record is judged once.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from inspectors.reference import ReferenceSnapshot
from supervisor.ground.china_time import PROVINCE_ZONE
from supervisor.web.portal.record_fields import moment_of as _moment
from supervisor.web.portal.record_fields import person_name, price_item_name, yuan

__all__ = ["FindingLink", "TimelineRecord", "TimelineRow", "drug_text", "timeline_rows"]


@dataclass(frozen=True)
class FindingLink:
    finding_id: str
    rule: str
    severity: str


@dataclass(frozen=True)
class TimelineRecord:
    """One record of the consultation, as the page loaded it."""

    index: int
    record_id: str
    record_type: str
    occurred_at: datetime  # from the projection: known even when the content is not
    record: Mapping[str, Any] | None  # None: destroyed at retention, or not what was committed
    findings: tuple[FindingLink, ...]
    proved: bool
    reference: ReferenceSnapshot  # in force when the ledger received it
    #: The stored content is not what the ledger committed to (swapped or altered).
    content_mismatch: bool = False
    #: Not yet covered by a signed checkpoint: not proved, and not a fault either.
    proof_pending: bool = False


@dataclass(frozen=True)
class TimelineRow:
    at: datetime
    actor: str
    what: str
    index: int
    record_id: str
    record_type: str
    findings: tuple[FindingLink, ...]
    proved: bool | None  # None: a later event of a record already badged above
    current: bool  # the record this page is about
    pending: bool = False  # not proved only because no checkpoint covers it yet
    tampered: bool = False  # its stored content is not what the ledger committed to


def _events(
    item: TimelineRecord,
    institution: str,
    _: Callable[[str], str],
    value_names: Mapping[str, str],
) -> list[tuple[datetime | None, str, str]]:
    """(time, actor, what) for each thing the record says happened."""
    r = item.record
    if item.content_mismatch:
        return [
            (
                item.occurred_at,
                institution,
                _("the stored content is not what the ledger committed to: not shown"),
            )
        ]
    if r is None:
        return [
            (
                item.occurred_at,
                institution,
                _("content destroyed at the end of its retention period; its proof holds"),
            )
        ]

    def word(value: object) -> str:
        return value_names.get(str(value), str(value))

    def who(licence: object) -> str:
        return person_name(item.reference, licence)

    amended = f" · {_('corrects')} {r['amends']}" if r.get("amends") else ""
    if item.record_type == "consultation":
        doctor = who(r.get("practitioner_license_no"))
        started = _("Consultation started: %(visit)s, by %(channel)s") % {
            "visit": word(r.get("visit_type")),
            "channel": word(r.get("channel")),
        }
        ended = _("Consultation ended: %(outcome)s") % {"outcome": word(r.get("outcome"))}
        return [
            (_moment(r.get("started_at")) or item.occurred_at, doctor, started + amended),
            (_moment(r.get("ended_at")), doctor, ended),
        ]
    if item.record_type == "prescription":
        drugs = [
            drug_text(item.reference, it) for it in r.get("items") or [] if isinstance(it, Mapping)
        ]
        signed = _("Prescription signed: %(drugs)s") % {"drugs": "、".join(drugs) or "—"}
        review = r.get("review") if isinstance(r.get("review"), Mapping) else None
        delivery = r.get("delivery") if isinstance(r.get("delivery"), Mapping) else None
        events: list[tuple[datetime | None, str, str]] = [
            (
                _moment(r.get("signed_at")) or item.occurred_at,
                who(r.get("prescriber_license_no")),
                signed + amended,
            )
        ]
        if review is not None:
            events.append(
                (
                    _moment(review.get("reviewed_at")),
                    who(review.get("pharmacist_license_no")),
                    _("Pharmacist review: %(result)s") % {"result": word(review.get("result"))},
                )
            )
        dispensed = _("Dispensed")
        if delivery is not None and delivery.get("method"):
            dispensed = _("Dispensed: %(method)s") % {"method": word(delivery["method"])}
        events.append((_moment(r.get("dispensed_at")), institution, dispensed))
        return events
    if item.record_type == "charge":
        day = (_moment(r.get("charged_at")) or item.occurred_at).astimezone(PROVINCE_ZONE).date()
        what = _("Charged %(amount)s for %(item)s, paid by %(payer)s") % {
            "amount": yuan(r.get("amount")) or str(r.get("amount")),
            "item": price_item_name(item.reference, r.get("item_code"), day, r.get("item_name")),
            "payer": word(r.get("payer")),
        }
        return [(_moment(r.get("charged_at")) or item.occurred_at, institution, what + amended)]
    return [(item.occurred_at, institution, word(item.record_type) + amended)]


def drug_text(reference: ReferenceSnapshot, item: Mapping[str, Any]) -> str:
    """A drug as people read it: its catalogue name in force, quantity and unit."""
    code = item.get("drug_code")
    known = reference.drugs.by_code.get(code) if isinstance(code, str) else None
    name = known.drug_name if known is not None else item.get("drug_name") or code
    quantity = item.get("quantity")
    unit = item.get("unit") or ""
    return f"{name} ×{quantity}{unit}" if quantity is not None else str(name)


def timeline_rows(
    records: Sequence[TimelineRecord],
    current_index: int,
    institution: str,
    _: Callable[[str], str],
    value_names: Mapping[str, str],
) -> list[TimelineRow]:
    """Every event of the consultation's records, oldest first (ties in ledger order)."""
    rows: list[TimelineRow] = []
    for item in records:
        for number, (at, actor, what) in enumerate(_events(item, institution, _, value_names)):
            if at is None:
                continue  # not (yet) happened: a prescription never dispensed, say
            rows.append(
                TimelineRow(
                    at,
                    actor,
                    what,
                    item.index,
                    item.record_id,
                    item.record_type,
                    item.findings if number == 0 else (),
                    item.proved if number == 0 else None,
                    item.index == current_index,
                    item.proof_pending and number == 0,
                    item.content_mismatch,
                )
            )
    rows.sort(key=lambda row: (row.at, row.index))
    return rows
