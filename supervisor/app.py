"""The Flask portal: ``create_app`` wires settings and services to one blueprint per user kind."""

from __future__ import annotations

import logging
import os
import time
import uuid
from collections.abc import Callable
from datetime import datetime

from flask import Flask, Response, current_app, g, request
from werkzeug.exceptions import HTTPException, MethodNotAllowed

from .config import Settings, load_settings
from .logs import configure_json_logging
from .outages import Outage, outage_of
from .problems import problem_response
from .services import Services, build_services, system_clock

__all__ = ["create_app", "services"]

_log = logging.getLogger("careledger.http")
_EXTENSION = "careledger"


def services() -> Services:
    """The services of the app handling the current request."""
    found: Services = current_app.extensions[_EXTENSION]
    return found


def create_app(
    settings: Settings | None = None, *, clock: Callable[[], datetime] = system_clock
) -> Flask:
    """The portal. Without ``settings``, they load from ``CARELEDGER_*`` and the TOML file."""
    if settings is None:
        settings = load_settings(environ=os.environ)
    app = Flask("supervisor")
    app.config["MAX_CONTENT_LENGTH"] = settings.max_body_bytes
    app.json.sort_keys = False  # type: ignore[attr-defined]
    app.extensions[_EXTENSION] = build_services(settings, clock)
    configure_json_logging()

    from .api import api
    from .health import health
    from .log_api import log
    from .portal import portal
    from .portal.context import install_portal_context
    from .portal.i18n import install_i18n

    install_portal_context(app, settings, app.extensions[_EXTENSION])
    install_i18n(app)
    app.register_blueprint(api, url_prefix="/api/v1")
    app.register_blueprint(log, url_prefix="/log")
    app.register_blueprint(portal, url_prefix="/portal")
    app.register_blueprint(health)
    _install_request_log(app)
    _install_problem_handlers(app)
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
        return problem_response(
            500,
            "internal-error",
            "Internal error",
            f"the server failed; nothing of this request was stored unless a receipt was "
            f"returned. Quote request id {g.get('request_id')} to the regulator",
        )


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
