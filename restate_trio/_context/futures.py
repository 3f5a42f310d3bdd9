"""The durable future handed to user code."""

from __future__ import annotations

from collections.abc import Callable, Generator
from typing import TYPE_CHECKING, Generic, TypeVar

import trio

from .._protocol.types import NotificationId, Result

if TYPE_CHECKING:
    from .invocation import Attempt

T = TypeVar("T")

_UNSET: object = object()


class DurableFutureImpl(Generic[T]):
    """A journaled operation's result: completed at creation, or completed by a notification.

    ``convert`` turns the protocol result into the user's value (decoding payloads, raising
    :class:`~restate_trio.TerminalError` for failures); it runs once, the value is cached.
    """

    __slots__ = ("_attempt", "_convert", "_nid", "_value")

    def __init__(
        self,
        attempt: Attempt,
        nid: NotificationId | None,
        convert: Callable[[Result], T] | None = None,
        value: object = _UNSET,
    ) -> None:
        self._attempt = attempt
        self._nid = nid
        self._convert = convert
        self._value = value

    @classmethod
    def completed(cls, attempt: Attempt, value: T) -> DurableFutureImpl[T]:
        return cls(attempt, None, None, value)

    def __await__(self) -> Generator[object, None, T]:
        return self._wait().__await__()

    async def _wait(self) -> T:
        if self._value is _UNSET:
            assert self._nid is not None
            assert self._convert is not None
            result = await self._attempt.await_notification(self._nid)
            self._value = self._convert(result)
        else:
            # Completed futures still checkpoint, so loops over them stay cancellable.
            self._attempt.check_owner()
            await trio.lowlevel.checkpoint()
        return self._value  # type: ignore[return-value]

    def __repr__(self) -> str:
        state = "pending" if self._value is _UNSET else "completed"
        return f"<DurableFuture {state}>"
