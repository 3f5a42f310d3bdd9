"""Durable structured concurrency: nurseries and cancel scopes whose tasks do durable work.

A handler writes concurrency the trio way, and it is journaled deterministically::

    from datetime import timedelta
    import restate_trio as restate

    class Trip:
        async def book(self, ctx: restate.Context, trip: str) -> list[str]:
            async with restate.open_nursery(ctx) as nursery:
                flight = nursery.start_soon_result(book_flight, ctx, trip)
                hotel = nursery.start_soon_result(book_hotel, ctx, trip)
            with restate.move_on_after(ctx, timedelta(hours=1)) as scope:
                await ctx.promise("approved", type=bool).value()
            if scope.cancelled_caught:
                raise restate.TerminalError("approval timed out", code=408)
            return [flight.value, hotel.value]

    async def book_flight(ctx: restate.Context, trip: str) -> str:
        seat = await ctx.run("reserve seat", reserve_seat, trip)
        await ctx.sleep(timedelta(seconds=5))
        return seat

**How it stays deterministic.** The tasks of a durable nursery (and the handler) take turns:
one runs user code at a time, from one durable await to the next, and the turn passes in a
fixed order: tasks in the order they were started, woken by completions in the order the
journal has them. trio's scheduling, timing and I/O never decide which command is journaled
first, so a replay issues the same commands in the same order. ``ctx.run`` closures are not
durable tasks: they run concurrently, outside the turns.

**Rules.**

* Non-durable awaits (``trio.sleep``, socket I/O) inside a durable task are allowed; the task
  keeps its turn while it waits, so sibling tasks wait too. Do slow I/O in ``ctx.run``, where
  it runs concurrently and its result is journaled.
* Use the durable scopes here for timeouts: a trio deadline (``trio.move_on_after``,
  ``trio.fail_after``) around a durable await fires live but never on replay, so such an
  await raises ``RuntimeError`` once the handler uses durable concurrency.
* A durable task must not wait for a sibling through trio primitives (``trio.Event``,
  channels, locks): it keeps its turn while it waits, and the sibling never gets one. Wait for
  results by ending the nursery, or with durable futures (awakeables, promises).
* Plain ``trio.open_nursery()`` children may not use ``ctx`` (``RuntimeError``); they may do
  non-durable work.

**Errors** follow trio: a task's exception cancels its siblings at their current durable
await and the nursery raises an ``ExceptionGroup``. A handler whose group holds only
:class:`~restate_trio.TerminalError`\\ s fails the invocation terminally with the first one
raised (the others are listed in its metadata, key ``restate_trio.other_errors``); anything
else fails the attempt and Restate retries. A Restate cancellation raises
:class:`~restate_trio.Cancelled` in every task waiting at a durable await.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from ._context.nursery import (
    DurableCancelScope as DurableCancelScope,
    DurableNursery as DurableNursery,
    TaskResult as TaskResult,
    attempt_of as _attempt_of,
    wake_up_after as _after,
    wake_up_at as _at,
)

if TYPE_CHECKING:
    from .context import Context

for _public in (DurableCancelScope, DurableNursery, TaskResult):
    _public.__module__ = __name__  # tracebacks and reprs show the public import path

__all__ = [
    "DurableCancelScope",
    "DurableNursery",
    "TaskResult",
    "fail_after",
    "fail_at",
    "move_on_after",
    "move_on_at",
    "open_nursery",
]


def open_nursery(ctx: Context) -> DurableNursery:
    """A nursery whose tasks may use ``ctx`` (``async with restate.open_nursery(ctx) as n``).

    Start tasks with :meth:`DurableNursery.start_soon` or
    :meth:`DurableNursery.start_soon_result`; the block ends once they all have.
    """
    return DurableNursery(_attempt_of(ctx))


def move_on_after(ctx: Context, duration: timedelta, *, shield: bool = False) -> DurableCancelScope:
    """A cancel scope (``with``) that cancels its block when a journaled timer of
    ``duration`` fires first; check ``scope.cancelled_caught`` afterwards."""
    return DurableCancelScope(_attempt_of(ctx), _after(duration), shield=shield, fail=None)


def move_on_at(ctx: Context, deadline: datetime, *, shield: bool = False) -> DurableCancelScope:
    """:func:`move_on_after` with an absolute deadline (a naive datetime is local time)."""
    return DurableCancelScope(_attempt_of(ctx), _at(deadline), shield=shield, fail=None)


def fail_after(ctx: Context, duration: timedelta, *, shield: bool = False) -> DurableCancelScope:
    """Like :func:`move_on_after`, but raises :class:`~restate_trio.DurableTimeoutError` (408)
    when the timer cancelled the block."""
    seconds = duration.total_seconds()
    return DurableCancelScope(
        _attempt_of(ctx), _after(duration), shield=shield, fail=f"timed out after {seconds:g} s"
    )


def fail_at(ctx: Context, deadline: datetime, *, shield: bool = False) -> DurableCancelScope:
    """:func:`fail_after` with an absolute deadline (a naive datetime is local time)."""
    return DurableCancelScope(
        _attempt_of(ctx),
        _at(deadline),
        shield=shield,
        fail=f"the deadline {deadline.isoformat()} passed",
    )
