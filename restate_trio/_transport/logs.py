"""Logging what unauthenticated peers cause, without letting them flood the log.

A rejected request (a bad signature, for instance) is worth a WARNING: it usually means a
misconfigured key. But anyone who can reach the port can send thousands of them, so at most one
WARNING is written per interval; the rest go to DEBUG and are counted in the next WARNING.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

__all__ = ["RateLimitedWarning"]


class RateLimitedWarning:
    """At most one WARNING per ``interval`` seconds; the others at DEBUG, counted."""

    __slots__ = ("_clock", "_interval", "_logger", "_next", "_suppressed")

    def __init__(
        self,
        logger: logging.Logger,
        interval: float = 10.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._logger = logger
        self._interval = interval
        self._clock = clock
        self._next = float("-inf")
        self._suppressed = 0

    def __call__(self, message: str, *args: object) -> None:
        now = self._clock()
        if now < self._next:
            self._suppressed += 1
            self._logger.debug(message, *args)
            return
        self._next = now + self._interval
        suppressed, self._suppressed = self._suppressed, 0
        if suppressed:
            message += " (and %d more since the last such warning, logged at DEBUG)"
            args = (*args, suppressed)
        self._logger.warning(message, *args)
