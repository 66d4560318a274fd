"""The findings queue and a finding's page, where regulators move findings through triage."""

from __future__ import annotations

from datetime import date
from typing import Any

from flask import abort, g, redirect, render_template, request, url_for
from flask_babel import gettext as _
from sqlalchemy import select

from supervisor.custody.payload_keys import PayloadShreddedError, SealedPayloadError
from supervisor.database import tables
from supervisor.ground.records import PayloadMismatchError
from supervisor.inspection.triage import ACTIONS, TRIAGE_ROLES, TriageError
from supervisor.web.current import services
from supervisor.web.portal import portal
from supervisor.web.portal.findings_page import FindingFilter, findings_page
from supervisor.web.portal.sessions import PortalSession
from supervisor.web.portal.views import check_csrf, signed_in


@portal.get("/findings")
@signed_in
def findings() -> str:
    wanted = FindingFilter.from_args(request.args)
    return render_template(
        "portal/findings.html", wanted=wanted, result=findings_page(services().engine, wanted)
    )


def _finding_page(finding_id: str, message: str | None = None, status: int = 200) -> Any:
    services_ = services()
    with services_.engine.connect() as connection:
        row = connection.execute(
            select(tables.findings).where(tables.findings.c.finding_id == finding_id[:32])
        ).first()
    if row is None:
        abort(404, description=_("There is no such finding."))
    stored = services_.store.entry(row.entry_index)
    unreadable = None
    try:
        finding = services_.inspector.open_finding(stored.leaf, stored.payload)
    except (SealedPayloadError, PayloadMismatchError) as e:
        # What the projection knows stays on the page; the sealed details do not.
        unreadable = (
            _("This finding's sealed details were destroyed at the end of their retention.")
            if isinstance(e, PayloadShreddedError)
            else _(
                "This finding's stored details do not match what the ledger committed to: "
                "they were altered in the database and are not shown. Report this to the "
                "system administrator."
            )
        )
        finding = {
            "finding_id": row.finding_id,
            "rule": row.rule_id,
            "severity": row.severity,
            "legal_basis": "—",
            "record_index": row.record_index,
            "record_id": row.record_id,
            "evidence": {},
            "reference_versions": {},
            "policy_sha256": "—",
        }
    current: PortalSession = g.portal_session
    actions = [a for a, (before, _after) in ACTIONS.items() if row.state in before]
    page = render_template(
        "portal/finding.html",
        finding=finding,
        unreadable=unreadable,
        state=row.state,
        deadline=row.rectification_deadline,
        history=services_.triage.history(row.finding_id),
        actions=actions,
        can_triage=bool(current.roles & TRIAGE_ROLES),
        message=message,
    )
    return page, status


@portal.get("/findings/<finding_id>")
@signed_in
def finding(finding_id: str) -> Any:
    return _finding_page(finding_id)


@portal.post("/findings/<finding_id>/actions")
@signed_in
def act_on_finding(finding_id: str) -> Any:
    current: PortalSession = g.portal_session
    check_csrf(current.csrf_token)
    if not current.roles & TRIAGE_ROLES:
        abort(403, description=_("Auditors read findings; they do not triage them."))
    deadline_text = request.form.get("deadline", "").strip()
    try:
        deadline = date.fromisoformat(deadline_text) if deadline_text else None
    except ValueError:
        return _finding_page(finding_id, _("The deadline is not a date."), 400)
    try:
        services().triage.act(
            finding_id[:32],
            request.form.get("action", ""),
            username=current.username,
            roles=current.roles,
            reason=request.form.get("reason", ""),
            deadline=deadline,
        )
    except TriageError as refused:
        return _finding_page(finding_id, _triage_message(str(refused)), refused.status)
    return redirect(url_for("portal.finding", finding_id=finding_id[:32]))


def _triage_message(reason: str) -> str:
    """The refusal in the reader's language (the service's reasons are English)."""
    known = {
        "a dismissal needs its reason": _("A dismissal needs its reason."),
        "a rectification order needs a deadline": _("A rectification order needs a deadline."),
        "the rectification deadline must be after today": _(
            "The rectification deadline must be after today."
        ),
        "the finding changed meanwhile; reload it": _(
            "Someone changed this finding meanwhile; reload it."
        ),
    }
    return str(known.get(reason, _("This step is not allowed now: %(reason)s", reason=reason)))
