"""gunicorn workers that die with their master.

Killed with SIGKILL, a gunicorn master cannot stop its workers: they keep the
listening socket and answer for a while (about 15 s, until they notice), so an
immediate restart fails with "address in use". On Linux each worker asks the
kernel for SIGTERM when its parent dies (``PR_SET_PDEATHSIG``); SIGTERM lets it
finish the request at hand, as on a normal stop.
"""

from __future__ import annotations

import ctypes
import os
import signal
from typing import Any

__all__ = ["die_with_master", "post_fork"]

_PR_SET_PDEATHSIG = 1


def die_with_master(master_pid: int) -> None:
    """In a freshly forked worker: be sent SIGTERM when ``master_pid`` dies (Linux only)."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)
    except (OSError, AttributeError):  # not Linux: nothing to ask for
        return
    if os.getppid() != master_pid:  # the master died before the request was made
        os.kill(os.getpid(), signal.SIGTERM)


def post_fork(server: Any, worker: Any) -> None:
    """gunicorn's ``post_fork`` hook."""
    die_with_master(server.pid)
