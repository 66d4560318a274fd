"""One typed settings object, from defaults, a TOML file and ``CARELEDGER_*`` variables.

Precedence, lowest first: built-in defaults, the TOML file (``--config`` or
``CARELEDGER_CONFIG``), environment variables. Nothing is read at import.
"""

from __future__ import annotations

import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, fields, replace
from datetime import datetime
from pathlib import Path
from typing import Any

__all__ = ["ConfigError", "Settings", "load_settings", "parse_retention_policy"]

_ENV_PREFIX = "CARELEDGER_"


class ConfigError(ValueError):
    """The configuration file or an environment variable is invalid."""


def parse_retention_policy(entries: Iterable[str]) -> dict[str, int]:
    """``("consultation=15", ...)`` as ``{"consultation": 15, ...}``."""
    policy: dict[str, int] = {}
    for entry in entries:
        kind, _, years = entry.partition("=")
        kind = kind.strip()
        if not kind or not years.strip().isdigit() or int(years) < 1:
            raise ConfigError(
                f"retention entry {entry!r} must be '<record type>=<whole years, at least 1>'"
            )
        policy[kind] = int(years)
    return policy


@dataclass(frozen=True)
class Settings:
    """Where careledger keeps its data and what its log is called.

    ``database_url`` defaults to an SQLite file in ``data_dir``;
    ``log_origin`` is the checkpoint origin line and the log key's name.
    """

    data_dir: Path = Path("var")
    database_url: str = ""
    #: PostgreSQL roles ``careledger db upgrade`` grants least privilege to (empty: none).
    database_app_role: str = ""
    database_readonly_role: str = ""
    log_origin: str = "careledger.local/ledger"
    #: Platform API limits: a batch's records and body, and how far ``created_at`` may be off.
    max_batch_records: int = 1000
    max_body_bytes: int = 5 * 1024 * 1024
    clock_skew_seconds: int = 300
    #: Witnesses as ``"<url> <vkey>"``; a checkpoint is published once ``witness_quorum`` of
    #: them cosigned it (0: publish at once, attaching whatever cosignatures exist).
    witnesses: tuple[str, ...] = ()
    witness_quorum: int = 0
    #: The provider directory ``careledger reference sync-ldap`` reads the registry from.
    #: The bind password is read from ``registry_ldap_password_file``, never kept here.
    registry_ldap_url: str = ""
    registry_ldap_base: str = ""
    registry_ldap_bind_dn: str = ""
    registry_ldap_password_file: str = ""
    registry_ldap_filter: str = "(objectClass=healthProvider)"
    #: ``"<registry column>=<attribute>"`` overrides of the default attribute map.
    registry_ldap_attributes: tuple[str, ...] = ()
    #: The agency directory regulators sign in with (search-then-bind). The service
    #: account's password is read from ``portal_ldap_service_password_file``.
    portal_ldap_url: str = ""
    portal_ldap_users_base: str = ""
    portal_ldap_service_dn: str = ""
    portal_ldap_service_password_file: str = ""
    portal_ldap_user_filter: str = "(&(objectClass=inetOrgPerson)(uid={username}))"
    portal_ldap_start_tls: bool = False
    #: ``"<role>=<group DN>"`` for the roles regulator, supervisor and auditor.
    portal_role_groups: tuple[str, ...] = ()
    #: Minutes without a request after which a portal session ends.
    portal_idle_minutes: int = 30
    #: A session ends this long after sign-in however busy it is (a stolen cookie expires).
    portal_session_hours: int = 12
    #: Failed sign-ins per user name or address within 15 minutes before sign-in pauses.
    portal_max_login_failures: int = 5
    #: How many reverse proxies in front of the portal set ``X-Forwarded-For``/``-Proto``
    #: (1 behind the documented nginx). 0 trusts no such header: the socket's address is
    #: the client's. Throttling and the access trail use the address this yields.
    trusted_proxy_hops: int = 0
    #: Session cookies only over HTTPS (switch off only for plain-HTTP loopback use).
    portal_secure_cookies: bool = True

    #: ``"<record type>=<years>"``: how long payloads are kept before ``retention apply``
    #: destroys their data keys. Types not listed are kept for ever.
    retention_years: tuple[str, ...] = ("consultation=15", "prescription=15", "charge=15")

    # -- scheduler (``careledger scheduler``) --
    #: Seconds a scheduler's lease lasts without renewal; a standby takes over after it.
    scheduler_lease_seconds: int = 30
    #: Attempts of a failing job before it is recorded as failed, and seconds before a retry
    #: (doubling each time).
    scheduler_attempts: int = 3
    scheduler_retry_seconds: int = 30
    #: Processes the inspector works a backlog with: 2 starts a second process when a
    #: follow meets a full chunk; 1 keeps it to the follower's own.
    inspector_processes: int = 2

    # -- alerts of high-severity cases (``supervisor.cases.alerts``) --
    #: The SMTP relay alerts are sent through (empty: no e-mail), its port, and whether to
    #: upgrade with STARTTLS. The relay's password is read from ``alert_smtp_password_file``.
    alert_smtp_host: str = ""
    alert_smtp_port: int = 25
    alert_smtp_starttls: bool = False
    alert_smtp_username: str = ""
    alert_smtp_password_file: str = ""
    alert_from: str = ""
    #: The regulators on duty: one e-mail each per high-severity case.
    alert_recipients: tuple[str, ...] = ()
    #: A URL each alert is also POSTed to as JSON, signed with HMAC-SHA256 under the secret
    #: in ``alert_webhook_secret_file`` (empty: no webhook).
    alert_webhook_url: str = ""
    alert_webhook_secret_file: str = ""
    #: Alert cases first seen at or after this time (ISO 8601 with offset); empty: from the
    #: alert dispatcher's first run, so switching alerts on sends no history.
    alert_since: str = ""
    #: Attempts of one alert before it is given up as failed (retries back off to 30 min).
    alert_max_attempts: int = 10
    #: Where regulators reach careledger (scheme and host, e.g. ``https://jg.example.cn``),
    #: for the case links in alerts; empty: links are paths (``/portal/cases/<id>``).
    portal_base_url: str = ""

    def __post_init__(self) -> None:
        # Relative to the folder careledger was started from, once and for all: Flask
        # resolves a relative file path against the package's folder, not the caller's.
        object.__setattr__(self, "data_dir", Path(self.data_dir).absolute())
        if not self.log_origin or any(c.isspace() or c == "+" for c in self.log_origin):
            raise ConfigError(f"log_origin {self.log_origin!r} must be one token without '+'")
        for name in (
            "max_batch_records",
            "max_body_bytes",
            "clock_skew_seconds",
            "scheduler_lease_seconds",
            "scheduler_attempts",
            "alert_smtp_port",
            "alert_max_attempts",
        ):
            if getattr(self, name) < 1:
                raise ConfigError(f"{name} must be a positive integer")
        if self.inspector_processes not in {1, 2}:
            raise ConfigError("inspector_processes must be 1 or 2")
        parse_retention_policy(self.retention_years)
        if not 0 <= self.witness_quorum <= len(self.witnesses):
            raise ConfigError("witness_quorum must be between 0 and the number of witnesses")
        for entry in self.witnesses:
            if len(entry.split()) != 2:
                raise ConfigError(f"a witness is '<url> <vkey>', not {entry!r}")
        if not 0 <= self.trusted_proxy_hops <= 5:
            raise ConfigError("trusted_proxy_hops must be between 0 and 5")
        self._check_alerts()
        for name in ("portal_idle_minutes", "portal_session_hours", "portal_max_login_failures"):
            if getattr(self, name) < 1:
                raise ConfigError(f"{name} must be a positive integer")
        for entry in self.portal_role_groups:
            role, _, group = entry.partition("=")
            if role.strip() not in ("regulator", "supervisor", "auditor") or not group.strip():
                raise ConfigError(
                    f"portal_role_groups entry {entry!r} must be '<role>=<group DN>' with a role "
                    "among regulator, supervisor, auditor"
                )

    def _check_alerts(self) -> None:
        if self.alert_smtp_host and not (self.alert_from and self.alert_recipients):
            raise ConfigError("alert_smtp_host needs alert_from and alert_recipients")
        if self.alert_recipients and not self.alert_smtp_host:
            raise ConfigError("alert_recipients need alert_smtp_host (the relay to send through)")
        if self.alert_webhook_url:
            if not self.alert_webhook_url.startswith(("https://", "http://")):
                raise ConfigError("alert_webhook_url must be an http(s) URL")
            if len(self.alert_webhook_url) > 300:
                raise ConfigError("alert_webhook_url must be at most 300 characters")
            if not self.alert_webhook_secret_file:
                raise ConfigError("alert_webhook_url needs alert_webhook_secret_file")
        if self.alert_since:
            try:
                since = datetime.fromisoformat(self.alert_since)
            except ValueError as e:
                raise ConfigError(f"alert_since {self.alert_since!r} is not ISO 8601") from e
            if since.tzinfo is None:
                raise ConfigError("alert_since needs its offset, e.g. 2026-12-01T00:00:00+08:00")

    @property
    def effective_database_url(self) -> str:
        return self.database_url or f"sqlite:///{self.data_dir / 'careledger.db'}"

    @property
    def keys_dir(self) -> Path:
        return self.data_dir / "keys"

    @property
    def log_key_path(self) -> Path:
        return self.keys_dir / "log-signing.key"

    @property
    def log_vkey_path(self) -> Path:
        return self.data_dir / "log.vkey"


