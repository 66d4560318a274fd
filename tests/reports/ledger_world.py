"""Hand-made ledger facts for report tests: records and findings fed in ledger order."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from reports.facts import FactsBuilder, LedgerFacts


class World:
    """Appends records and findings with increasing indices, as the ledger would."""

    def __init__(self) -> None:
        self.builder = FactsBuilder()
        self.next_index = 0
        self.index_of: dict[str, int] = {}

    def _take(self) -> int:
        index = self.next_index
        self.next_index += 1
        return index

    def institution(self, code: str, name: str, kind: str) -> None:
        self.builder.add_record(
            self._take(),
            {"type": "institution", "institution_code": code, "name": name, "kind": kind},
        )

    def practitioner(self, licence: str, name: str) -> None:
        self.builder.add_record(
            self._take(),
            {"type": "practitioner", "institution_code": "X", "license_no": licence, "name": name},
        )

    def consultation(
        self,
        rid: str,
        code: str,
        at: str,
        *,
        doctor: str = "D1",
        satisfaction: int | None = None,
        amends: str | None = None,
    ) -> None:
        record: dict[str, Any] = {
            "type": "consultation",
            "record_id": rid,
            "institution_code": code,
            "occurred_at": at,
            "practitioner_license_no": doctor,
        }
        if satisfaction is not None:
            record["satisfaction"] = satisfaction
        if amends is not None:
            record["amends"] = amends
        self._add(rid, record)

    def prescription(
        self,
        rid: str,
        code: str,
        at: str,
        *,
        reviewed_at: str | None,
        doctor: str = "D1",
        amounts: tuple[str, ...] = ("10.00",),
    ) -> None:
        review = (
            None
            if reviewed_at is None
            else {"pharmacist_license_no": "P1", "reviewed_at": reviewed_at, "result": "approved"}
        )
        self._add(
            rid,
            {
                "type": "prescription",
                "record_id": rid,
                "institution_code": code,
                "occurred_at": at,
                "signed_at": at,
                "prescriber_license_no": doctor,
                "items": [{"quantity": "1", "unit_price": a} for a in amounts],
                "review": review,
            },
        )

    def charge(
        self, rid: str, code: str, at: str, price: str = "25.00", amends: str | None = None
    ) -> None:
        record: dict[str, Any] = {
            "type": "charge",
            "record_id": rid,
            "institution_code": code,
            "occurred_at": at,
            "quantity": "1",
            "unit_price": price,
        }
        if amends is not None:
            record["amends"] = amends
        self._add(rid, record)

    def _add(self, rid: str, record: dict[str, Any]) -> None:
        index = self._take()
        self.index_of[rid] = index
        self.builder.add_record(index, record)

    def finding(
        self, fid: str, rule: str, on: str, code: str, found_at: str, *, severity: str = "high"
    ) -> None:
        self._take()
        self.builder.add_finding(
            {
                "finding_id": fid,
                "rule": rule,
                "severity": severity,
                "institution_code": code,
                "record_index": self.index_of[on],
                "record_id": on,
            },
            datetime.fromisoformat(found_at),
        )

    def action(
        self, fid: str, action: str, state_after: str, at: str, deadline: str | None = None
    ) -> None:
        self._take()
        self.builder.add_finding_action(
            {"finding_id": fid, "action": action, "state_after": state_after, "deadline": deadline},
            datetime.fromisoformat(at),
        )

    def facts(self) -> LedgerFacts:
        return self.builder.finish(self.next_index)
