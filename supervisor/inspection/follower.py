"""The ledger follower takes turns: only the holder of the inspection lease follows.

``careledger inspector`` holds the lease while it runs (a second one waits as a standby);
the scheduler's inspection sweep follows only when no inspector holds it. Without it the
two raced for the cursor on every chunk while ingest never paused, each reading and
evaluating the same records and one throwing its work away. The cursor's compare-and-swap
still guards correctness if a lease expires mid-pass.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from sqlalchemy import Engine

from supervisor.inspection.inspector import Inspector, PassReport
from supervisor.inspection.leases import INSPECTION_LEASE, Lease, default_holder

__all__ = ["FOLLOWER_LEASE_SECONDS", "follow_in_turn", "follower_lease"]

#: Renewed between passes; a pass of 10,000 records takes seconds, so only a follower
#: that died lets it expire.
FOLLOWER_LEASE_SECONDS = 60


def follower_lease(
    engine: Engine, holder: str | None = None, clock: Callable[[], datetime] | None = None
) -> Lease:
    """The inspection lease as ``holder`` (default: this process) holds it."""
    return Lease(
        engine, holder or default_holder(), FOLLOWER_LEASE_SECONDS, clock, name=INSPECTION_LEASE
    )


def follow_in_turn(
    inspector: Inspector, lease: Lease, stop: Callable[[], bool] = lambda: False
) -> list[PassReport] | None:
    """Follow to the head while holding ``lease`` (taken if free), renewing it between
    passes; None if another follower holds it. Stops early if the lease is lost."""
    if not lease.acquire():
        return None
    reports = inspector.follow(stop=lambda: stop() or not lease.renew())
    # The follower also keeps the leaf-hash index current, so that proofs asked by leaf
    # hash are a read-only lookup; only while it still holds the lease (one at a time).
    if lease.renew():
        inspector.store.index_new_leaves()
    return reports
