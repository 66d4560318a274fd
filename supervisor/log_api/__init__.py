"""The public log API (blueprint ``log``): what auditors need, with no account."""

from __future__ import annotations

from .views import log

__all__ = ["log"]
