"""``ctx.run``: executing a side effect once, journaling its outcome, retrying failures."""

from __future__ import annotations

import contextvars
import inspect
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import timedelta

import trio

__all__ = ["IN_RUN", "RetryPolicy", "invoke_closure"]

logger = logging.getLogger("restate_trio")

#: True inside a run closure: durable operations there would not be journaled in order.
IN_RUN: contextvars.ContextVar[bool] = contextvars.ContextVar("restate_trio_in_run", default=False)


@dataclass(frozen=True)
class RetryPolicy:
    """How a failing ``ctx.run`` closure is retried before its failure becomes terminal.

    Each retry is a new attempt of the invocation, scheduled by Restate after the delay; the
    closure runs again there. Unset limits mean "retry forever" (with the invocation's retry
    policy deciding the delays).

    :param max_attempts: total executions allowed, the first included.
    :param max_duration: how long to keep retrying, measured from the first failure.
    :param initial_interval: the delay before the first retry.
    :param factor: the multiplier applied to the delay after every retry.
    :param max_interval: the largest delay between two retries.
    """

    max_attempts: int | None = None
    max_duration: timedelta | None = None
    initial_interval: timedelta | None = None
    factor: float = 2.0
    max_interval: timedelta | None = None

    def __post_init__(self) -> None:
        if self.max_attempts is not None and self.max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")
        if self.factor < 1.0:
            raise ValueError("factor must be at least 1.0")

    def verdict(self, attempt: int, elapsed_ms: int) -> int | None:
        """After failed execution number ``attempt`` (from 1): the retry delay in ms (0 for
        the server's default), or ``None`` when the failure must become terminal."""
        if self.max_attempts is not None and attempt >= self.max_attempts:
            return None
        if self.max_duration is not None and elapsed_ms >= _ms(self.max_duration):
            return None
        if self.initial_interval is None:
            return 0
        delay = _ms(self.initial_interval) * self.factor ** (attempt - 1)
        if self.max_interval is not None:
            delay = min(delay, _ms(self.max_interval))
        return max(1, int(delay))


def _ms(d: timedelta) -> int:
    return int(d.total_seconds() * 1000)


async def invoke_closure(
    fn: Callable[..., object],
    args: Sequence[object],
    limiter: trio.CapacityLimiter,
) -> object:
    """Run a sync closure in a worker thread, or an async one in this task."""
    IN_RUN.set(True)
    if inspect.iscoroutinefunction(fn):
        return await fn(*args)
    # abandon_on_cancel: a thread cannot be interrupted, but the attempt must be able to end
    # (suspension, disconnect); the thread's result is discarded and never journaled.
    # trio runs the thread in a copy of this task's context, so IN_RUN is set there too.
    return await trio.to_thread.run_sync(fn, *args, limiter=limiter, abandon_on_cancel=True)
