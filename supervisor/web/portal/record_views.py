"""A record's page, a patient's access trail, and record search with its export.

Every look at patient-level data is recorded in the access trail first."""

from __future__ import annotations

from typing import Any

from flask import Response, abort, g, redirect, render_template, request, url_for
from flask_babel import gettext as _

from supervisor.web.current import services
from supervisor.web.portal import portal
from supervisor.web.portal.context import portal_context
from supervisor.web.portal.record_page import IDENTITY_ROLES, load_record_view, mask_identity
from supervisor.web.portal.search import RecordQuery, csv_rows, search_records
from supervisor.web.portal.sessions import PortalSession
from supervisor.web.portal.views import check_csrf, signed_in


def _needs_purpose() -> Any:
    """Send the person to state a purpose first (then back here, query included)."""
    back = request.full_path.rstrip("?")
    return redirect(url_for("portal.state_purpose", back=back))


@portal.route("/purpose", methods=["GET", "POST"])
@signed_in
def state_purpose() -> Any:
    current: PortalSession = g.portal_session
    back = request.values.get("back", "")
    if not back.startswith("/portal/") or back.startswith("//"):
        back = url_for("portal.home")
    message = None
    if request.method == "POST":
        check_csrf(current.csrf_token)
        purpose = " ".join(request.form.get("purpose", "").split())
        if 4 <= len(purpose) <= 200:
            portal_context().sessions.state_purpose(current.session_id, purpose)
            return redirect(back)
        message = _("State the purpose in 4 to 200 characters.")
    return render_template("portal/purpose.html", back=back, message=message)


@portal.get("/records/<int:index>")
@signed_in
def record(index: int) -> Any:
    current: PortalSession = g.portal_session
    if not current.purpose:
        return _needs_purpose()
    view = load_record_view(services(), index)
    if view is None:
        abort(404, description=_("There is no record at this ledger index."))
    # The trail is written before anything is shown: a view that is not recorded never happens.
    services().access.record(
        "viewed_record",
        username=current.username,
        roles=current.roles,
        purpose=current.purpose,
        subject_index=index,
        patient_pseudonym=view.patient_pseudonym,
    )
    can_see_identity = bool(current.roles & IDENTITY_ROLES)
    shown = view.record
    if shown is not None and not can_see_identity:
        shown = mask_identity(shown)
    return render_template(
        "portal/record.html",
        view=view,
        record=shown,
        masked=not can_see_identity,
        can_see_identity=can_see_identity,
        trail=services().access.events(subject_index=index),
    )


@portal.get("/patients/<pseudonym>/access")
@signed_in
def patient_access(pseudonym: str) -> Any:
    current: PortalSession = g.portal_session
    if not current.roles & IDENTITY_ROLES:
        abort(403, description=_("Your role does not work with patient identities."))
    return render_template(
        "portal/patient_access.html",
        pseudonym=pseudonym[:64],
        events=services().access.events(patient_pseudonym=pseudonym[:64]),
    )


def _search_scope() -> tuple[RecordQuery, list[str], str | None] | Any:
    """The query, its problems and the patient's pseudonym; or where to go first."""
    query, problems = RecordQuery.from_args(request.args)
    current: PortalSession = g.portal_session
    if not query.patient_id:
        return query, problems, None
    if not current.roles & IDENTITY_ROLES:
        abort(403, description=_("Your role does not work with patient identities."))
    if not current.purpose:
        return _needs_purpose()
    return query, problems, services().keys.pseudonym("patient", query.patient_id)


@portal.get("/search")
@signed_in
def search() -> Any:
    scope = _search_scope()
    if not isinstance(scope, tuple):
        return scope
    query, problems, pseudonym = scope
    current: PortalSession = g.portal_session
    result = next_url = None
    if not query.empty:
        if pseudonym is not None:
            services().access.record(
                "searched_patient",
                username=current.username,
                roles=current.roles,
                purpose=current.purpose or "",
                patient_pseudonym=pseudonym,
            )
        result = search_records(services().engine, query, pseudonym)
        if result.page < result.pages:
            args: dict[str, Any] = {k: v for k, v in request.args.items() if k != "page"}
            args["page"] = result.page + 1
            next_url = url_for("portal.search", **args)
    return render_template(
        "portal/search.html",
        query=query,
        problems=problems,
        result=result,
        next_url=next_url,
        can_search_patients=bool(current.roles & IDENTITY_ROLES),
    )


@portal.get("/search/export")
@signed_in
def search_export() -> Any:
    current: PortalSession = g.portal_session
    if not current.purpose:
        return _needs_purpose()  # an export is patient-level data leaving the portal
    scope = _search_scope()
    if not isinstance(scope, tuple):
        return scope
    query, _problems, pseudonym = scope
    if query.empty:
        abort(400, description=_("Say what to export: at least one search field."))
    services().access.record(
        "exported",
        username=current.username,
        roles=current.roles,
        purpose=current.purpose,
        patient_pseudonym=pseudonym,
    )
    response = Response(csv_rows(services().engine, query, pseudonym), mimetype="text/csv")
    response.headers["Content-Disposition"] = 'attachment; filename="careledger-records.csv"'
    return response
