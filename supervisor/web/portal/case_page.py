"""A case as the portal shows it: its state and actions in words, its timeline, its notices
and responses, and the service's refusals in the reader's language. Pure: rows and
documents in (already read), view values out; gettext is passed in."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

import orjson

from supervisor.cases.lifecycle import CASE_ACTIONS, MAX_TEXT, MIN_REASON
from supervisor.cases.service import SCHEDULER_ACTOR
from supervisor.database import tables
from supervisor.inspection.case_grouping import TERMINAL_CASE_STATES
from supervisor.web.portal.evidence_text import Gettext

__all__ = [
    "PORTAL_ACTIONS",
    "REVIEW_DECISIONS",
    "Attachment",
    "BulkOutcome",
    "NoticeSummary",
    "ResponseView",
    "TimelineStep",
    "allowed_actions",
    "bulk_outcomes",
    "case_action_names",
    "case_state_names",
    "case_timeline",
    "is_overdue",
    "notice_summary",
    "refusal",
    "response_view",
    "review_words",
    "step_actor",
    "step_reason",
]

#: The steps a regulator takes on a case itself (answers are reviewed on their own form).
PORTAL_ACTIONS = ("acknowledge", "order_rectification", "escalate", "dismiss")
#: What a regulator may decide about a pending response.
REVIEW_DECISIONS = ("accept", "reject", "escalate")
#: States in which a deadline binds the institution (a notice awaits or was answered).
_DEADLINE_STATES = frozenset({"rectification_ordered", "responded", "escalated"})


def case_state_names(_: Gettext) -> dict[str, str]:
    return {
        "open": _("open"),
        "acknowledged": _("acknowledged"),
        "rectification_ordered": _("rectification ordered"),
        "responded": _("answered, awaiting review"),
        "escalated": _("escalated"),
        "closed": _("closed"),
        "dismissed": _("dismissed"),
    }


def case_action_names(_: Gettext) -> dict[str, str]:
    return {
        "opened": _("case opened"),
        "acknowledge": _("acknowledge"),
        "order_rectification": _("order rectification"),
        "respond": _("institution answered"),
        "accept": _("accept the answer"),
        "reject": _("reject the answer"),
        "escalate": _("escalate"),
        "dismiss": _("dismiss"),
    }


def review_words(_: Gettext) -> dict[str, str]:
    """Response kinds and review outcomes."""
    return {
        "rectified": _("rectified"),
        "objection": _("objection"),
        "pending": _("awaiting review"),
        "accepted": _("accepted"),
        "rejected": _("rejected"),
    }


def allowed_actions(state: str) -> list[str]:
    """The portal's case steps the state allows, in ``PORTAL_ACTIONS`` order."""
    return [a for a in PORTAL_ACTIONS if state in CASE_ACTIONS[a][0]]


def is_overdue(state: str, deadline: str | None, today: date) -> bool:
    """A deadline the institution was held to has passed and the case is not final."""
    if not deadline or state in TERMINAL_CASE_STATES or state not in _DEADLINE_STATES:
        return False
    try:
        return date.fromisoformat(deadline) < today
    except ValueError:
        return False


@dataclass(frozen=True)
class TimelineStep:
    entry_index: int
    at: datetime
    action: str  # a ``case_action_names`` key
    who: str  # a person, the scheduler, or the answering platform
    state_after: str
    reason: str
    deadline: str | None
    notice_id: str | None
    response_id: str | None


def case_timeline(
    opened: Any, events: Iterable[Any], responses: Iterable[Any]
) -> list[TimelineStep]:
    """Every step in ledger order: the finding that opened the case (``opened``: the
    ``cases`` row), each ``case_events`` row and each ``notice_responses`` row."""
    steps = [
        TimelineStep(
            opened.opened_index,
            tables.read_time(opened.first_seen),
            "opened",
            "",
            "open",
            "",
            None,
            None,
            None,
        )
    ]
    steps += [
        TimelineStep(
            e.entry_index,
            tables.read_time(e.at),
            e.action,
            e.username,
            e.state_after,
            e.reason,
            e.deadline,
            e.notice_id,
            e.response_id,
        )
        for e in events
    ]
    steps += [
        TimelineStep(
            r.entry_index,
            tables.read_time(r.received_at),
            "respond",
            r.platform_id,
            "responded",
            "",
            None,
            r.notice_id,
            r.response_id,
        )
        for r in responses
    ]
    return sorted(steps, key=lambda step: step.entry_index)


def step_actor(step: TimelineStep, _: Gettext) -> str:
    """Who took the step, as the reader names them."""
    if step.action == "opened":
        return _("inspection")
    if step.who == SCHEDULER_ACTOR:
        return _("the scheduler (deadline check)")
    if step.action == "respond":
        return _("platform %(platform)s", platform=step.who)
    return step.who


def step_reason(step: TimelineStep, _: Gettext) -> str:
    """The step's reason; the scheduler's own (sealed in both languages) in the reader's."""
    if step.who == SCHEDULER_ACTOR and step.action == "escalate":
        passed = re.search(r"\d{4}-\d{2}-\d{2}", step.reason)
        if passed:
            return _(
                "The deadline %(date)s passed without an accepted answer.", date=passed.group()
            )
    return step.reason


