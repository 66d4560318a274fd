"""Sign-in, sign-out and the landing page; thin views over the portal context."""

from __future__ import annotations

import hmac
import logging
import secrets
from collections.abc import Callable
from functools import wraps
from typing import Any, TypeVar, cast

from flask import Response, abort, g, redirect, render_template, request, session, url_for
from sqlalchemy import func, select
from werkzeug.exceptions import HTTPException

from .. import tables
from ..app import services
from ..directory_auth import DirectoryError, LoginRefusedError
from . import portal
from .context import portal_context
from .sessions import PortalSession

_log = logging.getLogger("careledger.portal")
_STALE_FORM = "表单已过期或来源不明，请刷新页面后重试。 The form expired; reload the page."
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


@portal.errorhandler(HTTPException)
def error_page(error: HTTPException) -> tuple[str, int]:
    return render_template("portal/error.html", error=error), error.code or 500


def signed_in(view: _View) -> _View:
    """Only for a live session; otherwise to the sign-in page."""

    @wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        if g.portal_session is None:
            return redirect(url_for("portal.login", ended=1 if g.get("session_ended") else None))
        return view(*args, **kwargs)

    return cast(_View, wrapper)


def _check_csrf(expected: str | None) -> None:
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
    _check_csrf(session.get("login_csrf"))
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
        return again("尚未配置机构目录，无法登录。 No directory is configured.", 503)
    wait = context.throttle.wait(username, address)
    if wait is not None:
        minutes = max(1, int(wait.total_seconds() // 60) + 1)
        return again(
            f"登录失败次数过多，请 {minutes} 分钟后再试。 Too many failed sign-ins; "
            f"try again in {minutes} minutes.",
            429,
        )
    try:
        identity = context.directory.authenticate(username, password)
    except LoginRefusedError as refused:
        context.throttle.failed(username, address)
        _log.warning("sign-in refused", extra={"username": username, "reason": refused.reason})
        return again("用户名或密码不正确，或该账号无权登录。 " + str(refused), 401)
    except DirectoryError as e:
        _log.error("directory unavailable", extra={"reason": str(e)})
        return again("机构目录暂不可用，请稍后再试。 The directory is unavailable.", 503)
    started = context.sessions.start(identity)
    session.clear()  # a new session id after sign-in: no fixation
    session["sid"] = started.session_id
    _log.info("signed in", extra={"username": identity.username, "roles": sorted(identity.roles)})
    return redirect(url_for("portal.home"))


@portal.post("/logout")
@signed_in
def logout() -> Any:
    current: PortalSession = g.portal_session
    _check_csrf(current.csrf_token)
    portal_context().sessions.end(current.session_id)
    session.clear()
    return redirect(url_for("portal.login"))


@portal.get("/")
@signed_in
def home() -> str:
    store = services().store
    with services().engine.connect() as connection:
        by_severity: dict[str, int] = dict(
            connection.execute(
                select(tables.findings.c.severity, func.count()).group_by(
                    tables.findings.c.severity
                )
            ).all()
        )
    checkpoint = store.latest_checkpoint()
    return render_template(
        "portal/home.html",
        user=g.portal_session,
        size=store.head().size,
        checkpoint=checkpoint,
        findings=by_severity,
    )
