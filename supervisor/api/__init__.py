"""The platform API (blueprint ``api``): submit batches, fetch receipts, read the schemas."""

from __future__ import annotations

from .views import api

__all__ = ["api"]
