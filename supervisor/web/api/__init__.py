"""The platform API (blueprint ``api``): submit batches, fetch receipts, read and answer
rectification notices, read the schemas."""

from __future__ import annotations

from supervisor.web.api import notice_views  # noqa: F401  (its routes are on ``api``)
from supervisor.web.api.views import api

__all__ = ["api"]
