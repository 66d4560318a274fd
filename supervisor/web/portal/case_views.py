"""The case queue (the findings' landing page), a case's page, its notices as files, and the
steps regulators take on cases, one or many at a time, through ``CaseService``.

The case page shows what a finding's page shows (rule, evidence in words, record ids
and links), never a record's content, so, like a finding's page, reading it is not a
look at patient-level data and writes no access entry; the record pages it links to do.
"""

from __future__ import annotations

import io
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from typing import Any

from flask import Response, abort, g, redirect, render_template, request, url_for
from flask_babel import gettext as _
from sqlalchemy import func, select

from ledger import schema as ledger_schema
from ledger.canonical import canonical_json
from ledger.database import read_transaction
from reports.notice_pdf import render_notice_pdf
from supervisor.cases.case_list import CASE_HEADERS, case_rows
from supervisor.cases.lifecycle import CASE_ROLES, CaseError
from supervisor.database import tables
from supervisor.ground.china_time import PROVINCE_ZONE
from supervisor.inspection.findings_export import write_table
from supervisor.web.current import services
from supervisor.web.portal import portal
from supervisor.web.portal.case_page import (
    PORTAL_ACTIONS,
    REVIEW_DECISIONS,
    allowed_actions,
    bulk_outcomes,
    case_action_names,
    case_state_names,
    case_timeline,
    is_overdue,
    notice_summary,
    refusal,
    response_view,
    review_words,
    step_actor,
    step_reason,
)
from supervisor.web.portal.case_queue import (
    ALL_STATES,
    SEVERITIES,
    CaseQueueFilter,
    case_queue,
    queued_cases,
)
from supervisor.web.portal.evidence_text import (
    EvidenceText,
    evidence_text,
    legal_bases,
    rule_titles,
)
from supervisor.web.portal.findings_views import institution_names
from supervisor.web.portal.sessions import PortalSession
from supervisor.web.portal.views import check_csrf, signed_in, value_names

FINDINGS_PAGE_SIZE = 50
#: Bulk steps from the queue; reviewing answers and escalating are done case by case.
BULK_ACTIONS = ("acknowledge", "order_rectification", "dismiss")
#: A bulk step names at most this many cases (a page of the queue).
_MOST_SELECTED = 200


def _today() -> date:
    return services().clock().astimezone(PROVINCE_ZONE).date()


def _may_act() -> bool:
    current: PortalSession = g.portal_session
    return bool(current.roles & CASE_ROLES)


def _common() -> dict[str, Any]:
    """What every case template names: states, actions, rules and institutions in words."""
    return {
        "case_states": case_state_names(_),
        "case_actions": case_action_names(_),
        "review_words": review_words(_),
        "rule_titles": rule_titles(_),
        "institution_names": institution_names(),
        "today": _today(),
        "is_overdue": is_overdue,
        "may_act": _may_act(),
    }


# -- the queue --------------------------------------------------------------------------


@dataclass(frozen=True)
class _BulkForm:
    """What was sent with a bulk step, kept on the page when it is shown again."""

    action: str = ""
    reason: str = ""
    deadline: str = ""
    selected: frozenset[str] = frozenset()


def _queue_page(
    wanted: CaseQueueFilter,
    problems: list[str],
    *,
    form: _BulkForm = _BulkForm(),
    outcomes: list[Any] | None = None,
    message: str | None = None,
    status: int = 200,
) -> tuple[str, int]:
    page = render_template(
        "portal/cases.html",
        wanted=wanted,
        problems=problems,
        result=case_queue(services().engine, wanted),
        all_states=ALL_STATES,
        severities=SEVERITIES,
        bulk_actions=BULK_ACTIONS,
        form=form,
        outcomes=outcomes,
        message=message,
        **_common(),
    )
    return page, status


@portal.get("/cases")
@signed_in
def cases() -> Any:
    wanted, problems = CaseQueueFilter.from_args(request.args)
    return _queue_page(wanted, problems)


@portal.get("/cases.csv")
@signed_in
def cases_csv() -> Response:
    """The filtered queue, every page: the columns of ``careledger cases list --format csv``."""
    wanted, _problems = CaseQueueFilter.from_args(request.args)
    out = io.BytesIO()
    write_table(case_rows(queued_cases(services().engine, wanted)), out, "csv", CASE_HEADERS)
    response = Response(out.getvalue(), mimetype="text/csv")
    response.headers["Content-Disposition"] = 'attachment; filename="careledger-cases.csv"'
    return response


