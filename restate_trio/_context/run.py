"""``ctx.run``: executing a side effect once, journaling its outcome, retrying failures."""

from __future__ import annotations

import contextvars
import inspect
import logging
from collections.abc import Callable, Sequence

import trio

__all__ = ["IN_RUN", "invoke_closure"]

logger = logging.getLogger("restate_trio")

#: True inside a run closure: durable operations there would not be journaled in order.
IN_RUN: contextvars.ContextVar[bool] = contextvars.ContextVar("restate_trio_in_run", default=False)


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
