"""Stop requests: SIGINT and SIGTERM set a flag that the long-running commands poll.

A flag and not an exception: raised from a handler, an exception could land anywhere, in
the middle of stopping a child or removing a folder. A plain attribute and not a
``threading.Event``: ``Event.set`` takes a lock, which a handler must not do while the main
thread (the only one handlers run in) might hold it.
"""

from __future__ import annotations

import signal
from contextlib import contextmanager
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Generator
    from types import FrameType


class StopFlag:
    """Set once a stop was requested; ``is_set`` is what ``watchfiles.watch`` polls."""

    def __init__(self) -> None:
        self._set = False
        self.signal: int | None = None

    def set(self, signum: int | None = None) -> None:
        """Request a stop."""
        self._set = True
        self.signal = signum

    def is_set(self) -> bool:
        """Whether a stop was requested."""
        return self._set


@contextmanager
def stop_on_signals() -> Generator[StopFlag]:
    """SIGINT and SIGTERM set the flag (no KeyboardInterrupt) inside the block."""
    stop = StopFlag()

    def request_stop(signum: int, frame: FrameType | None) -> None:
        stop.set(signum)

    signals = (signal.SIGINT, signal.SIGTERM)
    previous = {signum: signal.signal(signum, request_stop) for signum in signals}
    try:
        yield stop
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
