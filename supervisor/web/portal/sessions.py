"""Portal sessions kept on the server, and the throttle on failed sign-ins.

The session cookie carries only a random session id. Signing out or an idle
timeout ends the session in the database, so a copied cookie is worthless
afterwards. Sign-in pauses for a user name or an address after too many
failures in a window, before the directory is even asked.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import Engine, func, insert, or_, select, update

from ledger.database import read_transaction, write_transaction
from supervisor.database import tables
from supervisor.web.directory_auth import Identity

__all__ = ["LoginThrottle", "PortalSession", "PortalSessions"]

_sessions = tables.portal_sessions
_failures = tables.login_failures


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
    """Sessions that end on sign-out or after ``idle`` without a request."""

    def __init__(self, engine: Engine, clock: Callable[[], datetime], idle: timedelta) -> None:
        self.engine = engine
        self.clock = clock
        self.idle = idle

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
            if now - _utc(row.last_seen_at) > self.idle:
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


class LoginThrottle:
    """At most ``max_failures`` failed sign-ins per user name or address in ``window``."""

    def __init__(
        self,
        engine: Engine,
        clock: Callable[[], datetime],
        max_failures: int,
        window: timedelta = timedelta(minutes=15),
    ) -> None:
        self.engine = engine
        self.clock = clock
        self.max_failures = max_failures
        self.window = window

    def wait(self, username: str, address: str) -> timedelta | None:
        """How long sign-in is paused for this name or address (None: not paused)."""
        since = tables.stored_time(self.clock()) - self.window
        with read_transaction(self.engine) as connection:
            count, oldest = connection.execute(
                select(func.count(), func.min(_failures.c.failed_at)).where(
                    _failures.c.failed_at > since,
                    or_(_failures.c.username == username, _failures.c.address == address),
                )
            ).one()
        if count < self.max_failures:
            return None
        return max(timedelta(seconds=1), _utc(oldest) + self.window - self.clock())

    def failed(self, username: str, address: str) -> None:
        with write_transaction(self.engine) as connection:
            connection.execute(
                insert(_failures).values(
                    username=username[:64],
                    address=address[:64],
                    failed_at=tables.stored_time(self.clock()),
                )
            )
