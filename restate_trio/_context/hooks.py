"""Running the user's hooks (see :mod:`restate_trio.observability`) around attempts and runs.

Hooks observe: a hook that fails to enter is skipped, one that fails to exit is logged, and
what an ``__aexit__`` returns (suppressing an exception) is ignored, so that instrumentation
can never change what an attempt journals. This module is only reached when an endpoint has
hooks: without them the attempt and the runs take no path through here.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Sequence
from contextlib import AbstractAsyncContextManager
from typing import ParamSpec, TypeVar

from ..observability import AttemptHook, AttemptInfo, Hook, RunHook, RunInfo

__all__ = ["HookSet", "call_in_hooks", "enter_hooks", "exit_hooks"]

logger = logging.getLogger("restate_trio.invocation")

T = TypeVar("T")
P = ParamSpec("P")
Info = TypeVar("Info", AttemptInfo, RunInfo)

_Manager = AbstractAsyncContextManager[object]


class HookSet:
    """An endpoint's hooks, split by what they wrap (built once per endpoint)."""

    __slots__ = ("attempt", "run")

    def __init__(self, hooks: Sequence[Hook]) -> None:
        self.attempt: tuple[AttemptHook, ...] = tuple(
            h.attempt for h in hooks if h.attempt is not None
        )
        #: ``None`` when no hook wraps runs: the runs' hot path tests only that.
        self.run: tuple[RunHook, ...] | None = (
            tuple(h.run for h in hooks if h.run is not None) or None
        )


def _describe(info: AttemptInfo | RunInfo) -> str:
    if isinstance(info, RunInfo):
        a = info.attempt
        return f"ctx.run {info.name!r} of invocation {a.invocation_id} ({a.service}/{a.handler})"
    return f"attempt of invocation {info.invocation_id} ({info.service}/{info.handler})"


async def enter_hooks(
    factories: Sequence[Callable[[Info], _Manager]], info: Info
) -> list[_Manager]:
    """Enter the hooks' context managers, first to last; those that fail are skipped (and
    logged). If entering is interrupted (cancelled), the entered ones are exited first."""
    entered: list[_Manager] = []
    for factory in factories:
        try:
            manager = factory(info)
            await manager.__aenter__()
        except Exception:
            logger.exception(
                "restate_trio: hook %r failed to enter around the %s; it is skipped",
                factory,
                _describe(info),
            )
            continue
        except BaseException as exc:
            await exit_hooks(entered, exc, info)
            raise
        entered.append(manager)
    return entered


async def exit_hooks(
    entered: Sequence[_Manager], error: BaseException | None, info: AttemptInfo | RunInfo
) -> None:
    """Exit the entered context managers, last to first, with ``error`` (or none). An
    exception a hook raises is logged, unless it is ``error`` itself (re-raised); a
    cancellation is re-raised once every hook has exited."""
    interrupted: BaseException | None = None
    for manager in reversed(entered):
        try:
            if error is None:
                await manager.__aexit__(None, None, None)
            else:
                await manager.__aexit__(type(error), error, error.__traceback__)
        except Exception as exc:
            if exc is not error:
                logger.exception(
                    "restate_trio: hook %r failed to exit around the %s",
                    manager,
                    _describe(info),
                )
        except BaseException as exc:  # trio.Cancelled, KeyboardInterrupt
            if exc is not error and interrupted is None:
                interrupted = exc
    if interrupted is not None:
        raise interrupted


async def call_in_hooks(
    factories: Sequence[RunHook],
    info: RunInfo,
    fn: Callable[P, Awaitable[T]],
    *args: P.args,
    **kwargs: P.kwargs,
) -> T:
    """``await fn(*args)`` inside the hooks' context managers."""
    entered = await enter_hooks(factories, info)
    try:
        value = await fn(*args, **kwargs)
    except BaseException as exc:
        await exit_hooks(entered, exc, info)
        raise
    await exit_hooks(entered, None, info)
    return value
