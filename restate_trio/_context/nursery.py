"""Durable nurseries and durable cancel scopes: trio's structured concurrency, journaled.

Both are thin layers over trio's own nursery and cancel scope; what makes them durable is the
scheduler (scheduler.py): the tasks a durable nursery starts take turns with the baton, and a
durable cancel scope's deadline is a journaled timer that the scheduler fires in journal order.
"""

from __future__ import annotations

import time
import types
from collections.abc import Awaitable, Callable
from contextlib import AbstractAsyncContextManager
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Generic, Self, TypeVar, TypeVarTuple, Unpack

import trio

from ..errors import DurableTimeoutError
from .scheduler import JoinPoint, ScopeTimer

if TYPE_CHECKING:
    from .invocation import Attempt

__all__ = ["DurableCancelScope", "DurableNursery", "TaskResult", "attempt_of"]

T = TypeVar("T")
R = TypeVar("R")
Ts = TypeVarTuple("Ts")


def attempt_of(ctx: object) -> Attempt:
    """The attempt behind a handler's context object."""
    from .context_impl import ContextImpl

    if not isinstance(ctx, ContextImpl):
        raise TypeError(f"expected the context a restate_trio handler received, got {ctx!r}")
    return ctx.attempt


class TaskResult(Generic[T]):
    """The return value of a task started with :meth:`DurableNursery.start_soon_result`.

    Read :attr:`value` once the nursery's ``async with`` block has ended (or after awaiting
    something that shows the task finished); a task that raised has no value, its exception
    propagates out of the nursery as trio's nurseries do.
    """

    __slots__ = ("_box",)

    def __init__(self, box: list[T]) -> None:
        self._box = box  # the nursery appends the return value

    @property
    def done(self) -> bool:
        """Whether the task returned."""
        return bool(self._box)

    @property
    def value(self) -> T:
        """What the task returned; ``RuntimeError`` if it has not (yet)."""
        if not self._box:
            raise RuntimeError("the task has not returned a value (yet)")
        return self._box[0]

    def __repr__(self) -> str:
        return f"<TaskResult {'done' if self.done else 'pending'}>"


class DurableNursery:
    """A trio nursery whose tasks may use the handler's context (``ctx``).

    Made by :func:`restate_trio.open_nursery`. The tasks run one at a time between durable
    awaits, in an order that depends only on the program and the journal, so their commands
    are journaled in the same order on every replay. A task's exception cancels its siblings
    at their current durable await, and the nursery raises an ``ExceptionGroup``, as trio's
    nurseries do.
    """

    __slots__ = ("_attempt", "_join", "_manager", "_nursery")

    def __init__(self, attempt: Attempt) -> None:
        self._attempt = attempt
        self._manager: AbstractAsyncContextManager[trio.Nursery] | None = None
        self._nursery: trio.Nursery | None = None
        self._join: JoinPoint | None = None

    @property
    def cancel_scope(self) -> trio.CancelScope:
        """The nursery's cancel scope: ``cancel()`` it to stop every task (deterministically:
        they are cancelled at their current durable await, in the order they were started)."""
        assert self._nursery is not None, "the nursery is not open"
        return self._nursery.cancel_scope

    def start_soon(
        self,
        fn: Callable[[Unpack[Ts]], Awaitable[object]],
        *args: *Ts,
        name: str | None = None,
    ) -> None:
        """Start ``fn(*args)`` as a durable task (its return value is discarded)."""
        self._spawn(fn, args, None, name)

    def start_soon_result(
        self,
        fn: Callable[[Unpack[Ts]], Awaitable[T]],
        *args: *Ts,
        name: str | None = None,
    ) -> TaskResult[T]:
        """Start ``fn(*args)`` as a durable task; its return value goes to the result."""
        box: list[T] = []
        self._spawn(fn, args, box.append, name)
        return TaskResult(box)

    def _spawn(
        self,
        fn: Callable[..., Awaitable[R]],
        args: tuple[object, ...],
        on_return: Callable[[R], None] | None,
        name: str | None,
    ) -> None:
        attempt = self._attempt
        attempt.check_owner()
        nursery, join = self._nursery, self._join
        if nursery is None or join is None:
            raise RuntimeError("start tasks inside the nursery's async with block")
        scheduler = attempt.scheduler
        assert scheduler is not None

        async def body() -> None:
            value = await fn(*args)
            if on_return is not None:
                on_return(value)

        label = name or getattr(fn, "__qualname__", None) or repr(fn)
        scheduler.spawn(nursery, join, body, name=f"durable task {label}")

    async def __aenter__(self) -> Self:
        """Open the nursery; the handler's attempt switches to durable concurrency."""
        scheduler = self._attempt.activate_scheduler()
        holder = scheduler.holder
        assert holder is not None
        manager = self._manager = trio.open_nursery()
        self._nursery = await manager.__aenter__()
        self._join = JoinPoint(holder, self._nursery.cancel_scope)
        return self

    async def __aexit__(
        self,
        etype: type[BaseException] | None,
        exc: BaseException | None,
        tb: types.TracebackType | None,
    ) -> bool:
        """Wait for the tasks (giving the turn up meanwhile); True, as trio's, when a
        cancellation of the nursery's own scope was absorbed."""
        manager, join = self._manager, self._join
        assert manager is not None
        assert join is not None
        scheduler = self._attempt.scheduler
        released = False
        if scheduler is not None and not self._attempt.machine.closed:
            if exc is not None:
                # What trio's nursery does with the body's exception, done here under the
                # baton, so that the children it cancels are queued deterministically.
                join.scope.cancel()
            released = scheduler.begin_join(join)
        try:
            return bool(await manager.__aexit__(etype, exc, tb))
        finally:
            self._nursery = None
            if released and scheduler is not None:
                await scheduler.end_join(join)


