"""A record's page, a patient's access trail, and record search with its export.

Every look at patient-level data is recorded in the access trail first."""

from __future__ import annotations

from typing import Any

from flask import Response, abort, g, redirect, render_template, request, url_for
from flask_babel import gettext as _

from supervisor.web.current import services
from supervisor.web.portal import portal
from supervisor.web.portal.context import portal_context
from supervisor.web.portal.record_fields import department_names, field_labels, record_rows
from supervisor.web.portal.record_page import (
    IDENTITY_ROLES,
    NO_CHECKPOINT,
    NOT_YET_COVERED,
    load_record_view,
    mask_identity,
)
from supervisor.web.portal.search import RecordQuery, csv_rows, search_records
from supervisor.web.portal.sessions import PortalSession
from supervisor.web.portal.timeline import timeline_rows
from supervisor.web.portal.views import check_csrf, signed_in, value_names


def needs_purpose() -> Any:
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


def deliberate() -> bool:
    """Did this request come from the portal itself (or the address bar), not another site?

    Browsers say so in ``Sec-Fetch-Site``; older ones at least in ``Origin`` or
    ``Referer`` when the request comes from another site (the portal's own pages send
    no referrer). SameSite=Lax sends the session cookie on a cross-site link, so a page
    that appends an access entry in a regulator's name asks first (``_confirm``).
    """
    site = request.headers.get("Sec-Fetch-Site")
    if site is not None:
        # "none": typed, a bookmark, or a link from another application (a mail, a chat):
        # the portal cannot tell these apart, so it asks as it does for another site. (A
        # browser sending none of these headers, Safari before 16.4, on a page that also
        # withholds its referrer, cannot be told from the portal's own links.)
        return site == "same-origin"
    own = request.host_url.rstrip("/")
    for source in (request.headers.get("Origin"), request.headers.get("Referer")):
        if source and source != "null" and not (source == own or source.startswith(own + "/")):
            return False
    return True


def confirm_recorded_look(action: str, fields: dict[str, str], what: str) -> tuple[str, int]:
    """A page that asks before a look that the ledger records in this person's name."""
    page = render_template("portal/confirm.html", action=action, fields=fields, what=what)
    return page, 200


@portal.route("/records/<int:index>", methods=["GET", "POST"])
@signed_in
def record(index: int) -> Any:
    current: PortalSession = g.portal_session
    if request.method == "POST":
        check_csrf(current.csrf_token)
    elif not deliberate():
        return confirm_recorded_look(
            url_for("portal.record", index=index),
            {},
            _("Ledger record %(index)s", index=index),
        )
    if not current.purpose:
        return needs_purpose()
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
    fields = None
    words_for_values = value_names()
    names = view.institution_names | department_names(_)
    if shown is not None:
        words = {"yes": _("yes"), "no": _("no"), "cst": _("CST")}
        fields = record_rows(
            shown, view.reference, field_labels(_), words_for_values, words, names=names
        )
    institution = view.institution_names.get(view.institution_code, view.institution_code)
    return render_template(
        "portal/record.html",
        view=view,
        record=shown,
        fields=fields,
        institution_name=view.institution_names.get(view.institution_code),
        timeline=timeline_rows(view.timeline, index, institution, _, words_for_values),
        not_yet_covered=NOT_YET_COVERED,
        no_checkpoint=NO_CHECKPOINT,
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


def _search_scope(args: Any) -> tuple[RecordQuery, list[str], str | None] | Any:
    """The query, its problems and the patient's pseudonym; or where to go first."""
    query, problems = RecordQuery.from_args(args)
    current: PortalSession = g.portal_session
    pseudonym = query.patient or None
    if query.patient_id:
        pseudonym = services().keys.pseudonym("patient", query.patient_id)
    if pseudonym is None:
        return query, problems, None
    if not current.roles & IDENTITY_ROLES:
        abort(403, description=_("Your role does not work with patient identities."))
    if not current.purpose:
        # Back to this search by the number's pseudonym, never with the number itself.
        back = url_for("portal.search", **query.to_args(patient=pseudonym))
        return redirect(url_for("portal.state_purpose", back=back))
    return query, problems, pseudonym


@portal.post("/search")
@signed_in
def search_submit() -> Any:
    """The search form: posted, so that a patient's ID number never enters an address (the
    address bar, history, paging links, redirects, the proxy's access log). What is looked
    up goes on by the number's keyed pseudonym."""
    current: PortalSession = g.portal_session
    check_csrf(current.csrf_token)
    scope = _search_scope(request.form)
    if not isinstance(scope, tuple):
        return scope
    query, _problems, pseudonym = scope
    return redirect(url_for("portal.search", **query.to_args(patient=pseudonym or "")), code=303)


@portal.get("/search")
@signed_in
def search() -> Any:
    if "patient_id" in request.args:
        abort(
            400,
            description=_(
                "A patient's ID number is never put in an address. Type it in the search form."
            ),
        )
    scope = _search_scope(request.args)
    if not isinstance(scope, tuple):
        return scope
    query, problems, pseudonym = scope
    current: PortalSession = g.portal_session
    if pseudonym is not None and not deliberate():
        return confirm_recorded_look(
            url_for("portal.search_submit"), query.to_args(), _("A search for one patient")
        )
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
            next_url = url_for("portal.search", **query.to_args(page=result.page + 1))
    return render_template(
        "portal/search.html",
        query=query,
        export_fields=query.to_args(),
        problems=problems,
        result=result,
        next_url=next_url,
        can_search_patients=bool(current.roles & IDENTITY_ROLES),
    )


@portal.post("/search/export")
@signed_in
def search_export() -> Any:
    """Patient-level data leaving the portal: a deliberate, posted, recorded act."""
    current: PortalSession = g.portal_session
    check_csrf(current.csrf_token)
    if not current.purpose:
        return redirect(url_for("portal.state_purpose", back=url_for("portal.search")))
    scope = _search_scope(request.form)
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
