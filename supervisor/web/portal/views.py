"""Sign-in, sign-out and the landing page; thin views over the portal context."""

from __future__ import annotations

import hmac
import json
import logging
import secrets
from collections.abc import Callable
from datetime import datetime, timedelta
from functools import wraps
from typing import Any, TypeVar, cast

from flask import Response, abort, g, redirect, render_template, request, session, url_for
from flask_babel import gettext as _
from werkzeug.exceptions import HTTPException

from supervisor.database import tables
from supervisor.ground.china_time import PROVINCE_ZONE
from supervisor.web.current import services
from supervisor.web.directory_auth import DirectoryError, LoginRefusedError
from supervisor.web.portal import portal
from supervisor.web.portal.context import portal_context
from supervisor.web.portal.dashboard import dashboard
from supervisor.web.portal.errors import portal_error_page
from supervisor.web.portal.i18n import LANGUAGES
from supervisor.web.portal.sessions import PortalSession

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


#: Longer query values or path segments than any form or link of the portal makes.
_MAX_INPUT = 512
_LARGEST_INDEX = 2**63 - 1


@portal.before_request
def refuse_hostile_input() -> None:
    """No control characters, no giant values, no index beyond any database's integers:
    refused here with a page, before a view can turn them into a server error."""
    for value in request.form.values():  # text areas may hold tabs and line breaks
        if any((ord(c) < 32 and c not in "\t\r\n") or c == "\x7f" for c in value):
            abort(400, description=_("Part of the form is not valid. Go back and try again."))
    values = [*request.args.values(), *(request.view_args or {}).values()]
    for value in values:
        if isinstance(value, int):
            if not 0 <= value <= _LARGEST_INDEX:
                abort(404, description=_("There is no record at this ledger index."))
            continue
        text = str(value)
        if len(text) > _MAX_INPUT or any(ord(c) < 32 or c == "\x7f" for c in text):
            abort(400, description=_("Part of the address is not valid. Go back and try again."))


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


def value_names() -> dict[str, str]:
    """Values of the record schema's and registry's enumerations, as people read them."""
    return {
        "second_name": _("second name of a physical hospital"),
        "standalone": _("standalone internet hospital"),
        "platform": _("third-party platform"),
        "physician": _("physician"),
        "pharmacist": _("pharmacist"),
        "nurse": _("nurse"),
        "technician": _("technician"),
        "active": _("active"),
        "suspended": _("suspended"),
        "revoked": _("revoked"),
        "expired": _("expired"),
        "follow_up": _("follow-up visit"),
        "first_visit": _("first visit"),
        "approved": _("approved"),
        "rejected": _("rejected"),
        "self": _("self-paid"),
        "insurance": _("medical insurance"),
        "mixed": _("partly insured"),
        "text": _("text"),
        "voice": _("voice"),
        "video": _("video"),
        "completed": _("completed"),
        "terminated_referred": _("stopped and referred to a hospital"),
        "resident_id": _("resident ID card"),
        "passport": _("passport"),
        "hk_macao_permit": _("Hong Kong and Macao permit"),
        "taiwan_permit": _("Taiwan permit"),
        "other": _("other"),
        "male": _("male"),
        "female": _("female"),
        "unknown": _("unknown"),
        "outpatient_record": _("outpatient record"),
        "inpatient_record": _("inpatient record"),
        "discharge_summary": _("discharge summary"),
        "diagnosis_certificate": _("diagnosis certificate"),
        "pharmacy_pickup": _("pickup at a pharmacy"),
        "home_delivery": _("home delivery"),
        "hospital_pharmacy": _("hospital pharmacy"),
        "consultation": _("consultation"),
        "prescription": _("prescription"),
        "charge": _("charge"),
        "practitioner": _("practitioner filing"),
        "institution": _("institution filing"),
        "pharmacy": _("pharmacy filing"),
        "dispensing": _("dispensing"),
        "delivery": _("delivery"),
        "retail": _("retail pharmacy"),
        "chain_store": _("chain pharmacy store"),
        "in_store": _("in store"),
        "online": _("online"),
    }


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
            "pharmacy": _("pharmacy filing"),
            "dispensing": _("dispensing"),
            "delivery": _("delivery"),
        },
        "value_names": value_names(),
        "severity_names": {
            "high": _("high"),
            "medium": _("medium"),
            "low": _("low"),
            "warning": _("warning (a lead)"),
        },
    }


@portal.app_template_filter("china_time")
def china_time(moment: datetime | None, seconds: bool = False) -> str:
    """A stored (UTC) time as the province reads it: China Standard Time, marked as such."""
    if moment is None:
        return "–"
    shown = tables.read_time(moment).astimezone(PROVINCE_ZONE)
    text = shown.strftime("%Y-%m-%d %H:%M:%S" if seconds else "%Y-%m-%d %H:%M")
    zone = _("CST")  # China Standard Time, UTC+8
    return f"{text} {zone}"


@portal.app_template_filter("readable_json")
def readable_json(value: Any) -> str:
    """JSON for people: indented, Chinese as Chinese (Jinja escapes it for HTML)."""
    return json.dumps(value, ensure_ascii=False, indent=2, sort_keys=True)


@portal.errorhandler(HTTPException)
def error_page(error: HTTPException) -> Response:
    if error.description == _STALE_FORM:
        message = _("The form expired or came from elsewhere. Reload the page and try again.")
    else:
        # Our own descriptions are in the reader's language; werkzeug's defaults are not.
        message = error.description if error.description != type(error).description else None
    return portal_error_page(error.code or 500, message)


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
    attempt = context.throttle.begin(username, address)
    if isinstance(attempt, timedelta):
        minutes = max(1, int(attempt.total_seconds() // 60) + 1)
        return again(
            _("Too many failed sign-ins. Try again in %(minutes)s minutes.", minutes=minutes),
            429,
        )
    try:
        identity = context.directory.authenticate(username, password)
    except LoginRefusedError as refused:
        context.throttle.refused(attempt, refused.identity)
        _log.warning(
            "sign-in refused",
            extra={"username": refused.identity or username, "reason": refused.reason},
        )
        return again(
            _("The user name or password is not correct, or the account may not sign in."),
            401,
        )
    except DirectoryError as e:
        context.throttle.abandoned(attempt)
        _log.error("directory unavailable", extra={"reason": str(e)})
        return again(_("The directory cannot be reached. Try again later."), 503)
    context.throttle.succeeded(attempt)
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
