"""Sign-in, sign-out and the landing page; thin views over the portal context."""

from __future__ import annotations

import hmac
import json
import logging
import secrets
from collections.abc import Callable
from dataclasses import replace
from datetime import date
from functools import wraps
from typing import Any, TypeVar, cast

from flask import Response, abort, g, redirect, render_template, request, session, url_for
from flask_babel import gettext as _
from sqlalchemy import select
from werkzeug.exceptions import HTTPException

from inspectors.policy import PolicyError, default_policy_bytes
from inspectors.reference_diff import diff_rows
from inspectors.reference_files import ReferenceFileError, parse_reference_csv

from .. import tables
from ..app import services
from ..directory_auth import DirectoryError, LoginRefusedError
from ..reference_data import POLICY
from ..triage import ACTIONS, TRIAGE_ROLES, TriageError
from . import portal
from .context import portal_context
from .dashboard import dashboard
from .findings_page import FindingFilter, findings_page
from .i18n import LANGUAGES
from .profiles import institution_profile, practitioner_profile
from .record_page import IDENTITY_ROLES, load_record_view, mask_identity
from .search import RecordQuery, csv_rows, search_records
from .sessions import PortalSession

_log = logging.getLogger("careledger.portal")
_STALE_FORM = "stale-form"
_View = TypeVar("_View", bound=Callable[..., Any])

#: No inline script, no framing, forms post only here.
_SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'"
    ),
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Permissions-Policy": "camera=(), microphone=(), geolocation=()",
    "Cross-Origin-Opener-Policy": "same-origin",
}


@portal.before_request
def load_session() -> None:
    g.portal_session = None
    session_id = session.get("sid")
    if isinstance(session_id, str):
        g.portal_session = portal_context().sessions.current(session_id)
        if g.portal_session is None:
            session.pop("sid", None)
            g.session_ended = True


@portal.after_request
def security_headers(response: Response) -> Response:
    for name, value in _SECURITY_HEADERS.items():
        response.headers[name] = value
    if request.is_secure:
        response.headers["Strict-Transport-Security"] = "max-age=31536000; includeSubDomains"
    return response


@portal.context_processor
def names() -> dict[str, object]:
    return {
        "role_names": {
            "regulator": _("regulator"),
            "supervisor": _("supervisor"),
            "auditor": _("auditor"),
        },
        "state_names": {
            "open": _("open"),
            "acknowledged": _("acknowledged"),
            "rectification_ordered": _("rectification ordered"),
            "resolved": _("resolved"),
            "dismissed": _("dismissed"),
        },
        "action_names": {
            "acknowledge": _("acknowledge"),
            "order_rectification": _("order rectification"),
            "resolve": _("resolve"),
            "dismiss": _("dismiss"),
        },
        "type_names": {
            "consultation": _("consultation"),
            "prescription": _("prescription"),
            "charge": _("charge"),
            "practitioner": _("practitioner filing"),
            "institution": _("institution filing"),
        },
        "severity_names": {
            "high": _("high"),
            "medium": _("medium"),
            "low": _("low"),
            "warning": _("warning (a lead)"),
        },
    }


@portal.app_template_filter("readable_json")
def readable_json(value: Any) -> str:
    """JSON for people: indented, Chinese as Chinese (Jinja escapes it for HTML)."""
    return json.dumps(value, ensure_ascii=False, indent=2, sort_keys=True)


@portal.errorhandler(HTTPException)
def error_page(error: HTTPException) -> tuple[str, int]:
    if error.description == _STALE_FORM:
        message = _("The form expired or came from elsewhere. Reload the page and try again.")
    else:
        message = error.description or error.name
    return render_template("portal/error.html", error=error, message=message), error.code or 500


@portal.get("/language")
def switch_language() -> Any:
    """Remember the chosen language, then go back to the page (only ever a portal page)."""
    chosen = request.args.get("to", "")
    if chosen in LANGUAGES:
        session["language"] = chosen
    back = request.args.get("back", "")
    if not back.startswith("/portal/") or back.startswith("//"):
        back = url_for("portal.home")
    return redirect(back)


def signed_in(view: _View) -> _View:
    """Only for a live session; otherwise to the sign-in page."""

    @wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        if g.portal_session is None:
            return redirect(url_for("portal.login", ended=1 if g.get("session_ended") else None))
        return view(*args, **kwargs)

    return cast(_View, wrapper)


def check_csrf(expected: str | None) -> None:
    sent = request.form.get("csrf_token", "")
    if not expected or not hmac.compare_digest(sent.encode(), expected.encode()):
        abort(
            400, description="表单已过期或来源不明，请刷新页面后重试。 The form expired; reload it."
        )


