"""Finding triage: the state machine regulators move findings through, each step a ledger entry.

open -> acknowledged -> rectification_ordered (with a deadline) -> resolved | dismissed.
A finding may also be dismissed from any state before it is closed, and a
dismissal needs a reason. Every transition is a ``finding.action`` entry:
its public statement names the finding, the action and the state after it;
who did it, in which roles, why and the deadline are sealed, and projected
into ``finding_actions``. ``apply_action`` is the only way a finding's state
changes, live or on replay.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import Connection, insert, select, update

from ledger.database import read_transaction
from ledger.store import AppendResult, LedgerStore
from supervisor.custody.payload_keys import PayloadKeys
from supervisor.database import tables
from supervisor.ground.sealed_entries import open_sealed, sealed_entry

__all__ = [
    "ACTIONS",
    "FINDING_ACTION_ENTRY",
    "STATES",
    "TRIAGE_ROLES",
    "FindingTriage",
    "TriageError",
    "apply_action",
    "next_state",
    "open_action",
]

FINDING_ACTION_ENTRY = "finding.action"
STATES = ("open", "acknowledged", "rectification_ordered", "resolved", "dismissed")
#: action -> (states it may follow, state after it)
ACTIONS: Mapping[str, tuple[frozenset[str], str]] = {
    "acknowledge": (frozenset({"open"}), "acknowledged"),
    "order_rectification": (frozenset({"open", "acknowledged"}), "rectification_ordered"),
    "resolve": (frozenset({"rectification_ordered"}), "resolved"),
    "dismiss": (frozenset({"open", "acknowledged", "rectification_ordered"}), "dismissed"),
}
#: Who may move findings; auditors only read.
TRIAGE_ROLES = frozenset({"regulator", "supervisor"})


class TriageError(Exception):
    """The step is not allowed. ``status`` says how (as HTTP would): 422 for what was
    entered (no reason, no or a past deadline, an unknown action), 409 for the finding's
    state, 403 for the role, 404 for no such finding."""

    def __init__(self, message: str, status: int = 422) -> None:
        super().__init__(message)
        self.status = status


def next_state(state: str, action: str, *, reason: str, deadline: date | None, today: date) -> str:
    """The state after ``action`` from ``state``; raises ``TriageError`` saying why not."""
    if action not in ACTIONS:
        raise TriageError(f"unknown action {action!r}")
    allowed, after = ACTIONS[action]
    if state not in allowed:
        raise TriageError(f"a finding that is {state} cannot be given '{action}'", 409)
    if action == "dismiss" and len(reason.strip()) < 4:
        raise TriageError("a dismissal needs its reason")
    if action == "order_rectification":
        if deadline is None:
            raise TriageError("a rectification order needs a deadline")
        if deadline <= today:
            raise TriageError("the rectification deadline must be after today")
    return after


def apply_action(
    connection: Connection, index: int, details: Mapping[str, Any], at: datetime
) -> None:
    """Project one finding action: its row, and the finding's new state."""
    connection.execute(
        insert(tables.finding_actions).values(
            entry_index=index,
            finding_id=details["finding_id"],
            action=details["action"],
            state_after=details["state_after"],
            username=details["username"],
            roles=",".join(details["roles"]),
            reason=details["reason"],
            deadline=details["deadline"],
            at=tables.stored_time(at),
        )
    )
    connection.execute(
        update(tables.findings)
        .where(tables.findings.c.finding_id == details["finding_id"])
        .values(state=details["state_after"], rectification_deadline=details["deadline"])
    )


@dataclass(frozen=True)
class FindingAction:
    entry_index: int
    action: str
    state_after: str
    username: str
    reason: str
    deadline: str | None
    at: datetime


class FindingTriage:
    """Moves findings through their states, one ledger entry per step."""

    def __init__(
        self, store: LedgerStore, keys: PayloadKeys, clock: Callable[[], datetime]
    ) -> None:
        self.store = store
        self.keys = keys
        self.clock = clock

    def act(
        self,
        finding_id: str,
        action: str,
        *,
        username: str,
        roles: frozenset[str],
        reason: str = "",
        deadline: date | None = None,
    ) -> str:
        """Take ``action`` on the finding; returns the new state. Raises ``TriageError``."""
        if not roles & TRIAGE_ROLES:
            raise TriageError("auditors read findings; they do not triage them", 403)
        now = self.clock()
        with read_transaction(self.store.engine) as connection:
            state = connection.execute(
                select(tables.findings.c.state).where(tables.findings.c.finding_id == finding_id)
            ).scalar()
        if state is None:
            raise TriageError(f"no finding {finding_id}", 404)
        after = next_state(state, action, reason=reason, deadline=deadline, today=now.date())
        details = {
            "finding_id": finding_id,
            "action": action,
            "state_after": after,
            "username": username,
            "roles": sorted(roles),
            "reason": reason.strip()[:500],
            "deadline": None if deadline is None else deadline.isoformat(),
        }
        draft = sealed_entry(
            self.keys,
            FINDING_ACTION_ENTRY,
            "finding",
            now,
            public={"finding_id": finding_id, "action": action, "state_after": after},
            details=details,
        )

        def project(connection: Connection, result: AppendResult) -> None:
            # Compare-and-swap on the state: two people acting at once cannot both win.
            moved = connection.execute(
                update(tables.findings)
                .where(tables.findings.c.finding_id == finding_id, tables.findings.c.state == state)
                .values(state=after)
            )
            if moved.rowcount != 1:
                raise TriageError("the finding changed meanwhile; reload it", 409)
            apply_action(connection, result.first_index, details, now)

        self.store.append([draft], now=now, within=project)
        return after

    def history(self, finding_id: str) -> list[FindingAction]:
        rows = tables.finding_actions
        with read_transaction(self.store.engine) as connection:
            return [
                FindingAction(
                    r.entry_index,
                    r.action,
                    r.state_after,
                    r.username,
                    r.reason,
                    r.deadline,
                    tables.read_time(r.at),
                )
                for r in connection.execute(
                    select(rows).where(rows.c.finding_id == finding_id).order_by(rows.c.entry_index)
                )
            ]


def open_action(keys: PayloadKeys, leaf: bytes, payload: bytes | None) -> dict[str, Any]:
    """The sealed details of a finding action (for replay), checked against its leaf."""
    return open_sealed(keys, leaf, payload)
