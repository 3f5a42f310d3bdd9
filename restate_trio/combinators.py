"""Waiting for several durable futures at once, deterministically.

Durable futures are awaited together with these functions (or from the tasks of a durable
nursery, :func:`restate_trio.open_nursery`; never from a plain trio nursery, whose tasks would
journal in scheduling order). Each maps onto one of Restate's combinators, so a suspended
invocation resumes exactly when the combination can make progress, and which future "won" is
decided by journal order, identically on replay. The ``ctx.run`` closures that lose a race
are cancelled.

=======================  ==================================================  ===============
function                 returns                                             like
=======================  ==================================================  ===============
``first_completed``      the first future to complete (success or failure)   ``race``
``all_completed``        all futures, once all completed                     ``allSettled``
``first_succeeded``      the first successful value; fails if all failed     ``any``
``all_succeeded``        all values; fails with the first failure            ``all``/gather
``as_completed``         the futures one by one, in completion order
``with_timeout``         the value, or :class:`DurableTimeoutError`          ``fail_after``
=======================  ==================================================  ===============

Example, fan-out and fan-in, and a durable deadline::

    import restate_trio as restate
    from datetime import timedelta

    class Quotes:
        async def best(self, ctx: restate.Context, item: str) -> int:
            calls = [ctx.service_call(Supplier.quote, item) for _ in range(3)]
            prices = await restate.all_succeeded(*calls)
            bonus = await restate.with_timeout(
                ctx.service_call(Supplier.bonus, item), timedelta(seconds=30)
            )
            return min(prices) - bonus
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta
from typing import TypeVar, cast

from ._context import futures as _f
from .context import DurableFuture
from .errors import DurableTimeoutError as DurableTimeoutError

__all__ = [
    "DurableTimeoutError",
    "all_completed",
    "all_succeeded",
    "as_completed",
    "first_completed",
    "first_succeeded",
    "with_timeout",
]

T = TypeVar("T")


def _impls(futures: tuple[DurableFuture[T], ...]) -> tuple[_f.DurableFutureImpl[T], ...]:
    return cast("tuple[_f.DurableFutureImpl[T], ...]", futures)


async def first_completed(*futures: DurableFuture[T]) -> DurableFuture[T]:
    """Wait for the first of ``futures`` to complete and return it (await it for its value)."""
    return await _f.first_completed(*_impls(futures))


async def all_completed(*futures: DurableFuture[T]) -> list[DurableFuture[T]]:
    """Wait until every future completed (successfully or not); returns them in order."""
    return list(await _f.all_completed(*_impls(futures)))


async def first_succeeded(*futures: DurableFuture[T]) -> T:
    """The value of the first future to succeed; a TerminalError if all of them failed."""
    return await _f.first_succeeded(*_impls(futures))


async def all_succeeded(*futures: DurableFuture[T]) -> list[T]:
    """The values of all futures, in order; raises the first failure as soon as it happens."""
    return await _f.all_succeeded(*_impls(futures))


def as_completed(*futures: DurableFuture[T]) -> AsyncIterator[DurableFuture[T]]:
    """Iterate over the futures in the order they complete.

    For example::

        async for done in restate.as_completed(a, b, c):
            print(await done)
    """
    return cast("AsyncIterator[DurableFuture[T]]", _f.as_completed(*_impls(futures)))


async def with_timeout(future: DurableFuture[T], duration: timedelta) -> T:
    """Await ``future`` for at most ``duration``, measured by a durable timer.

    Unlike ``trio.fail_after``, the deadline is journaled: a replay decides the same way. On
    expiry it raises :class:`DurableTimeoutError` (a TerminalError with code 408); the awaited
    operation is not cancelled on Restate's side and may still be awaited later (a ``ctx.run``
    closure that lost the race stops, and runs again when awaited again). For a block of
    code rather than one future, use :func:`restate_trio.fail_after`.
    """
    return await _f.with_timeout(cast("_f.DurableFutureImpl[T]", future), duration)
