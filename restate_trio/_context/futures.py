"""Durable futures handed to user code, and the combinators over them."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Callable, Generator, Sequence
from datetime import timedelta
from typing import TYPE_CHECKING, Generic, TypeVar, cast

from .._protocol.futures import Combinator, FutureTree, Leaf, Node
from .._protocol.types import Failure, NotificationId, Result
from ..errors import DurableTimeoutError

if TYPE_CHECKING:
    from .invocation import Attempt

T = TypeVar("T")

_PENDING: object = object()


class DurableFutureImpl(Generic[T]):
    """A journaled operation's result: completed at creation, or by a notification.

    ``convert`` turns the protocol result into the user's value (decoding payloads, raising
    :class:`~restate_trio.TerminalError` for failures); it runs once and its outcome is kept, so
    the future can be awaited any number of times.
    """

    __slots__ = ("_attempt", "_convert", "_error", "_nid", "_value")

    def __init__(
        self,
        attempt: Attempt,
        nid: NotificationId | None,
        convert: Callable[[Result], T] | None = None,
        value: object = _PENDING,
    ) -> None:
        self._attempt = attempt
        self._nid = nid
        self._convert = convert
        self._value = value
        self._error: BaseException | None = None

    @classmethod
    def completed(cls, attempt: Attempt, value: T) -> DurableFutureImpl[T]:
        return cls(attempt, None, None, value)

    @property
    def attempt(self) -> Attempt:
        return self._attempt

    @property
    def tree(self) -> FutureTree | None:
        """What to wait for; ``None`` when the future was completed at creation."""
        if self._nid is None or self._value is not _PENDING or self._error is not None:
            return None
        return Leaf(self._nid)

    @property
    def notification(self) -> NotificationId | None:
        return self._nid

    def __await__(self) -> Generator[object, None, T]:
        return self._wait().__await__()

    async def _wait(self) -> T:
        tree = self.tree
        if tree is None:
            await self._attempt.checkpoint()
        else:
            await self._attempt.await_tree(tree)
        return self.value_now()

    def value_now(self) -> T:
        """The value of a resolved future (raises its failure)."""
        if self._error is not None:
            raise self._error
        if self._value is _PENDING:
            assert self._nid is not None
            assert self._convert is not None
            result = self._attempt.result(self._nid)
            try:
                self._value = self._convert(result)
            except BaseException as exc:
                self._error = exc
                raise
        return self._value  # type: ignore[return-value]

    def failed_now(self) -> bool:
        """Whether a resolved future holds a failure (without converting its value)."""
        if self._error is not None:
            return True
        if self._value is not _PENDING:
            return False
        assert self._nid is not None
        return isinstance(self._attempt.result(self._nid), Failure)

    def __repr__(self) -> str:
        state = "pending" if self.tree is not None else "completed"
        return f"<DurableFuture {state}>"


class CallFutureImpl(DurableFutureImpl[T]):
    """The result of a call, with the callee's invocation id available on its own."""

    __slots__ = ("_invocation_id",)

    def __init__(
        self,
        attempt: Attempt,
        nid: NotificationId,
        convert: Callable[[Result], T],
        invocation_id: DurableFutureImpl[str],
    ) -> None:
        super().__init__(attempt, nid, convert)
        self._invocation_id = invocation_id

    def invocation_id(self) -> DurableFutureImpl[str]:
        """The callee's invocation id (``inv_…``), known before its result."""
        return self._invocation_id


class SendHandleImpl:
    """What a one-way send returns: the invocation id of the message's invocation."""

    __slots__ = ("_invocation_id",)

    def __init__(self, invocation_id: DurableFutureImpl[str]) -> None:
        self._invocation_id = invocation_id

    def invocation_id(self) -> DurableFutureImpl[str]:
        return self._invocation_id


# ---------------------------------------------------------------------- combinators


def _split(
    futures: Sequence[DurableFutureImpl[T]],
) -> tuple[Attempt, list[DurableFutureImpl[T]], list[DurableFutureImpl[T]]]:
    if not futures:
        raise ValueError("a combinator needs at least one future")
    attempt = futures[0].attempt
    for f in futures:
        if not isinstance(f, DurableFutureImpl):  # pyright: ignore[reportUnnecessaryIsInstance]
            raise TypeError(f"expected durable futures from a restate context, got {f!r}")
        if f.attempt is not attempt:
            raise ValueError("all futures must come from the same invocation")
    done = [f for f in futures if f.tree is None]
    pending = [f for f in futures if f.tree is not None]
    return attempt, done, pending