_LIST_SETTINGS = frozenset(
    {
        "witnesses",
        "registry_ldap_attributes",
        "portal_role_groups",
        "retention_years",
        "alert_recipients",
    }
)
_BOOLEAN_SETTINGS = frozenset(
    {"portal_ldap_start_tls", "portal_secure_cookies", "alert_smtp_starttls"}
)
_INTEGER_SETTINGS = frozenset(
    {
        "max_batch_records",
        "max_body_bytes",
        "clock_skew_seconds",
        "witness_quorum",
        "portal_idle_minutes",
        "portal_session_hours",
        "portal_max_login_failures",
        "trusted_proxy_hops",
        "scheduler_lease_seconds",
        "scheduler_attempts",
        "scheduler_retry_seconds",
        "inspector_processes",
        "alert_smtp_port",
        "alert_max_attempts",
    }
)


def _coerce(name: str, value: Any) -> Any:
    if name in _LIST_SETTINGS:
        # TOML: a list of strings; environment: entries separated by ';'.
        items = value.split(";") if isinstance(value, str) else value
        if not isinstance(items, list | tuple) or not all(isinstance(i, str) for i in items):
            raise ConfigError(f"{name} must be a list of strings")
        return tuple(i.strip() for i in items if i.strip())
    if name in _BOOLEAN_SETTINGS:
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.strip().lower() in ("true", "false", "1", "0"):
            return value.strip().lower() in ("true", "1")
        raise ConfigError(f"{name} must be true or false")
    if name in _INTEGER_SETTINGS:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        if isinstance(value, str) and value.strip().isdigit():
            return int(value)
        raise ConfigError(f"{name} must be an integer")
    if name == "data_dir":
        if not isinstance(value, str | Path):
            raise ConfigError("data_dir must be a path")
        return Path(value)
    if not isinstance(value, str):
        raise ConfigError(f"{name} must be a string")
    return value


def load_settings(
    config_file: Path | None = None, environ: Mapping[str, str] | None = None
) -> Settings:
    """Build the settings. Raises ``ConfigError`` naming the bad key or file."""
    environ = {} if environ is None else environ
    names = {f.name for f in fields(Settings)}
    values: dict[str, Any] = {}
    path = config_file or (
        Path(environ[f"{_ENV_PREFIX}CONFIG"]) if f"{_ENV_PREFIX}CONFIG" in environ else None
    )
    if path is not None:
        try:
            document = tomllib.loads(path.read_text(encoding="utf-8"))
        except OSError as e:
            raise ConfigError(f"cannot read configuration file {path}: {e.strerror}") from e
        except tomllib.TOMLDecodeError as e:
            raise ConfigError(f"{path} is not valid TOML: {e}") from e
        unknown = set(document) - names
        if unknown:
            raise ConfigError(f"{path}: unknown settings {', '.join(sorted(unknown))}")
        values.update({k: _coerce(k, v) for k, v in document.items()})
    for name in names:
        env_value = environ.get(_ENV_PREFIX + name.upper())
        if env_value is not None:
            values[name] = _coerce(name, env_value)
    return replace(Settings(), **values)
