"""Least-privilege PostgreSQL grants for the roles careledger runs as.

Three roles (``ops/postgresql/roles.sql`` creates them):

* the owner runs ``careledger db upgrade`` and owns every table;
* the app role (portal, API, scheduler, inspector) may append to the ledger
  but never UPDATE, DELETE or TRUNCATE its entries, checkpoints or leaf
  index; tiles and the head it may only extend (UPDATE is granted, and
  migration 0012's triggers refuse anything but growth), never delete;
* the read-only role (proof and search replicas, database auditors) reads.

The statements are generated from the tables that exist, so re-running
them after a migration covers new tables.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

__all__ = [
    "APPEND_ONLY",
    "APP_PRIVATE",
    "GROW_ONLY",
    "RoleError",
    "app_privileges",
    "grant_statements",
]

#: Ledger tables whose rows never change once written.
APPEND_ONLY = frozenset({"ledger_entries", "ledger_checkpoints", "ledger_leaf_index"})
#: Ledger tables whose rows may only grow: a tile's width, the head's size.
GROW_ONLY = frozenset({"ledger_tiles", "ledger_head"})
#: Written by ``careledger db upgrade`` (the owner) only.
_OWNER_ONLY = frozenset({"alembic_version"})
#: Live session ids, CSRF tokens and sign-in attempts: the app's alone, never the
#: read-only role's (a replica reader or database auditor could otherwise take a session).
APP_PRIVATE = frozenset({"portal_sessions", "login_failures", "portal_jobs"})

_IDENTIFIER = re.compile(r"[a-z_][a-z0-9_]{0,62}")


class RoleError(ValueError):
    """A role or schema name that is not a plain lower-case SQL identifier."""


def _identifier(name: str) -> str:
    if not _IDENTIFIER.fullmatch(name):
        raise RoleError(f"{name!r} is not a plain lower-case identifier (a-z, 0-9, _)")
    return name


def app_privileges(table: str) -> tuple[str, ...]:
    """What the app role may do to ``table``."""
    if table in APPEND_ONLY:
        return ("SELECT", "INSERT")
    if table in GROW_ONLY:
        return ("SELECT", "INSERT", "UPDATE")
    if table in _OWNER_ONLY:
        return ("SELECT",)
    return ("SELECT", "INSERT", "UPDATE", "DELETE")


def grant_statements(
    tables: Iterable[str], *, schema: str, app_role: str, readonly_role: str
) -> list[str]:
    """REVOKE everything, then GRANT exactly ``app_privileges``; idempotent."""
    schema, app, readonly = (_identifier(n) for n in (schema, app_role, readonly_role))
    statements = [
        f"GRANT USAGE ON SCHEMA {schema} TO {app}, {readonly}",
        f"REVOKE CREATE ON SCHEMA {schema} FROM {app}, {readonly}",
        f"GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA {schema} TO {app}",
    ]
    for table in sorted(tables):
        qualified = f"{schema}.{_identifier(table)}"
        statements += [
            f"REVOKE ALL ON {qualified} FROM {app}, {readonly}",
            f"GRANT {', '.join(app_privileges(table))} ON {qualified} TO {app}",
        ]
        if table not in APP_PRIVATE:
            statements.append(f"GRANT SELECT ON {qualified} TO {readonly}")
    return statements
