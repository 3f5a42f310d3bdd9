"""``ctx.run`` on trio: executing a side effect once, proposing its outcome, retrying failures.

A run's command is journaled by the context when ``ctx.run`` is called; its closure is
registered here and starts when its future is first awaited (as in Restate's shared core), in a
task of the attempt's nursery, so closures awaited together run concurrently. The closure only
*proposes* a result: the runtime journals it, and replays return the journaled one.

The common case, ``await ctx.run(...)`` of one async closure with no deadline around the await,
runs the closure in the handler's own task instead (:meth:`Runs.take_inline`): nothing else
could run meanwhile that a task would allow, and a task per step is the largest per-step cost
(profiled on ten sequential runs: spawning and scheduling the closure's task, ~9% of the SDK's
CPU). With a deadline (``trio.move_on_after`` / ``fail_after`` around the await) the closure
still gets its own task, so that the timeout interrupts the *wait* and the closure goes on to
propose its result. A closure run inline that is cancelled while the attempt goes on (its
handler's nursery was cancelled by a failing child) is started again when its future is
awaited again: its side effect may then happen twice, as when an attempt fails before a result
is journaled.

A failing closure is retried across attempts: this attempt ends with an ErrorMessage carrying
the delay its :class:`~restate_trio.RetryPolicy` asks for, and Restate runs the next attempt,
where the closure runs again. When the policy gives up, the failure is proposed as the run's
terminal result.
"""

from __future__ import annotations

import contextvars
import math
from collections.abc import Awaitable, Callable, Sequence
from typing import TYPE_CHECKING, cast

import trio

from .._protocol.futures import FutureTree, Leaf, leaves
from .._protocol.types import Failure, NotificationId, Success
from ..codecs import CodecError, PayloadCodec
from ..errors import TerminalError
from ..observability import RunInfo
from ..retry import RetryPolicy
from .hooks import call_in_hooks
from .outcome import as_terminal

if TYPE_CHECKING:
    from .invocation import Attempt

__all__ = ["IN_RUN", "RunSpec", "Runs"]

#: True inside a run closure: durable operations there would not be journaled in order.
IN_RUN: contextvars.ContextVar[bool] = contextvars.ContextVar("restate_trio_in_run", default=False)

# Sync run closures run in worker threads; bound how many one process runs at once.
_THREAD_LIMITER = trio.CapacityLimiter(64)


class RunSpec:
    """A run closure waiting to be executed when its result is first awaited (one per executed
    ``ctx.run``: a plain slotted class, no dataclass machinery or closure for its encoder)."""

    __slots__ = ("args", "codec", "fn", "is_async", "name", "policy", "tp")

    def __init__(
        self,
        fn: Callable[..., object],
        args: Sequence[object],
        codec: PayloadCodec,
        tp: object,
        policy: RetryPolicy,
        name: str,
        is_async: bool,
    ) -> None:
        self.fn = fn
        self.args = args
        self.codec = codec  # the result is encoded with ``codec`` as ``tp``
        self.tp = tp
        self.policy = policy
        self.name = name
        #: ``fn`` is a coroutine function (it runs on trio; otherwise in a worker thread).
        self.is_async = is_async