class DurableCancelScope:
    """A trio cancel scope whose deadline is a journaled timer.

    Made by :func:`restate_trio.move_on_after` and its siblings. When the timer completes
    before the block does, the block is cancelled at its current durable await, and the same
    happens on every replay (the timer's completion has its place in the journal). Everything
    else is trio's :class:`trio.CancelScope`: nesting, ``shield``, ``cancel()``,
    ``cancelled_caught``.
    """

    __slots__ = ("_attempt", "_fail", "_scope", "_timer", "_wake_up_ms")

    def __init__(
        self, attempt: Attempt, wake_up_ms: int, *, shield: bool, fail: str | None
    ) -> None:
        self._attempt = attempt
        self._wake_up_ms = wake_up_ms
        self._fail = fail  # the DurableTimeoutError's message, for the fail_* forms
        self._scope = trio.CancelScope(shield=shield)
        self._timer: ScopeTimer | None = None

    @property
    def deadline(self) -> datetime:
        """When the journaled timer fires (UTC)."""
        return datetime.fromtimestamp(self._wake_up_ms / 1000, tz=UTC)

    @property
    def timed_out(self) -> bool:
        """Whether the timer fired while the block ran."""
        return self._timer is not None and self._timer.fired

    @property
    def cancel_called(self) -> bool:
        """Whether the block was cancelled (by its timer or by :meth:`cancel`)."""
        return self._scope.cancel_called

    @property
    def cancelled_caught(self) -> bool:
        """Whether the block ended because it was cancelled (as trio's)."""
        return self._scope.cancelled_caught

    @property
    def shield(self) -> bool:
        """Whether cancellations from outside the block are kept out of it (as trio's)."""
        return self._scope.shield

    @shield.setter
    def shield(self, value: bool) -> None:
        """Shield the block from outside cancellations, or stop shielding it."""
        self._scope.shield = value

    def cancel(self) -> None:
        """Cancel the block now (as :meth:`trio.CancelScope.cancel`)."""
        self._scope.cancel()

    def __enter__(self) -> Self:
        """Journal the timer and enter the scope."""
        attempt = self._attempt
        scheduler = attempt.activate_scheduler()
        nid = attempt.command(attempt.machine.sys_sleep, self._wake_up_ms, "timeout")
        self._timer = ScopeTimer(nid, self._scope)
        self._scope.__enter__()
        scheduler.add_timer(self._timer)
        return self

    def __exit__(
        self,
        etype: type[BaseException] | None,
        exc: BaseException | None,
        tb: types.TracebackType | None,
    ) -> bool:
        """Leave the scope; raises DurableTimeoutError for the ``fail_*`` forms when the
        timer cancelled the block."""
        timer = self._timer
        assert timer is not None
        scheduler = self._attempt.scheduler
        if scheduler is not None:
            scheduler.remove_timer(timer)
        caught = bool(self._scope.__exit__(etype, exc, tb))
        if caught and self._fail is not None and timer.fired:
            raise DurableTimeoutError(self._fail, code=408)
        return caught


def wake_up_after(duration: timedelta) -> int:
    """The wake-up time (ms since the epoch) of a timer ``duration`` from now."""
    return int((time.time() + duration.total_seconds()) * 1000)


def wake_up_at(when: datetime) -> int:
    """The wake-up time (ms since the epoch) of a timer at ``when`` (naive = local time)."""
    return int(when.timestamp() * 1000)
