"""Which outcomes of user code are terminal (journaled) and which only fail the attempt."""

from __future__ import annotations

import json
from typing import cast

from ..errors import TerminalError

__all__ = ["as_terminal"]


def as_terminal(error: BaseException) -> TerminalError | None:
    """The terminal error an outcome stands for, if it is terminal.

    A group counts when every leaf is a TerminalError (a nursery wrapped them); the first
    one is reported, the others are listed in its metadata (``restate_trio.other_errors``: a
    JSON list of ``{"code", "message"}``). Anything else is retryable.
    """
    if isinstance(error, TerminalError):
        return error
    if isinstance(error, BaseExceptionGroup):
        group = cast("BaseExceptionGroup[BaseException]", error)
        if group.split(TerminalError)[1] is None:
            terminals = _leaves(group)
            first = terminals[0]
            if len(terminals) == 1:
                return first
            others = [{"code": t.code, "message": t.message} for t in terminals[1:]]
            metadata = {**first.metadata, "restate_trio.other_errors": json.dumps(others)}
            return TerminalError(first.message, first.code, metadata)
    return None


def _leaves(group: BaseExceptionGroup[BaseException]) -> list[TerminalError]:
    """The group's TerminalErrors, depth first: the order they were raised in, for a group
    from durable nurseries (their tasks take turns deterministically)."""
    found: list[TerminalError] = []
    for exc in group.exceptions:
        if isinstance(exc, BaseExceptionGroup):
            found.extend(_leaves(cast("BaseExceptionGroup[BaseException]", exc)))
        else:
            assert isinstance(exc, TerminalError)
            found.append(exc)
    return found
