"""The platform API (blueprint ``api``): submit batches, fetch receipts, read the schemas."""

from __future__ import annotations

from supervisor.web.api.views import api

__all__ = ["api"]
