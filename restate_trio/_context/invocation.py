"""One invocation attempt on trio: the handler task, run closures, and the state machine.

The transport creates an :class:`Attempt`, feeds it the request body from its receive pump, and
calls :meth:`Attempt.run` with a function that writes response bytes. ``run`` returns once the
attempt has written its terminal frame (End, Error or Suspension), or was torn down.

Structure of an attempt::

    Attempt.run ─ nursery
      ├─ writer task: sends what the state machine produced
      └─ handler (this task), in the attempt cancel scope
           └─ run nursery: ctx.run closures; cancelled when the handler is done

Ordering: every context operation journals its command synchronously, from the handler's task,
before returning; trio's scheduling order therefore never reaches the journal. Run closures
execute in other tasks, but they only *propose* results (not journal entries); the journal order
of their completions is decided by the runtime and replayed as recorded.
"""

from __future__ import annotations

import functools
import logging
import traceback
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import NoReturn, TypeVar, cast

import trio

from .._protocol.errors import AttemptClosed
from .._protocol.futures import Combinator, FutureTree, Leaf, Node, leaves
from .._protocol.machine import Progress, StateMachine
from .._protocol.types import (
    CANCEL_SIGNAL_ID,
    Failure,
    InputInfo,
    InvocationIdResult,
    NotificationId,
    Result,
    Success,
)
from .._service.definitions import HandlerDefinition
from ..codecs import DEFAULT_CODEC, CodecError, PayloadCodec
from ..errors import TerminalError
from ..retry import RetryPolicy
from .run import IN_RUN, invoke_closure

logger = logging.getLogger("restate_trio")

T = TypeVar("T")

SendBytes = Callable[[bytes], Awaitable[None]]

# Sync run closures run in worker threads; bound how many one process runs at once.
_THREAD_LIMITER = trio.CapacityLimiter(64)


class AttemptEnded(BaseException):
    """Unwinds the handler once its attempt is over (suspended, failed, or disconnected).

    A BaseException, like ``trio.Cancelled``, so that ``except Exception`` in user code does not
    swallow it. The attempt's cancel scope is cancelled too, so a handler that catches it anyway
    cannot do anything durable afterwards: the state machine is closed.
    """


@dataclass(frozen=True)
class RunSpec:
    """A run closure waiting to be executed when its result is first awaited."""

    fn: Callable[..., object]
    args: Sequence[object]
    encode: Callable[[object], bytes]
    policy: RetryPolicy
    name: str


