"""Where careledger's LDAP connections go, and the one rule they share: no password in clear
over a network (plain ``ldap://`` only on loopback, unless StartTLS follows)."""

from __future__ import annotations

import ipaddress
import urllib.parse

import ldap3

__all__ = ["InsecureDirectoryError", "directory_server"]


class InsecureDirectoryError(ValueError):
    """The URL is not LDAP, or would send passwords in clear over a network."""


def directory_server(url: str, *, start_tls: bool, timeout: int) -> ldap3.Server:
    """An ldap3 server for ``url``; raises ``InsecureDirectoryError`` naming the problem."""
    parts = urllib.parse.urlsplit(url)
    if parts.scheme not in ("ldap", "ldaps") or not parts.hostname:
        raise InsecureDirectoryError(f"{url!r} is not an ldap:// or ldaps:// URL")
    if parts.scheme == "ldap" and not start_tls:
        try:
            loopback = ipaddress.ip_address(parts.hostname).is_loopback
        except ValueError:
            loopback = parts.hostname == "localhost"
        if not loopback:
            raise InsecureDirectoryError(
                f"{url}: passwords would cross the network in clear; use ldaps:// or StartTLS "
                "(plain ldap:// is accepted on loopback only)"
            )
    return ldap3.Server(
        parts.hostname,
        port=parts.port,
        use_ssl=parts.scheme == "ldaps",
        get_info=ldap3.NONE,
        connect_timeout=timeout,
    )
