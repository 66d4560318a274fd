"""A database that is down or full is an outage to wait out, not a server bug.

Requests that meet one get 503 (or 507 for a full disk) with ``Retry-After``
rather than 500; since a batch is one transaction, nothing of it was stored,
and the platform's retry with the same ``batch_id`` is safe.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.exc import DBAPIError

__all__ = ["Outage", "outage_of"]

#: SQLSTATE classes and codes of a server that is unreachable, shutting down or starting.
_UNAVAILABLE_STATES = ("08", "57P01", "57P02", "57P03", "53300")
_FULL_STATES = ("53100",)  # disk_full
_FULL_MESSAGES = ("database or disk is full", "no space left on device", "could not extend file")
_UNAVAILABLE_MESSAGES = (
    "connection refused",
    "server closed the connection",
    "terminating connection",
    "the database system is",  # starting up, shutting down, in recovery
    "connection is closed",
    "unable to open database file",
    "disk i/o error",
)


@dataclass(frozen=True)
class Outage:
    status: int
    kind: str
    title: str
    detail: str
    retry_after: int


def _sqlstate(error: DBAPIError) -> str:
    return str(getattr(error.orig, "sqlstate", None) or getattr(error.orig, "pgcode", "") or "")


def outage_of(error: BaseException) -> Outage | None:
    """The outage ``error`` signals, or None if it is not one (then it is a bug: 500)."""
    if not isinstance(error, DBAPIError):
        return None
    state = _sqlstate(error)
    message = str(error.orig).lower()
    if state in _FULL_STATES or any(m in message for m in _FULL_MESSAGES):
        return Outage(
            507,
            "storage-full",
            "Storage full",
            "the regulator's storage is full; nothing of this request was stored. "
            "Retry later with the same batch_id",
            60,
        )
    if (
        error.connection_invalidated
        or state.startswith(_UNAVAILABLE_STATES)
        or any(m in message for m in _UNAVAILABLE_MESSAGES)
    ):
        return Outage(
            503,
            "database-unavailable",
            "Service unavailable",
            "the ledger database cannot be reached; nothing of this request was stored. "
            "Retry with the same batch_id",
            5,
        )
    return None