class Attempt:
    """Runs one handler invocation attempt over a :class:`StateMachine`."""

    def __init__(
        self,
        machine: StateMachine,
        handler: HandlerDefinition,
        attempt_headers: Mapping[str, str],
        codec: PayloadCodec = DEFAULT_CODEC,
    ) -> None:
        self.machine = machine
        self.handler = handler
        self.attempt_headers = dict(attempt_headers)
        # The handler's codec: the default of its operations (state, runs, awakeables…).
        self.codec = codec
        self._changed = trio.Event()
        self._output_ready = trio.Event()
        self._scope = trio.CancelScope()
        self._owner: trio.lowlevel.Task | None = None
        self._nursery: trio.Nursery | None = None
        self._runs_to_start: dict[NotificationId, RunSpec] = {}
        self._run_scopes: set[trio.CancelScope] = set()
        self.input: InputInfo | None = None

    # ------------------------------------------------------------------ transport side

    def feed(self, data: bytes) -> None:
        """Bytes from the request body."""
        self.machine.feed(data)
        self._after_input()

    def feed_eof(self) -> None:
        """The request body ended."""
        self.machine.feed_eof()
        self._after_input()

    def suspend_when_idle(self) -> None:
        """Shutdown: awaits that cannot resolve with what has arrived suspend at once."""
        if self.machine.stop_waiting_for_input():
            self.wake()

    def abort(self) -> None:
        """The transport lost the connection: stop the handler, write nothing more."""
        self.machine.notify_error(500, "the runtime disconnected")
        self.machine.take_output()
        self._scope.cancel()
        self.wake()

    def _after_input(self) -> None:
        if self.machine.closed:
            # Bad input closed the machine (with an ErrorMessage): stop the handler.
            self._scope.cancel()
            self._output_ready.set()
        self.wake()

    def wake(self) -> None:
        """Something changed (input, a run finished): waiting awaits look again."""
        event, self._changed = self._changed, trio.Event()
        event.set()

    async def run(self, send: SendBytes, nursery: trio.Nursery) -> None:
        """Run the handler and write every frame through ``send`` until the attempt ends.

        The writer and run closures are tasks of the transport's ``nursery`` (one nursery per
        invocation keeps the per-invocation cost low); the handler runs in this task.
        """
        self._nursery = nursery
        written = trio.Event()
        nursery.start_soon(self._writer, send, written)
        try:
            await self._run_handler()
        finally:
            for scope in self._run_scopes:
                scope.cancel()  # nothing outlives the handler
            if not self.machine.closed:  # only reachable through a bug in this module
                self.machine.notify_error(500, "restate_trio: the handler ended unexpectedly")
            self._output_ready.set()
        await written.wait()

    async def _writer(self, send: SendBytes, written: trio.Event) -> None:
        machine = self.machine
        try:
            while True:
                await self._output_ready.wait()
                self._output_ready = trio.Event()
                data = machine.take_output()
                if data:
                    await send(data)
                if machine.closed and not machine.has_output:
                    return
        finally:
            written.set()

    def flush(self) -> None:
        if self.machine.has_output or self.machine.closed:
            self._output_ready.set()

    def _closed(self) -> bool:
        # A call, not a property read, so type checkers do not carry a narrowed value across
        # awaits: the machine may close while the handler runs.
        return self.machine.closed

    async def _run_handler(self) -> None:
        machine = self.machine
        while not machine.ready and not machine.closed:
            await self._changed.wait()
        if machine.closed:
            return
        self._owner = trio.lowlevel.current_task()
        error: BaseException | None = None
        value: object = None
        ended = False
        with self._scope:
            try:
                value = await self._invoke()
            except AttemptEnded:
                ended = True
            except Exception as exc:
                error = exc
            except BaseExceptionGroup as group:
                # A user nursery wraps errors in a group; our own control flow is in it
                # too when the attempt ended meanwhile.
                ended = self._closed()
                error = group
            finally:
                # Nothing outlives the handler: closures nobody awaits any more stop.
                for scope in self._run_scopes:
                    scope.cancel()
        if ended or self._scope.cancelled_caught or self._closed():
            self.flush()
            return
        self._complete(value, error)
        self.flush()

    async def _invoke(self) -> object:
        from .context_impl import ContextImpl

        handler = self.handler
        try:
            self.input = self.machine.sys_input()
        except AttemptClosed:
            raise AttemptEnded from None
        self.flush()
        ctx = ContextImpl(self)
        if not handler.has_input:
            return await handler.fn(ctx)
        if not self.input.value and not handler.input_required:
            return await handler.fn(ctx, None)
        try:
            arg = decode(handler.effective_input_codec, self.input.value, handler.input_type)
        except CodecError as exc:
            raise TerminalError(
                f"request could not be decoded into handler input type: {exc}", code=400
            ) from exc
        return await handler.fn(ctx, arg)

    def _complete(self, value: object, error: BaseException | None) -> None:
        machine = self.machine
        try:
            terminal = as_terminal(error) if error is not None else None
            if terminal is not None:
                machine.sys_write_output(
                    Failure(terminal.code, terminal.message, terminal.metadata)
                )
                machine.sys_end()
                return
            if error is not None:
                self._fail_retryable(error)
                return
            handler = self.handler
            if handler.output_type is None:
                payload = b""
            else:
                try:
                    payload = handler.effective_output_codec.encode(value, handler.output_type)
                except CodecError as exc:
                    self._fail_retryable(exc, "failed to encode the handler output")
                    return
            deterministic = getattr(handler.effective_output_codec, "deterministic", True)
            machine.sys_write_output(Success(payload), unstable=deterministic is False)
            machine.sys_end()
        except AttemptClosed:
            return  # the machine already wrote the ErrorMessage (e.g. journal mismatch)

    def _fail_retryable(
        self,
        error: BaseException,
        message: str | None = None,
        *,
        next_retry_delay_ms: int | None = None,
        related_run: NotificationId | None = None,
    ) -> None:
        text = message or f"{type(error).__name__}: {error}"
        stack = "".join(traceback.format_exception(error))
        start = self.machine.start
        logger.warning(
            "invocation %s (%s) attempt failed, Restate will retry: %s",
            start.debug_id if start else "?",
            self.handler.name,
            text,
            exc_info=error,
        )
        self.machine.notify_error(
            500, text, stack, next_retry_delay_ms=next_retry_delay_ms, related_run=related_run
        )

    # ------------------------------------------------------------------ for the context

    def check_owner(self) -> None:
        """Durable operations come from the handler's task only (see the module docstring)."""
        if IN_RUN.get():
            raise RuntimeError(
                "restate_trio context operations cannot be used inside a ctx.run closure: "
                "the closure's effects are journaled as one result; do durable work in the "
                "handler around it"
            )
        if trio.lowlevel.current_task() is not self._owner:
            raise RuntimeError(
                "a restate_trio context was used from a task other than its handler's task; "
                "durable operations must be issued by the handler itself so that their "
                "journal order is deterministic (use the restate_trio combinators, e.g. "
                "all_succeeded(), to wait for several operations concurrently)"
            )

    def begin(self) -> StateMachine:
        """The machine, after checking the caller may issue commands now."""
        self.check_owner()
        if self.machine.closed:
            self.end()
        return self.machine

    def call(self, fn: Callable[[], T]) -> T:
        """Run a machine command; translate a closed attempt into :class:`AttemptEnded`."""
        try:
            value = fn()
        except AttemptClosed:
            self.end()
        self.flush()
        return value

    def end(self) -> NoReturn:
        """The machine closed under the handler: flush and unwind it."""
        self.flush()
        self._scope.cancel()
        raise AttemptEnded

    def result(self, nid: NotificationId) -> Result:
        result = self.machine.result(nid)
        assert result is not None, f"{nid} is not resolved"
        return result

    def resolved_at(self, tree: FutureTree) -> int | None:
        return self.machine.resolved_at(tree)

    def register_run(self, nid: NotificationId, spec: RunSpec) -> None:
        """A run whose closure executes when its result is first awaited."""
        self._runs_to_start[nid] = spec

    async def await_tree(self, tree: FutureTree) -> None:
        """Wait until ``tree`` resolves; suspends the attempt when it cannot in this one."""
        self.check_owner()
        machine = self.machine
        while True:
            if self._runs_to_start and not machine.replaying:
                self._start_runs(tree)
            try:
                progress = machine.do_progress(tree)
            except AttemptClosed:
                self.end()
            if progress is Progress.RESOLVED:
                await trio.lowlevel.checkpoint()
                return
            if progress is Progress.CANCELLED:
                await self._propagate_cancel()
                raise TerminalError("cancelled", code=409)
            if progress is Progress.SUSPENDED:
                self.end()
            self.flush()
            await self._changed.wait()

    async def _propagate_cancel(self) -> None:
        """Cancel the calls this invocation made, as the official SDKs do, before raising 409."""
        machine = self.machine
        children = machine.child_calls
        if not children:
            return
        await self.await_tree(Node(Combinator.ALL_COMPLETED, tuple(Leaf(c) for c in children)))
        for child in children:
            result = machine.result(child)
            if isinstance(result, InvocationIdResult):
                target = result.invocation_id
                self.call(
                    functools.partial(machine.sys_send_signal, target, index=CANCEL_SIGNAL_ID)
                )

    def _start_runs(self, tree: FutureTree) -> None:
        for nid in leaves(tree):
            spec = self._runs_to_start.pop(nid, None)
            if spec is not None:
                assert self._nursery is not None
                self.machine.run_started(nid)
                self._nursery.start_soon(self._run_task, nid, spec, name=f"ctx.run {spec.name}")

    async def _run_task(self, nid: NotificationId, spec: RunSpec) -> None:
        with trio.CancelScope() as scope:
            self._run_scopes.add(scope)
            try:
                await self._execute_run(nid, spec)
            finally:
                self._run_scopes.discard(scope)

    async def _execute_run(self, nid: NotificationId, spec: RunSpec) -> None:
        machine = self.machine
        result: Success | Failure
        try:
            value = await invoke_closure(spec.fn, spec.args, _THREAD_LIMITER)
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
                    self._fail_retryable(
                        exc,
                        f"ctx.run {spec.name!r} failed: {type(exc).__name__}: {exc}",
                        next_retry_delay_ms=delay or None,
                        related_run=nid,
                    )
                    self._scope.cancel()
                    self.flush()
                    return
                result = Failure(500, f"{type(exc).__name__}: {exc}")
        else:
            try:
                result = Success(spec.encode(value))
            except CodecError as exc:
                if not machine.closed:
                    self._fail_retryable(exc, f"ctx.run {spec.name!r}: cannot encode its result")
                    self._scope.cancel()
                    self.flush()
                return
        if machine.closed:
            return
        try:
            machine.propose_run_completion(nid, result)
        except AttemptClosed:
            return
        self.flush()
        self.wake()


def decode(codec: PayloadCodec, data: bytes, tp: object) -> object:
    """Decode with a codec; annotations are not always classes (``list[int]``, ``X | None``)."""
    return codec.decode(data, cast("type[object]", tp))


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
