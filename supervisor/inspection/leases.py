"""Leases: which one process does a job that must run once per database.

A lease is a row of ``scheduler_lease`` (one per name) that its holder takes by
compare-and-swap and renews; if the holder dies it expires and another takes it.
``scheduler`` is the scheduled jobs' (one scheduler runs them); ``inspection`` is the
ledger follower's, so ``careledger inspector`` on two machines, or beside the
scheduler's sweep, inspects each record once rather than racing for the cursor.
"""

from __future__ import annotations

import os
import socket
import uuid
from collections.abc import Callable
from datetime import datetime, timedelta

from sqlalchemy import Engine, insert, select, update
from sqlalchemy.exc import IntegrityError

from ledger.database import read_transaction, write_transaction
from supervisor.database import tables
from supervisor.ground.china_time import PROVINCE_ZONE

__all__ = ["INSPECTION_LEASE", "SCHEDULER_LEASE", "Lease", "default_holder"]

SCHEDULER_LEASE = "scheduler"
INSPECTION_LEASE = "inspection"


def _now() -> datetime:
    return datetime.now(PROVINCE_ZONE)


def default_holder() -> str:
    """This process, as a lease names its holder: host, process id and a random part."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


class Lease:
    """One named lease row: acquired, renewed and released by compare-and-swap."""

    def __init__(
        self,
        engine: Engine,
        holder: str,
        seconds: int,
        clock: Callable[[], datetime] | None = None,
        *,
        name: str = SCHEDULER_LEASE,
    ) -> None:
        self.engine = engine
        self.holder = holder
        self.seconds = seconds
        self.clock = clock or _now
        self.name = name

    def _expiry(self, now: datetime) -> datetime:
        return tables.stored_time(now + timedelta(seconds=self.seconds))

    def acquire(self) -> bool:
        """Take the lease if it is free, expired or already ours."""
        lease = tables.scheduler_lease
        now = self.clock()
        try:
            with write_transaction(self.engine) as connection:
                moved = connection.execute(
                    update(lease)
                    .where(
                        lease.c.name == self.name,
                        (lease.c.expires_at < tables.stored_time(now))
                        | (lease.c.holder == self.holder),
                    )
                    .values(
                        holder=self.holder,
                        acquired_at=tables.stored_time(now),
                        expires_at=self._expiry(now),
                    )
                ).rowcount
                if moved:
                    return True
                exists = connection.execute(
                    select(lease.c.holder).where(lease.c.name == self.name)
                ).first()
                if exists is not None:
                    return False
                connection.execute(
                    insert(lease).values(
                        name=self.name,
                        holder=self.holder,
                        acquired_at=tables.stored_time(now),
                        expires_at=self._expiry(now),
                    )
                )
                return True
        except IntegrityError:
            return False  # another process inserted the row first

    def renew(self) -> bool:
        """Extend the lease; False if it is no longer ours (it expired and was taken)."""
        lease = tables.scheduler_lease
        with write_transaction(self.engine) as connection:
            return bool(
                connection.execute(
                    update(lease)
                    .where(lease.c.name == self.name, lease.c.holder == self.holder)
                    .values(expires_at=self._expiry(self.clock()))
                ).rowcount
            )

    def release(self) -> None:
        lease = tables.scheduler_lease
        with write_transaction(self.engine) as connection:
            connection.execute(
                update(lease)
                .where(lease.c.name == self.name, lease.c.holder == self.holder)
                .values(expires_at=tables.stored_time(self.clock() - timedelta(seconds=1)))
            )

    def current_holder(self) -> tuple[str, datetime] | None:
        with read_transaction(self.engine) as connection:
            row = connection.execute(
                select(tables.scheduler_lease).where(tables.scheduler_lease.c.name == self.name)
            ).first()
        return None if row is None else (row.holder, tables.read_time(row.expires_at))

    def holder_text(self) -> str:
        """Who holds the lease and until when, for a message ("?" if nobody ever took it)."""
        held = self.current_holder()
        return "?" if held is None else f"{held[0]} (lease until {held[1]:%H:%M:%S} UTC)"