@portal.post("/cases/actions")
@signed_in
def act_on_cases() -> Any:
    """One step, one reason or text, on every case selected; each case's outcome shown."""
    current: PortalSession = g.portal_session
    check_csrf(current.csrf_token)
    if not _may_act():
        abort(403, description=_("Auditors read cases; they do not act on them."))
    wanted, problems = CaseQueueFilter.from_args(request.form)
    selected = [c.strip()[:16] for c in request.form.getlist("case_id") if c.strip()]
    form = _BulkForm(
        request.form.get("action", ""),
        request.form.get("reason", ""),
        request.form.get("deadline", "").strip(),
        frozenset(selected),
    )

    def refused(text: str, status: int) -> tuple[str, int]:
        return _queue_page(wanted, problems, form=form, message=text, status=status)

    if form.action not in BULK_ACTIONS:
        return refused(_("Choose what to do with the cases selected."), 422)
    if not selected:
        return refused(_("Select at least one case."), 422)
    if len(selected) > _MOST_SELECTED:
        return refused(_("Select at most %(count)s cases at a time.", count=_MOST_SELECTED), 422)
    deadline, problem = _deadline(form.deadline)
    if problem:
        return refused(problem, 422)
    outcome = services().cases.act_on_many(
        selected,
        form.action,
        username=current.username,
        roles=current.roles,
        reason=form.reason,
        deadline=deadline,
    )
    outcomes = bulk_outcomes(outcome, _)
    if any(o.done for o in outcomes):
        return _queue_page(wanted, problems, outcomes=outcomes)
    # Nothing done: the step comes back as it was sent, to correct and send again.
    status = refusal(next(iter(outcome.values()))[len("error: ") :], _)[1]
    return _queue_page(wanted, problems, form=form, outcomes=outcomes, status=status)


def _deadline(text: str) -> tuple[date | None, str | None]:
    if not text:
        return None, None
    try:
        return date.fromisoformat(text), None
    except ValueError:
        return None, _("The deadline is not a date.")


# -- a case -----------------------------------------------------------------------------


@dataclass(frozen=True)
class _FindingRow:
    finding_id: str
    rule: str
    record_id: str
    record_index: int
    entry_index: int
    found_at: Any
    evidence: EvidenceText | None  # None: its sealed details cannot be read


