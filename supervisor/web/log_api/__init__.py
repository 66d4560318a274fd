"""The public log API (blueprint ``log``): what auditors need, with no account."""

from __future__ import annotations

from supervisor.web.log_api.views import log

__all__ = ["log"]
