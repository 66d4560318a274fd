"""``case.event`` entries: one per step taken on a case, and how each is projected.

The leaf states which case, which step and the state after it (and the notice or
response it concerns); who acted, in which roles, why, the deadline and the
notice's whole document are sealed. ``apply_case_event`` is the only way a case's
state, deadline or notice changes, live and on replay.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, insert, update

from ledger.canonical import canonical_json
from supervisor.database import tables

__all__ = ["CASE_EVENT_ENTRY", "apply_case_event", "event_statement"]

CASE_EVENT_ENTRY = "case.event"


def event_statement(details: Mapping[str, Any]) -> dict[str, Any]:
    """What the leaf says in public about a step (no names, no reasons, no evidence)."""
    public: dict[str, Any] = {
        "case_id": details["case_id"],
        "action": details["action"],
        "state_after": details["state_after"],
    }
    if details.get("notice") is not None:
        public["notice_id"] = details["notice"]["notice_id"]
    if details.get("response_id") is not None:
        public["response_id"] = details["response_id"]
    return public


def apply_case_event(
    connection: Connection, index: int, details: Mapping[str, Any], at: datetime
) -> None:
    """Project one case event: its row, the case's state and deadline, the notice it
    issued and the review of the response it decided."""
    stored_at = tables.stored_time(at)
    notice = details.get("notice")
    connection.execute(
        insert(tables.case_events).values(
            entry_index=index,
            case_id=details["case_id"],
            action=details["action"],
            state_after=details["state_after"],
            username=details["username"],
            roles=",".join(details["roles"]),
            reason=details["reason"],
            deadline=details["deadline"],
            notice_id=None if notice is None else notice["notice_id"],
            response_id=details.get("response_id"),
            at=stored_at,
        )
    )
    changes: dict[str, Any] = {"state": details["state_after"], "updated_at": stored_at}
    if details["deadline"] is not None:
        changes["deadline"] = details["deadline"]
    if notice is not None:
        changes["notice_id"] = notice["notice_id"]
        connection.execute(
            insert(tables.notices).values(
                notice_id=notice["notice_id"],
                case_id=details["case_id"],
                institution_code=notice["institution_code"],
                entry_index=index,
                issued_at=stored_at,
                deadline=notice["deadline"],
                document=canonical_json(notice).decode(),
            )
        )
    connection.execute(
        update(tables.cases).where(tables.cases.c.case_id == details["case_id"]).values(changes)
    )
    if details["action"] == "dismiss":
        # An answer nobody will review now: it no longer reads as awaiting review.
        connection.execute(
            update(tables.notice_responses)
            .where(
                tables.notice_responses.c.case_id == details["case_id"],
                tables.notice_responses.c.review == "pending",
            )
            .values(review="withdrawn")
        )
    if details["action"] in {"accept", "reject"}:
        connection.execute(
            update(tables.notice_responses)
            .where(tables.notice_responses.c.response_id == details["response_id"])
            .values(
                review="accepted" if details["action"] == "accept" else "rejected",
                review_reason=details["reason"] or None,
            )
        )
