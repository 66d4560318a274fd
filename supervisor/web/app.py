"""The Flask portal: ``create_app`` wires settings and services to one blueprint per user kind."""

from __future__ import annotations

import logging
import os
import time
import uuid
from collections.abc import Callable
from datetime import datetime

from flask import Flask, Response, g, redirect, request
from werkzeug.exceptions import HTTPException, MethodNotAllowed
from werkzeug.middleware.proxy_fix import ProxyFix
from werkzeug.wrappers import Response as WerkzeugResponse

from supervisor.config import Settings, load_settings
from supervisor.database.outages import Outage, outage_of
from supervisor.ground.logs import configure_json_logging
from supervisor.runtime.services import build_services, system_clock
from supervisor.web.current import SERVICES_EXTENSION
from supervisor.web.portal.context import Authenticator
from supervisor.web.portal.errors import portal_error_page
from supervisor.web.problems import problem_response

__all__ = ["create_app"]

_log = logging.getLogger("careledger.http")


def create_app(
    settings: Settings | None = None,
    *,
    clock: Callable[[], datetime] = system_clock,
    sign_in: Authenticator | None = None,
) -> Flask:
    """The portal. Without ``settings``, they load from ``CARELEDGER_*`` and the TOML file.

    ``sign_in`` replaces the agency directory named by the settings; only the demo
    (``careledger serve`` on a demo folder) passes one, so a production worker built
    from settings alone can never sign in demo accounts.
    """
    if settings is None:
        settings = load_settings(environ=os.environ)
    app = Flask("supervisor")
    app.config["MAX_CONTENT_LENGTH"] = settings.max_body_bytes
    if settings.trusted_proxy_hops:
        # The client's address and scheme as the trusted proxies saw them; a header a
        # client sets itself is one hop further out and is ignored.
        hops = settings.trusted_proxy_hops
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops)  # type: ignore[method-assign]
    app.json.sort_keys = False  # type: ignore[attr-defined]
    found = build_services(settings, clock)
    app.extensions[SERVICES_EXTENSION] = found
    configure_json_logging()

    from supervisor.web.api import api
    from supervisor.web.health import health
    from supervisor.web.log_api import log
    from supervisor.web.portal import portal
    from supervisor.web.portal.context import install_portal_context
    from supervisor.web.portal.i18n import install_i18n

    install_portal_context(app, settings, found, sign_in)
    install_i18n(app)
    app.register_blueprint(api, url_prefix="/api/v1")
    app.register_blueprint(log, url_prefix="/log")
    app.register_blueprint(portal, url_prefix="/portal")
    app.register_blueprint(health)
    _install_request_log(app)
    _install_problem_handlers(app)

    @app.get("/")
    def front_door() -> WerkzeugResponse:
        """People who type the server's address mean the portal."""
        return redirect("/portal/")

    return app


def _install_request_log(app: Flask) -> None:
    @app.before_request
    def start() -> None:
        g.request_id = request.headers.get("X-Request-Id") or uuid.uuid4().hex
        g.started = time.perf_counter()

    @app.after_request
    def finish(response: Response) -> Response:
        response.headers["X-Request-Id"] = g.get("request_id", "")
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("Cache-Control", "no-store")
        _log.info(
            "request",
            extra={
                "request_id": g.get("request_id"),
                "method": request.method,
                "path": request.path,
                "status": response.status_code,
                "duration_ms": round((time.perf_counter() - g.get("started", 0.0)) * 1000, 2),
                "platform_id": g.get("platform_id"),
            },
        )
        return response


def _install_problem_handlers(app: Flask) -> None:
    @app.errorhandler(HTTPException)
    def http_problem(error: HTTPException) -> Response:
        status = error.code or 500
        if _for_people():
            return portal_error_page(status)
        headers = {}
        if isinstance(error, MethodNotAllowed) and error.valid_methods:
            headers["Allow"] = ", ".join(error.valid_methods)
        detail = error.description or error.name
        if status == 413:
            detail = (
                f"the request body is larger than {app.config['MAX_CONTENT_LENGTH']} bytes; "
                "split the batch"
            )
        slug = error.name.lower().replace(" ", "-")
        return problem_response(status, slug, error.name, detail, headers=headers)

    @app.errorhandler(Exception)
    def unexpected(error: Exception) -> Response:
        outage = outage_of(error)
        if outage is not None:
            _log.warning(
                "database outage",
                extra={
                    "request_id": g.get("request_id"),
                    "status": outage.status,
                    "error": str(error),
                },
            )
            return _outage_response(outage)
        _log.exception("unhandled error", extra={"request_id": g.get("request_id")})
        if _for_people():
            return portal_error_page(500)
        return problem_response(
            500,
            "internal-error",
            "Internal error",
            f"the server failed while handling this request. If it was a batch, it may have "
            f"been stored: send the same batch again (same batch_id, same bytes) to get its "
            f"receipt. Quote request id {g.get('request_id')} to the regulator",
        )


def _for_people() -> bool:
    """The portal's addresses are read by people: errors there are pages, not JSON."""
    return request.path == "/" or request.path.startswith("/portal")


_OUTAGE_PAGE = """<!doctype html><html lang="zh-CN"><meta charset="utf-8"><title>{title}</title>
<h1>服务暂时不可用 · {title}</h1><p>数据库暂时无法访问，请 {seconds} 秒后重试。</p>
<p lang="en">The database cannot be reached for now; try again in {seconds} seconds.</p></html>"""


def _outage_response(outage: Outage) -> Response:
    """problem+json on the API, a readable page on the portal; always with Retry-After."""
    headers = {"Retry-After": str(outage.retry_after)}
    if request.path.startswith("/portal"):
        page = _OUTAGE_PAGE.format(title=outage.title, seconds=outage.retry_after)
        return Response(page, status=outage.status, mimetype="text/html", headers=headers)
    return problem_response(
        outage.status, outage.kind, outage.title, outage.detail, headers=headers
    )
