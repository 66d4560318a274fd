"""The case state machine: which step may follow which, and what each step needs. Pure.

open -> acknowledged -> rectification_ordered (a notice, a deadline) -> responded
(the platform answered) -> closed (accepted) | rectification_ordered (rejected, a
new deadline). Escalation (by a person, or by the scheduler when a deadline passes
without an accepted answer) and dismissal (with a reason) are open from any state
that is not final. Closed and dismissed are final: a recurrence opens a new case.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date

from supervisor.ground.plain_text import unprintable
from supervisor.inspection.case_grouping import OPEN_CASE_STATES

__all__ = [
    "CASE_ACTIONS",
    "CASE_ROLES",
    "CaseError",
    "next_case_state",
]

_NOT_FINAL = frozenset(OPEN_CASE_STATES)
#: action -> (states it may follow, state after it)
CASE_ACTIONS: Mapping[str, tuple[frozenset[str], str]] = {
    "acknowledge": (frozenset({"open"}), "acknowledged"),
    "order_rectification": (
        frozenset({"open", "acknowledged", "escalated"}),
        "rectification_ordered",
    ),
    "respond": (frozenset({"rectification_ordered", "escalated"}), "responded"),
    # An answer escalated while it awaited review is still reviewed (``review`` requires a
    # pending response).
    "accept": (frozenset({"responded", "escalated"}), "closed"),
    "reject": (frozenset({"responded", "escalated"}), "rectification_ordered"),
    "escalate": (_NOT_FINAL - {"escalated"}, "escalated"),
    "dismiss": (_NOT_FINAL, "dismissed"),
}
#: Who may act on cases; auditors only read.
CASE_ROLES = frozenset({"regulator", "supervisor"})
MIN_REASON = 4
MAX_TEXT = 2000


class CaseError(Exception):
    """The step is not allowed. ``status`` says how, as HTTP would: 422 for what was
    entered, 409 for the case's state, 403 for the role, 404 for no such case."""

    def __init__(self, message: str, status: int = 422) -> None:
        super().__init__(message)
        self.status = status


def next_case_state(
    state: str, action: str, *, reason: str, deadline: date | None, today: date
) -> str:
    """The state after ``action`` from ``state``; raises ``CaseError`` saying why not."""
    if action not in CASE_ACTIONS:
        raise CaseError(f"unknown action {action!r}")
    allowed, after = CASE_ACTIONS[action]
    if state not in allowed:
        raise CaseError(f"a case that is {state} cannot be given '{action}'", 409)
    text = reason.strip()
    if (
        action in {"dismiss", "reject", "escalate", "order_rectification"}
        and len(text) < MIN_REASON
    ):
        what = "what must be done" if action == "order_rectification" else "its reason"
        raise CaseError(f"'{action}' needs {what} (at least {MIN_REASON} characters)")
    if len(text) > MAX_TEXT:
        raise CaseError(f"the text is longer than {MAX_TEXT} characters")
    problem = unprintable(text, multiline=True)
    if problem is not None:
        raise CaseError(f"the text {problem}")
    if action in {"order_rectification", "reject"}:
        if deadline is None:
            raise CaseError(f"'{action}' needs a deadline")
        if deadline <= today:
            raise CaseError("the deadline must be after today")
    return after