def _login_token() -> str:
    token = session.get("login_csrf")
    if not isinstance(token, str):
        token = secrets.token_urlsafe(32)
        session["login_csrf"] = token
    return token


@portal.get("/login")
def login() -> str:
    context = portal_context()
    return render_template(
        "portal/login.html",
        csrf_token=_login_token(),
        directory=context.directory,
        ended=request.args.get("ended") == "1",
        message=None,
    )


@portal.post("/login")
def login_submit() -> Any:
    check_csrf(session.get("login_csrf"))
    context = portal_context()
    username = request.form.get("username", "").strip()[:64]
    password = request.form.get("password", "")
    address = request.remote_addr or "unknown"

    def again(message: str, status: int) -> tuple[str, int]:
        page = render_template(
            "portal/login.html",
            csrf_token=_login_token(),
            directory=context.directory,
            ended=False,
            message=message,
            username=username,
        )
        return page, status

    if context.directory is None:
        return again(_("No directory is configured, so nobody can sign in."), 503)
    wait = context.throttle.wait(username, address)
    if wait is not None:
        minutes = max(1, int(wait.total_seconds() // 60) + 1)
        return again(
            _("Too many failed sign-ins. Try again in %(minutes)s minutes.", minutes=minutes),
            429,
        )
    try:
        identity = context.directory.authenticate(username, password)
    except LoginRefusedError as refused:
        context.throttle.failed(username, address)
        _log.warning("sign-in refused", extra={"username": username, "reason": refused.reason})
        return again(
            _("The user name or password is not correct, or the account may not sign in."),
            401,
        )
    except DirectoryError as e:
        _log.error("directory unavailable", extra={"reason": str(e)})
        return again(_("The directory cannot be reached. Try again later."), 503)
    started = context.sessions.start(identity)
    session.clear()  # a new session id after sign-in: no fixation
    session["sid"] = started.session_id
    _log.info("signed in", extra={"username": identity.username, "roles": sorted(identity.roles)})
    return redirect(url_for("portal.home"))


@portal.post("/logout")
@signed_in
def logout() -> Any:
    current: PortalSession = g.portal_session
    check_csrf(current.csrf_token)
    portal_context().sessions.end(current.session_id)
    session.clear()
    return redirect(url_for("portal.login"))


@portal.get("/")
@signed_in
def home() -> str:
    return render_template("portal/home.html", board=dashboard(services(), services().clock()))


@portal.get("/findings")
@signed_in
def findings() -> str:
    wanted = FindingFilter.from_args(request.args)
    return render_template(
        "portal/findings.html", wanted=wanted, result=findings_page(services().engine, wanted)
    )


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


def _finding_page(finding_id: str, message: str | None = None, status: int = 200) -> Any:
    services_ = services()
    with services_.engine.connect() as connection:
        row = connection.execute(
            select(tables.findings).where(tables.findings.c.finding_id == finding_id[:32])
        ).first()
    if row is None:
        abort(404, description=_("There is no such finding."))
    finding = services_.inspector.open_finding(
        services_.store.entry(row.entry_index).payload or b""
    )
    current: PortalSession = g.portal_session
    actions = [a for a, (before, _after) in ACTIONS.items() if row.state in before]
    page = render_template(
        "portal/finding.html",
        finding=finding,
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
        return _finding_page(finding_id, _triage_message(str(refused)), 409)
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


def _fact_names() -> dict[str, str]:
    return {
        "name": _("Name"),
        "kind": _("Kind"),
        "license_no": _("Licence"),
        "license_valid_until": _("Licence valid until"),
        "host_institution_code": _("Host hospital"),
        "role": _("Role"),
        "status": _("Status"),
        "valid_from": _("Valid from"),
        "valid_to": _("Valid to"),
        "practice_start": _("Independent practice since"),
        "primary_institution_code": _("Primary institution"),
        "multi_site_institution_codes": _("Multi-site filings"),
        "departments": _("Departments"),
        "registry_version": _("Registry version"),
    }


@portal.get("/institutions/<code>")
@signed_in
def institution(code: str) -> Any:
    profile = institution_profile(services(), code[:64])
    if profile is None:
        abort(404, description=_("No records of this institution."))
    if profile.facts is not None:
        keep = ("name", "kind", "license_no", "license_valid_until", "host_institution_code")
        profile = replace(profile, facts={k: profile.facts.get(k) for k in keep})
    return render_template(
        "portal/profile.html",
        title=_("Institution"),
        profile=profile,
        missing=_("No filing (备案) received for this institution."),
        fact_names=_fact_names(),
        related_title=_("Practitioners on its roster"),
        related_endpoint="portal.practitioner",
        related_arg="license_no",
    )


@portal.get("/practitioners/<license_no>")
@signed_in
def practitioner(license_no: str) -> Any:
    profile = practitioner_profile(services(), license_no[:64])
    if profile is None:
        abort(404, description=_("No such practitioner in the registry or the records."))
    return render_template(
        "portal/profile.html",
        title=_("Practitioner"),
        profile=profile,
        missing=_("Not in the practitioner registry."),
        fact_names=_fact_names(),
        related_title=_("Institutions whose records name this practitioner"),
        related_endpoint="portal.institution",
        related_arg="code",
    )


def _supervisor_only() -> PortalSession:
    current: PortalSession = g.portal_session
    if "supervisor" not in current.roles:
        abort(403, description=_("Only supervisors manage reference data and policy."))
    return current


def _reference_page(message: str | None = None, problems: Any = (), status: int = 200) -> Any:
    reference = services().reference
    versions = list(reversed(reference.history()))
    seen: dict[str, int] = {}
    previous: dict[int, int] = {}
    for version in reversed(versions):  # oldest first: each version's predecessor
        if version.dataset in seen and version.dataset != POLICY:
            previous[version.entry_index] = seen[version.dataset]
        seen[version.dataset] = version.entry_index
    current = reference.current_versions()
    policy_text = (
        reference.payload(current[POLICY].entry_index)
        if POLICY in current
        else default_policy_bytes()
    ).decode("utf-8")
    page = render_template(
        "portal/reference.html",
        versions=versions,
        previous=previous,
        policy_text=policy_text,
        message=message,
        problems=[str(p) for p in problems],
        dataset_names=_dataset_names(),
    )
    return page, status


def _dataset_names() -> dict[str, str]:
    return {
        "registry": _("practitioner registry"),
        "prices": _("price catalogue"),
        "drugs": _("drug catalogue"),
        "policy": _("inspection policy"),
    }


@portal.get("/reference")
@signed_in
def reference() -> Any:
    _supervisor_only()
    return _reference_page()


@portal.post("/reference/upload")
@signed_in
def reference_upload() -> Any:
    current = _supervisor_only()
    check_csrf(current.csrf_token)
    dataset = request.form.get("dataset", "")
    upload = request.files.get("file")
    if dataset not in ("registry", "prices", "drugs") or upload is None:
        abort(400, description=_("Choose a dataset and a CSV file."))
    try:
        rows = parse_reference_csv(dataset, upload.read())
    except ReferenceFileError as rejected:
        return _reference_page(problems=rejected.problems, status=422)
    result = services().reference.import_rows(
        dataset, rows, source=f"portal:{current.username}", now=services().clock()
    )
    if result.unchanged:
        return _reference_page(_("This version is already in force; nothing was appended."))
    return _reference_page(
        _("Imported: %(rows)s rows, in force from ledger entry %(index)s.",
          rows=result.row_count, index=result.entry_index)
    )  # fmt: skip


@portal.post("/reference/policy")
@signed_in
def policy_update() -> Any:
    current = _supervisor_only()
    check_csrf(current.csrf_token)
    text = request.form.get("policy", "").replace("\r\n", "\n")
    try:
        result = services().reference.import_policy(
            text.encode("utf-8"), source=f"portal:{current.username}", now=services().clock()
        )
    except PolicyError as refused:
        return _reference_page(problems=[refused], status=422)
    if result.unchanged:
        return _reference_page(_("This version is already in force; nothing was appended."))
    return _reference_page(
        _("Policy %(version)s in force from ledger entry %(index)s.",
          version=result.version[:16], index=result.entry_index)
    )  # fmt: skip


@portal.get("/reference/<int:entry_index>/diff")
@signed_in
def reference_diff(entry_index: int) -> Any:
    _supervisor_only()
    reference = services().reference
    history = reference.history()
    this = next((v for v in history if v.entry_index == entry_index), None)
    if this is None or this.dataset == POLICY:
        abort(404, description=_("No such reference version."))
    earlier = [v for v in history if v.dataset == this.dataset and v.entry_index < entry_index]
    if not earlier:
        abort(404, description=_("This is the first version: nothing to compare with."))
    before = earlier[-1]
    return render_template(
        "portal/reference_diff.html",
        dataset=this.dataset,
        old_index=before.entry_index,
        new_index=entry_index,
        diff=diff_rows(
            this.dataset, reference.rows(before.entry_index), reference.rows(entry_index)
        ),
        dataset_names=_dataset_names(),
    )
