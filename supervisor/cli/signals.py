"""SIGTERM and Ctrl-C handled by a long-running command, and given back when it returns.

A command run in-process (tests, a caller's own program) must not leave its handler
behind: a process forked later would inherit a SIGTERM that no longer ends it.
"""

from __future__ import annotations

import signal
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from types import FrameType

__all__ = ["on_stop_signals"]

_STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)


@contextmanager
def on_stop_signals(handler: Callable[[], None]) -> Iterator[None]:
    """Call ``handler`` on SIGTERM or SIGINT while the block runs; restore the previous
    handlers afterwards."""

    def received(signum: int, frame: FrameType | None) -> None:
        handler()

    previous = {signum: signal.signal(signum, received) for signum in _STOP_SIGNALS}
    try:
        yield
    finally:
        for signum, earlier in previous.items():
            signal.signal(signum, earlier)
