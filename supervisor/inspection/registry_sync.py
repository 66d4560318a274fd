"""The practitioner registry read from a provider directory over LDAP (ldap3).

Entries are read with a paged search and mapped to registry columns by a
configurable attribute map (provider-directory style: one entry per
practitioner, multi-valued attributes for multi-site filings and
departments). The rows go through the same strict parser as a CSV, so a
directory with one bad entry is rejected whole, each problem named by DN.
Plain ``ldap://`` is accepted only on a loopback address; elsewhere the
directory must be reached over ``ldaps://``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import ldap3
from ldap3.core.exceptions import LDAPException

from inspectors.reference_files import COLUMNS, SourceRow
from supervisor.ground.ldap_server import InsecureDirectoryError, directory_server

__all__ = [
    "DEFAULT_ATTRIBUTES",
    "DirectoryConfig",
    "RegistrySyncError",
    "attribute_map",
    "read_registry_rows",
]

DEFAULT_ATTRIBUTES: Mapping[str, str] = {
    "license_no": "healthLicenseNumber",
    "name": "cn",
    "role": "healthPractitionerRole",
    "status": "healthLicenseStatus",
    "valid_from": "healthLicenseValidFrom",
    "valid_to": "healthLicenseValidTo",
    "practice_start": "healthPracticeStart",
    "primary_institution_code": "healthPrimaryInstitution",
    "multi_site_institution_codes": "healthMultiSiteInstitution",
    "departments": "healthDepartment",
}
_MULTI_VALUED = frozenset({"multi_site_institution_codes", "departments"})
_GENERALIZED_TIME = re.compile(
    r"([0-9]{4})([0-9]{2})([0-9]{2})(?:[0-9]{4,6}(?:[.,][0-9]+)?)?(?:Z|[+-][0-9]{4})?"
)
_PAGE_SIZE = 500


class RegistrySyncError(Exception):
    """The directory cannot be read (configuration, connection, bind or search)."""


@dataclass(frozen=True)
class DirectoryConfig:
    url: str
    base_dn: str
    bind_dn: str = ""
    password: str = field(default="", repr=False)
    search_filter: str = "(objectClass=healthProvider)"
    attributes: Mapping[str, str] = field(default_factory=lambda: dict(DEFAULT_ATTRIBUTES))
    timeout: int = 10  # seconds (ldap3 packs it into a socket option: whole seconds)


def attribute_map(overrides: Sequence[str]) -> dict[str, str]:
    """The default map with ``column=attribute`` overrides applied (from the settings)."""
    mapping = dict(DEFAULT_ATTRIBUTES)
    for item in overrides:
        column, _, attribute = item.partition("=")
        column, attribute = column.strip(), attribute.strip()
        if column not in COLUMNS["registry"] or not attribute:
            raise RegistrySyncError(
                f"registry attribute map entry {item!r} must be '<column>=<attribute>' with a "
                f"column among {', '.join(COLUMNS['registry'])}"
            )
        mapping[column] = attribute
    return mapping


def read_password(path: str) -> str:
    if not path:
        return ""
    try:
        return Path(path).read_text(encoding="utf-8").strip()
    except OSError as e:
        raise RegistrySyncError(
            f"cannot read the directory password file {path}: {e.strerror}"
        ) from e


def _server(url: str, timeout: int) -> ldap3.Server:
    try:
        return directory_server(url, start_tls=False, timeout=timeout)
    except InsecureDirectoryError as e:
        raise RegistrySyncError(str(e)) from e


def _value(column: str, raw: Any) -> str | list[str]:
    values = [str(v) for v in (raw if isinstance(raw, list) else [raw]) if v is not None]
    if column in _MULTI_VALUED:
        return values
    if column in ("valid_from", "valid_to", "practice_start"):
        values = [_iso_date(v) for v in values]
    if not values:
        return ""
    return values[0] if len(values) == 1 else values


def _iso_date(value: str) -> str:
    """GeneralizedTime (``20150101000000Z``) as an ISO date; anything else unchanged."""
    match = _GENERALIZED_TIME.fullmatch(value.strip())
    return f"{match[1]}-{match[2]}-{match[3]}" if match else value


def read_registry_rows(config: DirectoryConfig) -> list[SourceRow]:
    """Every provider entry under the base DN as a raw registry row, named by its DN."""
    server = _server(config.url, config.timeout)
    connection = ldap3.Connection(
        server,
        user=config.bind_dn or None,
        password=config.password or None,
        read_only=True,
        receive_timeout=config.timeout,
        raise_exceptions=False,
    )
    try:
        if not connection.bind():
            result = connection.result
            raise RegistrySyncError(
                f"cannot bind to {config.url} as {config.bind_dn or 'anonymous'}: "
                f"{result.get('description')} {result.get('message') or ''}".strip()
            )
        wanted = {attribute.lower(): column for column, attribute in config.attributes.items()}
        results = connection.extend.standard.paged_search(
            config.base_dn,
            config.search_filter,
            search_scope=ldap3.SUBTREE,
            attributes=sorted(set(config.attributes.values())),
            paged_size=_PAGE_SIZE,
            generator=True,
        )
        rows = []
        for item in results:
            if item.get("type") != "searchResEntry":
                continue
            values: dict[str, str | list[str]] = {column: "" for column in config.attributes}
            for attribute, raw in item.get("raw_attributes", {}).items():
                column = wanted.get(attribute.lower())
                if column is not None:
                    decoded = [v.decode("utf-8") for v in raw]
                    values[column] = _value(column, decoded)
            rows.append(SourceRow(f"dn {item['dn']}", values))
        if connection.result.get("result") not in (0, None):
            raise RegistrySyncError(
                f"search under {config.base_dn} failed: {connection.result.get('description')}"
            )
        return rows
    except LDAPException as e:
        raise RegistrySyncError(f"{config.url}: {e}") from e
    finally:
        connection.unbind()