def _node(combinator: Combinator, futures: Sequence[DurableFutureImpl[T]]) -> FutureTree:
    trees = tuple(f.tree for f in futures if f.tree is not None)
    return trees[0] if len(trees) == 1 else Node(combinator, trees)


async def first_completed(*futures: DurableFutureImpl[T]) -> DurableFutureImpl[T]:
    attempt, done, pending = _split(futures)
    if done:
        await attempt.checkpoint()
        return done[0]
    await attempt.await_tree(_node(Combinator.FIRST_COMPLETED, pending))
    return _in_completion_order(attempt, pending)[0]


def _in_completion_order(
    attempt: Attempt, futures: Sequence[DurableFutureImpl[T]]
) -> list[DurableFutureImpl[T]]:
    """The resolved ones of ``futures``, in journal order (futures complete at creation
    first, in argument order): the same order on every replay."""
    ranked: list[tuple[int, int, DurableFutureImpl[T]]] = []
    for position, f in enumerate(futures):
        tree = f.tree
        at = -1 if tree is None else attempt.resolved_at(tree)
        if at is not None:
            ranked.append((at, position, f))
    ranked.sort(key=lambda entry: (entry[0], entry[1]))
    return [f for _, _, f in ranked]


async def all_completed(*futures: DurableFutureImpl[T]) -> list[DurableFutureImpl[T]]:
    attempt, _, pending = _split(futures)
    if pending:
        await attempt.await_tree(_node(Combinator.ALL_COMPLETED, pending))
    else:
        await attempt.checkpoint()
    return list(futures)


async def first_succeeded(*futures: DurableFutureImpl[T]) -> T:
    attempt, done, pending = _split(futures)
    for f in done:
        if not f.failed_now():
            await attempt.checkpoint()
            return f.value_now()
    if pending:
        await attempt.await_tree(_node(Combinator.FIRST_SUCCEEDED_OR_ALL_FAILED, pending))
        for f in _in_completion_order(attempt, pending):
            if not f.failed_now():
                return f.value_now()
    else:
        await attempt.checkpoint()
    # Every future failed: the last failure (in journal order) is the answer, as it is.
    return _in_completion_order(attempt, futures)[-1].value_now()


async def all_succeeded(*futures: DurableFutureImpl[T]) -> list[T]:
    attempt, done, pending = _split(futures)
    for f in done:
        if f.failed_now():
            await attempt.checkpoint()
            f.value_now()
    if pending:
        await attempt.await_tree(_node(Combinator.ALL_SUCCEEDED_OR_FIRST_FAILED, pending))
        for f in _in_completion_order(attempt, pending):
            if f.failed_now():
                f.value_now()
    else:
        await attempt.checkpoint()
    return [f.value_now() for f in futures]


class _AsCompleted(Generic[T]):
    """``as_completed``'s iterator. Not an async generator: breaking out of the loop early
    would leave one suspended, which trio reports (ResourceWarning) when it is collected, and
    there is nothing to clean up (the futures left are simply not awaited here)."""

    __slots__ = ("_remaining",)

    def __init__(self, futures: tuple[DurableFutureImpl[T], ...]) -> None:
        self._remaining = list(futures)

    def __aiter__(self) -> _AsCompleted[T]:
        return self

    async def __anext__(self) -> DurableFutureImpl[T]:
        remaining = self._remaining
        if not remaining:
            raise StopAsyncIteration
        winner = await first_completed(*remaining)
        remaining.remove(winner)
        return winner


def as_completed(*futures: DurableFutureImpl[T]) -> AsyncIterator[DurableFutureImpl[T]]:
    return _AsCompleted(futures)


async def with_timeout(future: DurableFutureImpl[T], duration: timedelta) -> T:
    """Await ``future``, racing it against a durable timer of ``duration``."""
    attempt = future.attempt
    wake_up = int((time.time() + duration.total_seconds()) * 1000)
    timer_nid = attempt.command(attempt.machine.sys_sleep, wake_up, "timeout")
    timer = cast("DurableFutureImpl[T]", DurableFutureImpl(attempt, timer_nid, lambda r: None))
    winner = await first_completed(future, timer)
    if winner is timer:
        raise DurableTimeoutError(f"timed out after {duration.total_seconds():g} s", code=408)
    return future.value_now()