@dataclass(frozen=True)
class Attachment:
    name: str
    sha256: str
    size: int


@dataclass(frozen=True)
class ResponseView:
    response_id: str
    notice_id: str
    platform_id: str
    kind: str
    statement: str
    attachments: tuple[Attachment, ...]
    received_at: datetime
    entry_index: int
    review: str  # pending, accepted, rejected
    review_reason: str | None


def response_view(row: Any) -> ResponseView:
    """A ``notice_responses`` row; its attachments as the platform listed them."""
    listed = orjson.loads(row.attachments) if row.attachments else []
    return ResponseView(
        row.response_id,
        row.notice_id,
        row.platform_id,
        row.kind,
        row.statement,
        tuple(
            Attachment(str(a.get("name", "")), str(a.get("sha256", "")), int(a.get("size", 0)))
            for a in listed
            if isinstance(a, dict)
        ),
        tables.read_time(row.received_at),
        row.entry_index,
        row.review,
        row.review_reason,
    )


@dataclass(frozen=True)
class NoticeSummary:
    notice_id: str
    issued_at: datetime | None
    issued_by: str
    deadline: str
    required_action: str
    finding_count: int
    current: bool  # the case's notice in force (a later one replaces it)


def notice_summary(document: Mapping[str, Any], current_notice: str | None) -> NoticeSummary:
    """A notice document (``notice_document``) as its summary on the case page."""
    try:
        issued = datetime.fromisoformat(str(document.get("issued_at")))
    except ValueError:
        issued = None
    return NoticeSummary(
        str(document["notice_id"]),
        issued,
        str(document.get("issued_by", "")),
        str(document.get("deadline", "")),
        str(document.get("required_action", "")),
        int(document.get("finding_count", len(document.get("findings", [])))),
        document["notice_id"] == current_notice,
    )


# -- the service's refusals, in the reader's language ----------------------------------------


def refusal(message: str, _: Gettext) -> tuple[str, int]:
    """A ``CaseError`` message (English) as the reader's sentence and its HTTP status:
    403 the role, 404 no such case or answer, 409 the case's state, 422 what was entered."""
    states, actions = case_state_names(_), case_action_names(_)
    found = re.fullmatch(r"a case that is (\w+) cannot be given '(\w+)'", message)
    if found:
        state, action = found.groups()
        return (
            _(
                "A case that is %(state)s cannot be given “%(action)s”.",
                state=states.get(state, state),
                action=actions.get(action, action),
            ),
            409,
        )
    found = re.fullmatch(r"'(\w+)' needs (what must be done|its reason) \(.*\)", message)
    if found:
        if found.group(2) == "what must be done":
            text = _(
                "Ordering rectification needs what must be done (at least %(count)s characters).",
                count=MIN_REASON,
            )
        else:
            text = _(
                "“%(action)s” needs its reason (at least %(count)s characters).",
                action=actions.get(found.group(1), found.group(1)),
                count=MIN_REASON,
            )
        return text, 422
    found = re.fullmatch(r"'(\w+)' needs a deadline", message)
    if found:
        action = actions.get(found.group(1), found.group(1))
        return _("“%(action)s” needs a deadline.", action=action), 422
    if message == "the deadline must be after today":
        return _("The deadline must be after today."), 422
    if message.startswith("the text is longer than"):
        return _("The text is longer than %(count)s characters.", count=MAX_TEXT), 422
    if message == "auditors read cases; they do not act on them":
        return _("Auditors read cases; they do not act on them."), 403
    found = re.fullmatch(r"no case (\S+)", message)
    if found:
        return _("There is no case %(case_id)s.", case_id=found.group(1)), 404
    found = re.fullmatch(r"no response (\S+)", message)
    if found:
        return _("There is no such answer."), 404
    found = re.fullmatch(r"response \S+ was (\w+) already", message)
    if found:
        review = review_words(_).get(found.group(1), found.group(1))
        return _("This answer was reviewed already: %(review)s.", review=review), 409
    if re.fullmatch(r"response \S+ was reviewed meanwhile; reload it", message):
        return _("Someone reviewed this answer meanwhile; reload the page."), 409
    if re.fullmatch(r"response \S+ awaits review: accept or reject it first", message):
        return _("An answer awaits review: accept or reject it first."), 409
    if message.startswith("the text "):
        return _("The text holds control or direction characters; type it again."), 422
    if message == "the case changed meanwhile; reload it":
        return _("Someone changed this case meanwhile; reload it."), 409
    return _("This step is not allowed now: %(reason)s", reason=message), 422


@dataclass(frozen=True)
class BulkOutcome:
    case_id: str
    done: bool
    text: str  # the state it is now in, or why nothing was done


def bulk_outcomes(outcome: Mapping[str, str], _: Gettext) -> list[BulkOutcome]:
    """``CaseService.act_on_many``'s answer (a state, or ``error: <why>``) in words."""
    states = case_state_names(_)
    shown = []
    for case_id, result in outcome.items():
        if result.startswith("error: "):
            shown.append(BulkOutcome(case_id, False, refusal(result[len("error: ") :], _)[0]))
        else:
            shown.append(
                BulkOutcome(
                    case_id, True, _("done: now %(state)s", state=states.get(result, result))
                )
            )
    return shown