class Runs:
    """The run closures of one attempt: registered when journaled, started when awaited."""

    __slots__ = ("_attempt", "_nursery", "executing", "running", "waiting")

    def __init__(self, attempt: Attempt) -> None:
        self._attempt = attempt
        #: Closures registered and not started (they start when awaited).
        self.waiting: dict[NotificationId, RunSpec] = {}
        self._nursery: trio.Nursery | None = None
        #: Closures started and not finished: the attempt cancels them when it ends.
        self.running: int = 0
        #: The closures executing in tasks of their own, with their scopes (see
        #: :meth:`forget_awaiter`).
        self.executing: dict[NotificationId, tuple[trio.CancelScope, RunSpec]] = {}

    def open(self, nursery: trio.Nursery) -> None:
        """Closures run in ``nursery`` (the attempt's): they end when the attempt does."""
        self._nursery = nursery

    def close(self) -> None:
        """The attempt is over (its nursery closed): drop the references back to it."""
        self._nursery = None
        self.waiting.clear()
        self.executing.clear()
        del self._attempt  # nothing runs any more that could need it

    def register(self, nid: NotificationId, spec: RunSpec) -> None:
        """A run whose closure must execute in this attempt, once its result is awaited."""
        self.waiting[nid] = spec

    def start(self, tree: FutureTree) -> None:
        """Start the closures of the runs that ``tree`` waits for."""
        if not self.waiting:
            return
        for nid in leaves(tree):
            spec = self.waiting.pop(nid, None)
            if spec is not None:
                assert self._nursery is not None
                self._attempt.machine.run_started(nid)
                self.running += 1
                scope = trio.CancelScope()
                self.executing[nid] = (scope, spec)
                self._nursery.start_soon(self._task, nid, spec, scope, name=f"ctx.run {spec.name}")

    def forget_awaiter(
        self, tree: FutureTree, still_awaited: Callable[[NotificationId], bool] | None = None
    ) -> None:
        """An await of ``tree`` ended (it resolved, was cancelled or failed): the closures it
        started that nobody awaits any more lost a race. They are cancelled, so their results
        are never proposed (journaled), and registered again: awaiting their futures again
        runs them again (their side effects may then happen twice, as after a retry)."""
        machine = self._attempt.machine
        for nid in leaves(tree):
            entry = self.executing.get(nid)
            if entry is None or machine.result(nid) is not None:
                continue
            if still_awaited is not None and still_awaited(nid):
                continue
            scope, spec = entry
            del self.executing[nid]
            scope.cancel()
            machine.run_abandoned(nid)
            self.waiting[nid] = spec

    def take_inline(self, tree: FutureTree) -> tuple[NotificationId, RunSpec] | None:
        """The closure that ``tree`` waits for, if the awaiting handler should run it itself
        (see the module docstring); it is then started."""
        if not self.waiting or type(tree) is not Leaf:
            return None
        nid = tree.id
        spec = self.waiting.get(nid)
        if spec is None or not spec.is_async or self._attempt.scheduler is not None:
            # Sibling durable tasks wait while one runs: closures get their own tasks then.
            return None
        if trio.current_effective_deadline() != math.inf:
            return None  # a timeout around the await must not cancel the closure
        del self.waiting[nid]
        self._attempt.machine.run_started(nid)
        return nid, spec

    async def execute_inline(self, nid: NotificationId, spec: RunSpec) -> None:
        """Run a closure from :meth:`take_inline` in the calling (handler's) task."""
        token = IN_RUN.set(True)
        try:
            await self._execute(nid, spec, inline=True)
        except trio.Cancelled:
            if not self._attempt.machine.closed:
                self.waiting[nid] = spec  # awaited again, it runs again
            raise
        finally:
            IN_RUN.reset(token)

    async def _task(self, nid: NotificationId, spec: RunSpec, scope: trio.CancelScope) -> None:
        IN_RUN.set(True)  # this task's own context
        try:
            with scope:
                await self._execute(nid, spec, scope=scope)
        finally:
            self.running -= 1
            if self.executing.get(nid, (None,))[0] is scope:
                del self.executing[nid]

    async def _execute(
        self,
        nid: NotificationId,
        spec: RunSpec,
        *,
        inline: bool = False,
        scope: trio.CancelScope | None = None,
    ) -> None:
        attempt = self._attempt
        machine = attempt.machine
        result: Success | Failure
        hooks = attempt.run_hooks
        try:
            if hooks is None:
                if spec.is_async:  # awaited here: one coroutine frame less per step
                    value = await cast("Callable[..., Awaitable[object]]", spec.fn)(*spec.args)
                else:
                    value = await _invoke_closure(spec)
            else:
                assert attempt.hook_info is not None  # entered before the handler started
                info = RunInfo(spec.name, attempt.hook_info)
                value = await call_in_hooks(hooks, info, _invoke_closure, spec)
        except TerminalError as exc:
            result = Failure(exc.code, exc.message, exc.metadata)
        except (Exception, BaseExceptionGroup) as exc:
            if isinstance(exc, BaseExceptionGroup) and exc.split(trio.Cancelled)[0] is not None:
                raise  # the attempt is ending: never propose a result for a cancelled closure
            terminal = as_terminal(exc)
            if terminal is not None:
                result = Failure(terminal.code, terminal.message, terminal.metadata)
            else:
                if machine.closed:
                    return
                retries, elapsed = machine.run_attempt_info(nid)
                delay = spec.policy.verdict(retries + 1, elapsed)
                if delay is not None:
                    attempt.fail(
                        exc,
                        f"ctx.run {spec.name!r} failed: {type(exc).__name__}: {exc}",
                        next_retry_delay_ms=delay or None,
                        related_run=nid,
                    )
                    return
                result = Failure(500, f"{type(exc).__name__}: {exc}")
        else:
            try:
                result = Success(spec.codec.encode(value, spec.tp))
            except CodecError as exc:
                if not machine.closed:
                    attempt.fail(exc, f"ctx.run {spec.name!r}: cannot encode its result")
                return
        if machine.closed or (scope is not None and scope.cancel_called):
            return  # the attempt ended, or the race was lost before this result was ready
        if inline:
            attempt.propose(nid, result)  # the handler is the one that would be woken
            return
        try:
            attempt.propose(nid, result)
        finally:
            attempt.wake()


async def _invoke_closure(spec: RunSpec) -> object:
    """Run a sync closure in a worker thread, or an async one in this task (``IN_RUN`` is
    set by the caller)."""
    fn, args = spec.fn, spec.args
    if spec.is_async:
        return await cast("Callable[..., Awaitable[object]]", fn)(*args)
    # abandon_on_cancel: a thread cannot be interrupted, but the attempt must be able to end
    # (suspension, disconnect); the thread's result is discarded and never journaled.
    # trio runs the thread in a copy of this task's context, so IN_RUN is set there too.
    return await trio.to_thread.run_sync(fn, *args, limiter=_THREAD_LIMITER, abandon_on_cancel=True)
