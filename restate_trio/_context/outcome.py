"""Which outcomes of user code are terminal (journaled) and which only fail the attempt."""

from __future__ import annotations

from typing import cast

from ..errors import TerminalError

__all__ = ["as_terminal"]


def as_terminal(error: BaseException) -> TerminalError | None:
    """The terminal error an outcome stands for, if it is terminal.

    A group counts when every leaf is a TerminalError (a user nursery wrapped them); the
    first one is reported. Anything else is retryable.
    """
    if isinstance(error, TerminalError):
        return error
    if isinstance(error, BaseExceptionGroup):
        group = cast("BaseExceptionGroup[BaseException]", error)
        if group.split(TerminalError)[1] is None:
            first: BaseException = group
            while isinstance(first, BaseExceptionGroup):
                first = first.exceptions[0]  # pyright: ignore[reportUnknownMemberType,reportUnknownVariableType]
            assert isinstance(first, TerminalError)
            return first
    return None