def _findings(case_id: str, page: int) -> tuple[list[_FindingRow], int, int]:
    """One page of the case's findings with their evidence in words; the page and pages."""
    services_ = services()
    f, e = tables.findings.c, ledger_schema.entries.c
    with read_transaction(services_.engine) as connection:
        total = connection.execute(
            select(func.count()).select_from(tables.findings).where(f.case_id == case_id)
        ).scalar_one()
        pages = max(1, -(-total // FINDINGS_PAGE_SIZE))
        page = min(page, pages)
        rows = connection.execute(
            select(tables.findings, e.leaf, e.payload)
            .join(ledger_schema.entries, e.idx == f.entry_index)
            .where(f.case_id == case_id)
            .order_by(f.entry_index)
            .limit(FINDINGS_PAGE_SIZE)
            .offset((page - 1) * FINDINGS_PAGE_SIZE)
        ).all()
    snapshots: dict[bytes, Any] = {}
    words = value_names()
    shown = []
    for row in rows:
        try:
            sealed = services_.inspector.open_finding(row.leaf, row.payload)
        except Exception:  # shredded or altered: the projection's facts stay listed
            evidence = None
        else:
            versions = sealed.get("reference_versions") or {}
            key = canonical_json(versions)
            if key not in snapshots:  # most findings of a case name the same versions
                snapshots[key] = services_.reference.snapshot_of(versions)
            evidence = evidence_text(
                row.rule_id, sealed.get("evidence") or {}, snapshots[key], _, words
            )
        shown.append(
            _FindingRow(
                row.finding_id,
                row.rule_id,
                row.record_id,
                row.record_index,
                row.entry_index,
                tables.read_time(row.found_at),
                evidence,
            )
        )
    return shown, page, pages


def _generations(case: Any) -> list[Any]:
    """The other cases of the same cause (earlier and later generations)."""
    c = tables.cases.c
    with read_transaction(services().engine) as connection:
        return list(
            connection.execute(
                select(c.case_id, c.generation, c.state, c.first_seen)
                .where(c.case_key == case.case_key, c.case_id != case.case_id)
                .order_by(c.generation)
            )
        )


def _case_or_404(case_id: str) -> Any:
    case = services().cases.case(case_id[:16])
    if case is None:
        abort(404, description=_("There is no such case."))
    return case


def _case_page(
    case_id: str,
    *,
    message: str | None = None,
    status: int = 200,
    sent: Mapping[str, str] | None = None,
) -> tuple[str, int]:
    """The case's page; ``message`` says why a step was refused and ``sent`` keeps what was
    entered for it (nothing typed is lost)."""
    case = _case_or_404(case_id)
    cases_ = services().cases
    try:
        page = max(1, min(100_000, int(request.args.get("page", "1"))))
    except ValueError:
        page = 1
    findings, page, pages = _findings(case.case_id, page)
    events = cases_.events(case.case_id)
    answers = cases_.responses(case.case_id)
    responses = [response_view(r) for r in answers]
    rule = case.rule_id
    rendered = render_template(
        "portal/case.html",
        case=case,
        legal_basis=legal_bases(_).get(rule, ""),
        generations=_generations(case),
        findings=findings,
        page=page,
        pages=pages,
        notices=[notice_summary(d, case.notice_id) for d in cases_.notices_of_case(case.case_id)],
        responses=responses,
        pending=next((r for r in responses if r.review == "pending"), None),
        timeline=case_timeline(case, events, answers),
        actions=allowed_actions(case.state),
        review_decisions=REVIEW_DECISIONS,
        who=lambda step: step_actor(step, _),
        reason_of=lambda step: step_reason(step, _),
        message=message,
        sent=sent or {},
        **_common(),
    )
    return rendered, status


@portal.get("/cases/<case_id>")
@signed_in
def case(case_id: str) -> Any:
    return _case_page(case_id)


@portal.post("/cases/<case_id>/actions")
@signed_in
def act_on_case(case_id: str) -> Any:
    current: PortalSession = g.portal_session
    check_csrf(current.csrf_token)
    if not _may_act():
        abort(403, description=_("Auditors read cases; they do not act on them."))
    case = _case_or_404(case_id)
    action = request.form.get("action", "")
    reason = request.form.get("reason", "")
    sent = {"form": "action", "action": action, "reason": reason}
    sent["deadline"] = request.form.get("deadline", "").strip()
    deadline, problem = _deadline(sent["deadline"])
    if problem:
        return _case_page(case.case_id, message=problem, status=422, sent=sent)
    try:
        if action not in PORTAL_ACTIONS:
            raise CaseError(f"unknown action {action!r}")
        services().cases.take_step(
            case.case_id,
            action,
            username=current.username,
            roles=current.roles,
            reason=reason,
            deadline=deadline,
        )
    except CaseError as e:
        text, status = refusal(str(e), _)
        return _case_page(case.case_id, message=text, status=status, sent=sent)
    return redirect(url_for("portal.case", case_id=case.case_id))


@portal.post("/cases/<case_id>/responses/<response_id>/review")
@signed_in
def review_response(case_id: str, response_id: str) -> Any:
    """Accept the answer (the case closes), reject it with a reason and a new deadline, or
    escalate the case."""
    current: PortalSession = g.portal_session
    check_csrf(current.csrf_token)
    if not _may_act():
        abort(403, description=_("Auditors read cases; they do not act on them."))
    case = _case_or_404(case_id)
    decision = request.form.get("decision", "")
    reason = request.form.get("reason", "")
    sent = {"form": "review", "decision": decision, "reason": reason}
    sent["deadline"] = request.form.get("deadline", "").strip()
    deadline, problem = _deadline(sent["deadline"])
    if problem:
        return _case_page(case.case_id, message=problem, status=422, sent=sent)
    cases_ = services().cases
    if response_id not in {r.response_id for r in cases_.responses(case.case_id)}:
        abort(404, description=_("There is no such answer."))
    try:
        if decision == "escalate":
            cases_.act(
                case.case_id,
                "escalate",
                username=current.username,
                roles=current.roles,
                reason=reason,
            )
        elif decision in ("accept", "reject"):
            cases_.review(
                response_id,
                accept=decision == "accept",
                username=current.username,
                roles=current.roles,
                reason=reason,
                deadline=deadline,
            )
        else:
            raise CaseError(f"unknown action {decision!r}")
    except CaseError as e:
        text, status = refusal(str(e), _)
        return _case_page(case.case_id, message=text, status=status, sent=sent)
    return redirect(url_for("portal.case", case_id=case.case_id))


# -- a case's notices as files ------------------------------------------------------------


def _notice(case_id: str, notice_id: str) -> dict[str, Any]:
    case = _case_or_404(case_id)
    for document in services().cases.notices_of_case(case.case_id):
        if document["notice_id"] == notice_id:
            return document
    abort(404, description=_("This case has no such notice."))


@portal.get("/cases/<case_id>/notices/<notice_id>.json")
@signed_in
def notice_json(case_id: str, notice_id: str) -> Response:
    """The notice as the ledger sealed it (RFC 8785 canonical JSON)."""
    document = _notice(case_id, notice_id)
    response = Response(canonical_json(document), mimetype="application/json")
    response.headers["Content-Disposition"] = f'attachment; filename="{notice_id}.json"'
    return response


@portal.get("/cases/<case_id>/notices/<notice_id>.pdf")
@signed_in
def notice_pdf(case_id: str, notice_id: str) -> Response:
    """The notice (整改通知书) as a PDF in Chinese, rendered from the sealed document."""
    document = _notice(case_id, notice_id)
    response = Response(render_notice_pdf(document), mimetype="application/pdf")
    response.headers["Content-Disposition"] = f'attachment; filename="{notice_id}.pdf"'
    return response
