"""What a test does when this machine lacks a system tool or service it needs.

It fails, naming what to install: a green run that skipped the portal, LDAP or the
browser would hide them. Whoever runs the suite on a partial machine on purpose may
opt out with ``CARELEDGER_TEST_ALLOW_SKIP=1`` (then such tests are skipped, and the
run says so).
"""

from __future__ import annotations

import os
from typing import NoReturn

import pytest

__all__ = ["unavailable"]


def unavailable(message: str) -> NoReturn:
    """Fail with ``message`` (what is missing and how to install it), or skip if allowed."""
    if os.environ.get("CARELEDGER_TEST_ALLOW_SKIP") == "1":
        pytest.skip(message)
    pytest.fail(message + " (or set CARELEDGER_TEST_ALLOW_SKIP=1 to skip such tests)")
