"""The digest's drugs section (digest-v3 on): what the inspector found about dispensing
and delivery during the period, the double fills with every pharmacy involved, controlled
drugs sold online or by courier, and cold-chain breaches.

Pure: the same facts give the same section. "New" means entered the ledger during the
period, as for the rest of the digest; a case is new in the period its first finding
entered the ledger.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from .facts import FindingFact, LedgerFacts
from .periods import Period, date_of_day, day_number
from .pharmacy_facts import COLD_CHAIN_SHIPPED, EXCURSION, ONLINE
from .pharmacy_indicators import COLD_CHAIN, CONTROLLED, DOUBLE_FILL, double_fill_row

__all__ = ["drugs_section"]


def _found_on(finding: FindingFact) -> str:
    return date_of_day(day_number(finding.found_at)).isoformat()


def _controlled_row(facts: LedgerFacts, finding: FindingFact) -> dict[str, Any]:
    pharmacy = facts.pharmacy
    slot = pharmacy.dispensing_slot(finding.record_index)
    what: str | None
    if slot is not None:
        what = "dispensing"
        channel: str | None = "online" if pharmacy.dispensing_flags[slot] & ONLINE else "in_store"
    else:
        what = "delivery" if pharmacy.delivery_slot(finding.record_index) is not None else None
        channel = None
    return {
        "finding_id": finding.finding_id,
        "case_id": finding.case_id,
        "institution_code": finding.institution_code,
        "name": pharmacy.name(finding.institution_code),
        "record_id": finding.record_id,
        "record_type": what,
        "channel": channel,
        "found_on": _found_on(finding),
        "state": finding.state,
    }


def _cold_chain_row(facts: LedgerFacts, finding: FindingFact) -> dict[str, Any]:
    pharmacy = facts.pharmacy
    slot = pharmacy.delivery_slot(finding.record_index)
    reasons = []
    if slot is not None:
        flags = pharmacy.delivery_flags[slot]
        if not flags & COLD_CHAIN_SHIPPED:
            reasons.append("no_cold_chain")
        if flags & EXCURSION:
            reasons.append("excursion")
    return {
        "finding_id": finding.finding_id,
        "case_id": finding.case_id,
        "institution_code": finding.institution_code,
        "name": pharmacy.name(finding.institution_code),
        "record_id": finding.record_id,
        "reasons": reasons,
        "found_on": _found_on(finding),
        "state": finding.state,
    }


def _records_in(facts: LedgerFacts, period: Period) -> dict[str, int]:
    pharmacy = facts.pharmacy
    dispensings = online = deliveries = 0
    for slot, day in enumerate(pharmacy.dispensing_day):
        if period.contains(day) and slot not in pharmacy.dispensing_superseded:
            dispensings += 1
            online += bool(pharmacy.dispensing_flags[slot] & ONLINE)
    for slot, day in enumerate(pharmacy.delivery_day):
        if period.contains(day) and slot not in pharmacy.delivery_superseded:
            deliveries += 1
    return {"dispensings": dispensings, "online_dispensings": online, "deliveries": deliveries}


def _order(row: dict[str, Any]) -> tuple[str, str, str]:
    return (row["found_on"], row["institution_code"], row["finding_id"])


def drugs_section(facts: LedgerFacts, period: Period) -> dict[str, Any]:
    """The drugs section of the digest for ``period``."""
    found = [
        f
        for f in facts.findings.values()
        if f.family == "DISP" and period.contains(day_number(f.found_at))
    ]
    opened = [
        c
        for c in facts.cases.values()
        if c.rule.startswith("DISP-") and period.contains(day_number(c.first_found))
    ]
    by_rule = Counter(f.rule for f in found)
    cases_by_rule = Counter(c.rule for c in opened)
    return {
        "records": _records_in(facts, period),
        "new_findings": {"total": len(found), "by_rule": dict(sorted(by_rule.items()))},
        "new_cases": {"total": len(opened), "by_rule": dict(sorted(cases_by_rule.items()))},
        "double_fills": sorted(
            (double_fill_row(facts, f) for f in found if f.rule == DOUBLE_FILL), key=_order
        ),
        "controlled_online": sorted(
            (_controlled_row(facts, f) for f in found if f.rule == CONTROLLED), key=_order
        ),
        "cold_chain_breaches": sorted(
            (_cold_chain_row(facts, f) for f in found if f.rule == COLD_CHAIN), key=_order
        ),
    }
