"""Portal sessions kept on the server, and the throttle on failed sign-ins.

The session cookie carries only a random session id. Signing out or an idle
timeout ends the session in the database, so a copied cookie is worthless
afterwards. Sign-in pauses for an address, or for a person, after too many
failures in a window, before the directory is even asked (``LoginThrottle``).
"""

from __future__ import annotations

import secrets
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import Engine, delete, func, insert, select, text, update

from ledger.database import write_transaction
from supervisor.database import tables
from supervisor.web.directory_auth import Identity

__all__ = [
    "LoginThrottle",
    "PortalSession",
    "PortalSessions",
    "SignInAttempt",
    "identity_key",
]

_sessions = tables.portal_sessions
_failures = tables.login_failures
#: Serialises sign-in checks on PostgreSQL (any constant: it names this one lock).
_LOCK_KEY = 0x6361726C65646772


def _utc(moment: datetime) -> datetime:
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


@dataclass(frozen=True)
class PortalSession:
    session_id: str
    username: str
    dn: str
    display_name: str
    roles: frozenset[str]
    csrf_token: str
    purpose: str | None = None


class PortalSessions:
    """Sessions that end on sign-out, after ``idle`` without a request, or ``lifetime``
    after sign-in however busy they are."""

    def __init__(
        self,
        engine: Engine,
        clock: Callable[[], datetime],
        idle: timedelta,
        lifetime: timedelta = timedelta(hours=12),
    ) -> None:
        self.engine = engine
        self.clock = clock
        self.idle = idle
        self.lifetime = lifetime

    def start(self, identity: Identity) -> PortalSession:
        now = self.clock()
        session = PortalSession(
            secrets.token_urlsafe(32),
            identity.username,
            identity.dn,
            identity.display_name,
            identity.roles,
            secrets.token_urlsafe(32),
        )
        with write_transaction(self.engine) as connection:
            connection.execute(
                insert(_sessions).values(
                    session_id=session.session_id,
                    username=session.username,
                    dn=session.dn,
                    display_name=session.display_name,
                    roles=",".join(sorted(session.roles)),
                    csrf_token=session.csrf_token,
                    created_at=tables.stored_time(now),
                    last_seen_at=tables.stored_time(now),
                )
            )
        return session

    def current(self, session_id: str) -> PortalSession | None:
        """The live session with this id (its idle clock restarted), or None."""
        now = self.clock()
        with write_transaction(self.engine) as connection:
            row = connection.execute(
                select(_sessions).where(
                    _sessions.c.session_id == session_id, _sessions.c.ended_at.is_(None)
                )
            ).first()
            if row is None:
                return None
            too_old = now - _utc(row.created_at) > self.lifetime
            if too_old or now - _utc(row.last_seen_at) > self.idle:
                connection.execute(
                    update(_sessions)
                    .where(_sessions.c.session_id == session_id)
                    .values(ended_at=tables.stored_time(now))
                )
                return None
            connection.execute(
                update(_sessions)
                .where(_sessions.c.session_id == session_id)
                .values(last_seen_at=tables.stored_time(now))
            )
        return PortalSession(
            row.session_id,
            row.username,
            row.dn,
            row.display_name,
            frozenset(r for r in row.roles.split(",") if r),
            row.csrf_token,
            row.purpose,
        )

    def state_purpose(self, session_id: str, purpose: str) -> None:
        """Record why this session looks at patient-level data (before the first look)."""
        with write_transaction(self.engine) as connection:
            connection.execute(
                update(_sessions)
                .where(_sessions.c.session_id == session_id, _sessions.c.ended_at.is_(None))
                .values(purpose=purpose)
            )

    def end(self, session_id: str) -> None:
        with write_transaction(self.engine) as connection:
            connection.execute(
                update(_sessions)
                .where(_sessions.c.session_id == session_id, _sessions.c.ended_at.is_(None))
                .values(ended_at=tables.stored_time(self.clock()))
            )


def identity_key(username: str) -> str:
    """What the throttle counts failures of: the name as the directory matches it.

    LDAP matches ``uid`` without regard to case and with compatibility folding, so
    ``ALICE``, ``alice`` and fullwidth ``ａｌｉｃｅ`` are one key (NFKC, then casefold).
    """
    return unicodedata.normalize("NFKC", username).strip().casefold()[:64]


@dataclass(frozen=True)
class SignInAttempt:
    """A sign-in under way: counted as a failure until it succeeds (see ``LoginThrottle``)."""

    row_id: int
    identity: str
    address: str


class LoginThrottle:
    """Failed sign-ins are limited per client address and per person, never globally.

    * An address may fail ``max_failures`` times in ``window``; then it waits. Every
      other address is unaffected, so one guesser never locks the others out.
    * A person (the directory's name for them) may fail ``identity_factor`` times as
      often, from all addresses together: that stops guessing one password from many
      addresses, while a few failures from one address never stop the right password
      from another.

    ``begin`` checks and records in one serialised transaction, and an attempt counts
    as a failure from the moment it begins until ``succeeded`` removes it, so parallel
    guesses cannot all pass the check before any of them is recorded.
    """

    def __init__(
        self,
        engine: Engine,
        clock: Callable[[], datetime],
        max_failures: int,
        window: timedelta = timedelta(minutes=15),
        identity_factor: int = 4,
    ) -> None:
        self.engine = engine
        self.clock = clock
        self.max_failures = max_failures
        self.window = window
        self.identity_limit = max_failures * identity_factor

    def begin(self, username: str, address: str) -> SignInAttempt | timedelta:
        """A new attempt, or how long this address or person must wait before trying."""
        identity, address = identity_key(username), address[:64]
        now = self.clock()
        since = tables.stored_time(now) - self.window
        recent = _failures.c.failed_at > since
        with write_transaction(self.engine) as connection:
            if connection.dialect.name == "postgresql":
                # SQLite's write transaction holds the database lock already.
                connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _LOCK_KEY})
            for condition, limit in (
                (_failures.c.address == address, self.max_failures),
                (_failures.c.username == identity, self.identity_limit),
            ):
                count, oldest = connection.execute(
                    select(func.count(), func.min(_failures.c.failed_at)).where(recent, condition)
                ).one()
                if count >= limit:
                    return max(timedelta(seconds=1), _utc(oldest) + self.window - now)
            row_id = connection.execute(
                insert(_failures).values(
                    username=identity, address=address, failed_at=tables.stored_time(now)
                )
            ).inserted_primary_key
        assert row_id is not None
        return SignInAttempt(int(row_id[0]), identity, address)

    def refused(self, attempt: SignInAttempt, identity: str | None) -> None:
        """The directory refused: the failure stays, under the directory's name if it gave one."""
        if identity is None or identity_key(identity) == attempt.identity:
            return
        with write_transaction(self.engine) as connection:
            connection.execute(
                update(_failures)
                .where(_failures.c.id == attempt.row_id)
                .values(username=identity_key(identity))
            )

    def succeeded(self, attempt: SignInAttempt) -> None:
        """The right password: this attempt was no failure."""
        self._forget(attempt)

    def abandoned(self, attempt: SignInAttempt) -> None:
        """The directory could not be asked: nobody guessed anything."""
        self._forget(attempt)

    def _forget(self, attempt: SignInAttempt) -> None:
        with write_transaction(self.engine) as connection:
            connection.execute(delete(_failures).where(_failures.c.id == attempt.row_id))
