"""What the portal needs beside the services: who may sign in, sessions, the throttle."""

from __future__ import annotations

import base64
import contextlib
import secrets
from dataclasses import dataclass
from datetime import timedelta
from typing import Protocol

from flask import Flask, current_app

from supervisor.config import Settings
from supervisor.custody.key_files import KeyFileError, read_secret, write_secret
from supervisor.inspection.registry_sync import read_password
from supervisor.runtime.services import Services
from supervisor.web.directory_auth import DirectoryLogin, Identity, LoginDirectory
from supervisor.web.portal.jobs import PortalJobs
from supervisor.web.portal.sessions import LoginThrottle, PortalSessions

__all__ = ["Authenticator", "PortalContext", "install_portal_context", "portal_context"]

_EXTENSION = "careledger.portal"


class Authenticator(Protocol):
    is_demo: bool

    def authenticate(self, username: str, password: str) -> Identity: ...


@dataclass(frozen=True)
class PortalContext:
    directory: Authenticator | None  # None: no directory configured, nobody can sign in
    sessions: PortalSessions
    throttle: LoginThrottle
    jobs: PortalJobs


class _AgencyDirectory:
    is_demo = False

    def __init__(self, directory: LoginDirectory) -> None:
        self._directory = directory

    def authenticate(self, username: str, password: str) -> Identity:
        return self._directory.authenticate(username, password)


def _directory(settings: Settings) -> Authenticator | None:
    if not settings.portal_ldap_url:
        return None
    groups = dict(entry.split("=", 1) for entry in settings.portal_role_groups)
    return _AgencyDirectory(
        LoginDirectory(
            DirectoryLogin(
                url=settings.portal_ldap_url,
                users_base=settings.portal_ldap_users_base,
                service_dn=settings.portal_ldap_service_dn,
                service_password=read_password(settings.portal_ldap_service_password_file),
                user_filter=settings.portal_ldap_user_filter,
                role_groups={k.strip(): v.strip() for k, v in groups.items()},
                start_tls=settings.portal_ldap_start_tls,
            )
        )
    )


def session_secret(settings: Settings) -> bytes:
    """The key that signs session cookies (``keys/session.key``, made once)."""
    path = settings.keys_dir / "session.key"
    if not path.exists():
        with contextlib.suppress(KeyFileError):  # another worker made it first
            write_secret(path, base64.b64encode(secrets.token_bytes(32)).decode() + "\n")
    return base64.b64decode(read_secret(path))


def install_portal_context(
    app: Flask, settings: Settings, services: Services, sign_in: Authenticator | None = None
) -> None:
    """Sessions, the throttle and the sign-in directory (``sign_in``, else the settings')."""
    app.secret_key = session_secret(settings)
    app.config.update(
        SESSION_COOKIE_NAME="careledger_session",
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=settings.portal_secure_cookies,
    )
    app.extensions[_EXTENSION] = PortalContext(
        sign_in or _directory(settings),
        PortalSessions(
            services.engine,
            services.clock,
            timedelta(minutes=settings.portal_idle_minutes),
            timedelta(hours=settings.portal_session_hours),
        ),
        LoginThrottle(services.engine, services.clock, settings.portal_max_login_failures),
        PortalJobs(services.engine, services.clock),
    )


def portal_context() -> PortalContext:
    found: PortalContext = current_app.extensions[_EXTENSION]
    return found
