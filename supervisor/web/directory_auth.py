"""Regulators sign in with the agency directory: search, then bind as the person found.

A service account searches for the person (the filter built with RFC 4515
escaping, so a user name can never change the filter), then a second
connection binds as that person's DN with the password they typed. Roles
come from membership of configured directory groups. There are no local
passwords. Plain ``ldap://`` is accepted on loopback only; elsewhere the
directory must be ``ldaps://`` or ``start_tls``.

The caller learns only "refused" (``LoginRefusedError``); why is for the log.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import ldap3
from ldap3.core.exceptions import LDAPException
from ldap3.utils.conv import escape_filter_chars

from supervisor.ground.ldap_server import InsecureDirectoryError, directory_server

__all__ = [
    "ROLES",
    "DirectoryError",
    "DirectoryLogin",
    "Identity",
    "LoginDirectory",
    "LoginRefusedError",
    "user_filter",
]

#: What each role may do is the portal's business; the directory only says who has which.
ROLES = ("regulator", "supervisor", "auditor")
_MAX_USERNAME = 64


class LoginRefusedError(Exception):
    """The sign-in is refused. ``reason`` is for the log, never for the person signing in.

    ``identity`` is the directory's own name for the person, when the directory found
    one (a wrong password), so that ``ALICE`` and ``alice`` count as one person.
    """

    def __init__(self, reason: str, identity: str | None = None) -> None:
        super().__init__("the user name or password is not correct, or the account may not sign in")
        self.reason = reason
        self.identity = identity


class DirectoryError(Exception):
    """The directory cannot be used (configuration, connection, service account)."""


@dataclass(frozen=True)
class Identity:
    #: The directory's ``uid`` (or the DN), never what was typed: one person, one name.
    username: str
    dn: str
    display_name: str
    roles: frozenset[str]


@dataclass(frozen=True)
class DirectoryLogin:
    """How to find people and their roles in the directory."""

    url: str
    users_base: str
    service_dn: str = ""
    service_password: str = field(default="", repr=False)
    #: ``{username}`` is replaced by the escaped user name.
    user_filter: str = "(&(objectClass=inetOrgPerson)(uid={username}))"
    #: role -> group DN (groupOfNames with ``member`` values)
    role_groups: Mapping[str, str] = field(default_factory=dict)
    start_tls: bool = False
    timeout: int = 10  # seconds (ldap3 packs it into a socket option: whole seconds)


def _first(value: object) -> str:
    """The first value of an LDAP attribute (ldap3 gives lists for multi-valued ones)."""
    return str(value[0] if isinstance(value, list) and value else value)


def user_filter(template: str, username: str) -> str:
    """The search filter for ``username``, escaped per RFC 4515 (``*``, ``(``, ``)``, ``\\``,
    NUL), so ``*)(uid=*`` finds nobody instead of everybody."""
    return template.replace("{username}", escape_filter_chars(username))


def _server(url: str, start_tls: bool, timeout: int) -> ldap3.Server:
    try:
        return directory_server(url, start_tls=start_tls, timeout=timeout)
    except InsecureDirectoryError as e:
        raise DirectoryError(str(e)) from e


class LoginDirectory:
    """Authenticates people against one directory (see the module docstring)."""

    def __init__(self, config: DirectoryLogin) -> None:
        unknown = set(config.role_groups) - set(ROLES)
        if unknown:
            raise DirectoryError(f"unknown roles {', '.join(sorted(unknown))}; roles are {ROLES}")
        self.config = config
        self._server = _server(config.url, config.start_tls, config.timeout)

    def _connection(self, user: str | None, password: str | None) -> ldap3.Connection:
        connection = ldap3.Connection(
            self._server,
            user=user,
            password=password,
            read_only=True,
            receive_timeout=self.config.timeout,
            raise_exceptions=False,
        )
        if self.config.start_tls and not connection.start_tls():
            raise DirectoryError(f"StartTLS failed on {self.config.url}: {connection.result}")
        return connection

    def authenticate(self, username: str, password: str) -> Identity:
        """The identity and roles of a person whose password the directory accepts.

        Raises ``LoginRefusedError`` (wrong name or password, locked, no role) or
        ``DirectoryError`` (the directory itself is unusable).
        """
        name = username.strip()
        if not name or len(name) > _MAX_USERNAME or any(ord(c) < 32 for c in name):
            raise LoginRefusedError("malformed user name")
        # An empty password is an unauthenticated bind, which LDAP answers with success.
        if not password:
            raise LoginRefusedError("empty password")
        dn, display_name, uid = self._find(name)
        try:
            self._bind_as(dn, password)
        except LoginRefusedError as refused:
            raise LoginRefusedError(refused.reason, uid) from refused
        roles = self._roles(dn)
        if not roles:
            raise LoginRefusedError(f"{dn} is in none of the careledger role groups", uid)
        return Identity(uid, dn, display_name, roles)

    def _find(self, username: str) -> tuple[str, str, str]:
        """(DN, display name, canonical user name) of the one entry the filter finds."""
        config = self.config
        search = self._connection(config.service_dn or None, config.service_password or None)
        try:
            if not search.bind():
                raise DirectoryError(
                    f"the directory service account cannot bind: {search.result.get('description')}"
                )
            search.search(
                config.users_base,
                user_filter(config.user_filter, username),
                search_scope=ldap3.SUBTREE,
                attributes=["cn", "displayName", "uid"],
                size_limit=2,
            )
            entries = [e for e in search.response or [] if e.get("type") == "searchResEntry"]
        except LDAPException as e:
            raise DirectoryError(f"{config.url}: {e}") from e
        finally:
            search.unbind()
        if len(entries) != 1:
            raise LoginRefusedError(f"{len(entries)} directory entries for {username!r}")
        attributes = entries[0].get("attributes", {})
        shown = attributes.get("displayName") or attributes.get("cn") or [username]
        dn = str(entries[0]["dn"])
        return dn, _first(shown), _first(attributes.get("uid") or [dn])

    def _bind_as(self, dn: str, password: str) -> None:
        person = self._connection(dn, password)
        try:
            if not person.bind():
                raise LoginRefusedError(f"bind as {dn}: {person.result.get('description')}")
        except LDAPException as e:
            raise DirectoryError(f"{self.config.url}: {e}") from e
        finally:
            person.unbind()

    def _roles(self, dn: str) -> frozenset[str]:
        config = self.config
        search = self._connection(config.service_dn or None, config.service_password or None)
        roles = set()
        try:
            if not search.bind():
                raise DirectoryError("the directory service account cannot bind")
            for role, group in config.role_groups.items():
                member = f"(&(objectClass=groupOfNames)(member={escape_filter_chars(dn)}))"
                search.search(group, member, search_scope=ldap3.BASE, attributes=["cn"])
                if any(e.get("type") == "searchResEntry" for e in search.response or []):
                    roles.add(role)
        except LDAPException as e:
            raise DirectoryError(f"{config.url}: {e}") from e
        finally:
            search.unbind()
        return frozenset(roles)
