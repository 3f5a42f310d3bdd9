"""One invocation attempt on trio: the handler task, its commands, and the state machine.

The transport creates an :class:`Attempt`, feeds it the request body (:meth:`Attempt.feed`),
writes its output, and awaits :meth:`Attempt.run`, which returns once the handler is done and the
attempt has produced its terminal frame (End, Error or Suspension). The output is either awaited
(:meth:`Attempt.next_output`, for a writer task) or pulled when a listener is told there is some
(:meth:`Attempt.on_output` + :meth:`Attempt.take_output`, for a transport that writes from its
own loop and so needs no task per invocation).

Structure of an attempt::

    Attempt.run ─ the attempt's nursery (its cancel scope is the attempt's)
      ├─ handler (this task)
      └─ ctx.run closures (see run.py); cancelled when the handler is done

There is one "the attempt is over" fact: the state machine is closed. Everything else follows
from it in one place, :meth:`Attempt._after_machine`, which runs after every call into the
machine: the output is handed to the transport, and once the machine is closed the attempt's
cancel scope is cancelled, so neither the handler nor a run closure can do anything durable
afterwards. A command issued on a closed attempt unwinds the handler with :class:`AttemptEnded`.

Ordering: every context operation journals its command synchronously, from the handler's task,
through :meth:`Attempt.command`; trio's scheduling order therefore never reaches the journal.
Run closures execute in other tasks, but they only *propose* results (not journal entries); the
journal order of their completions is decided by the runtime and replayed as recorded.
"""

from __future__ import annotations

import functools
import inspect
import logging
import math
import os
import traceback
import types
import warnings
from collections.abc import Callable, Mapping
from contextlib import AbstractAsyncContextManager
from typing import TYPE_CHECKING, NoReturn, ParamSpec, TypeVar, cast

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
from ..errors import Cancelled, TerminalError
from ..observability import AttemptInfo, AttemptOutcome, InvocationLogger, RunHook
from .hooks import HookSet, enter_hooks, exit_hooks
from .logger import handler_logger, invocation_attributes, sdk_logger as logger
from .outcome import as_terminal
from .run import IN_RUN, Runs
from .scheduler import Scheduler

if TYPE_CHECKING:
    from .context_impl import ContextImpl


@functools.cache
def _context_class() -> type[ContextImpl]:
    """context_impl imports this module: import it on first use, once (an import statement
    per invocation showed in the greet profile)."""
    from .context_impl import ContextImpl

    return ContextImpl


T = TypeVar("T")
P = ParamSpec("P")

# Progress members through globals (on Python 3.11 an enum member lookup costs ~65 ns; an
# await compares against three).
_RESOLVED, _CANCELLED, _SUSPENDED = Progress.RESOLVED, Progress.CANCELLED, Progress.SUSPENDED

# At most this many awaits of completed results in a row without yielding to trio's scheduler
# (see Attempt.checkpoint): bounds how long a loop over cached state can hold the thread.
_YIELD_EVERY = 16


class AttemptEnded(BaseException):
    """Unwinds the handler once its attempt is over (suspended, failed, or disconnected).

    A BaseException, like ``trio.Cancelled``, so that ``except Exception`` in user code does not
    swallow it. The attempt's cancel scope is cancelled too, so a handler that catches it anyway
    cannot do anything durable afterwards: the state machine is closed.
    """


class Attempt:
    """Runs one handler invocation attempt over a :class:`StateMachine`."""

    # The endpoint's hooks (see hooks.py), class-level ``None`` so that an attempt of an
    # endpoint without hooks stores nothing for them and tests one attribute per attempt
    # (and the runs one per executed closure).
    _hooks: HookSet | None = None
    #: The hooks around executed ``ctx.run`` closures, if any.
    run_hooks: tuple[RunHook, ...] | None = None
    #: What the hooks are told about this attempt, once they are entered.
    hook_info: AttemptInfo | None = None
    _hook_error: BaseException | None = None  # the error the attempt hooks exit with
    _entered_hooks: list[AbstractAsyncContextManager[object]] | None = None

    def __init__(
        self,
        machine: StateMachine,
        handler: HandlerDefinition,
        attempt_headers: Mapping[str, str],
        codec: PayloadCodec = DEFAULT_CODEC,
        *,
        service: str = "",
        hooks: HookSet | None = None,
    ) -> None:
        self.machine = machine
        self.handler = handler
        self.service = service  # the service's name, for logs
        # Servers build a fresh dict per request: taken as is (a copy per invocation cost
        # ~0.2 KiB of every parked invocation).
        self.attempt_headers: dict[str, str] = (
            cast("dict[str, str]", attempt_headers)
            if type(attempt_headers) is dict
            else dict(attempt_headers)
        )
        # The handler's codec: the default of its operations (state, runs, awakeables…).
        self.codec = codec
        self.runs: Runs = Runs(self)
        self.input: InputInfo | None = None
        # The handler's task while it waits for input or a run (see _wait_for_change).
        self._waiter: trio.lowlevel.Task | None = None
        self._unyielded = 0  # completed awaits since the handler last yielded (checkpoint)
        # Created by the first next_output(): a transport with a listener never needs it.
        self._output_ready: trio.Event | None = None
        self._listener: Callable[[], None] | None = None
        self._scope: trio.CancelScope | None = None
        self._owner: trio.lowlevel.Task | None = None
        # Operations that only take effect when awaited, not awaited yet (see expect_await).
        self._unawaited: dict[NotificationId, tuple[str, str | None]] = {}
        self._closed_seen = False  # _after_machine acted on the machine closing
        self._handler_done = False
        #: Durable concurrency's scheduler, from the first durable nursery or cancel scope
        #: on (see scheduler.py); until then only the handler's task journals.
        self.scheduler: Scheduler | None = None
        #: The trio deadline in effect when the attempt started: a durable await under an
        #: earlier one has a deadline set inside the handler (see scheduler.py).
        self.base_deadline: float = math.inf
        if hooks is not None:
            self._hooks = hooks
            self.run_hooks = hooks.run
            # The instance's own run (the hooked path), shadowing the method: see _run_hooked.
            self.__dict__["run"] = self._run_hooked

    # ------------------------------------------------------------------ transport side

    def feed(self, data: bytes) -> None:
        """Bytes from the request body."""
        self.drive(self.machine.feed, data)
        self.wake()

    def feed_eof(self) -> None:
        """The request body ended."""
        self.drive(self.machine.feed_eof)
        self.wake()

    def suspend_when_idle(self) -> None:
        """Shutdown: awaits that cannot resolve with what has arrived suspend at once."""
        if self.machine.stop_waiting_for_input():
            self.wake()

    def reject_input(self, message: str) -> None:
        """The transport stops taking this attempt's input (a limit was exceeded): fail the
        attempt with ``message`` (Restate retries it). Logs nothing: peers can cause it."""
        self.drive(self.machine.notify_error, 500, message)
        self.wake()

    def abort(self) -> None:
        """The transport lost the connection: stop the handler, write nothing more."""
        machine = self.machine
        machine.notify_error(500, "the runtime disconnected")
        machine.take_output()  # nobody is left to read it
        self._after_machine()
        self.wake()

    def on_output(self, listener: Callable[[], None]) -> None:
        """Call ``listener`` (synchronously, from whichever task changed the machine) whenever
        there is new output, and once when the attempt is over; it should only note that, and
        pull with :meth:`take_output` later. Replaces :meth:`next_output`."""
        self._listener = listener
        if self.machine.has_output or self.machine.closed:
            listener()

    def take_output(self) -> tuple[bytes, bool]:
        """Everything written since the last call, and whether that was the last of it (the
        attempt is over)."""
        machine = self.machine
        return machine.take_output(), machine.closed

    async def next_output(self) -> bytes | None:
        """The next bytes to write to the runtime; ``None`` once the attempt is over and
        everything it produced was returned. Writes coalesce: one call returns all output."""
        machine = self.machine
        while True:
            data = machine.take_output()
            if data:
                return data
            if machine.closed:
                return None
            ready = self._output_ready = trio.Event()
            await ready.wait()

    async def _run_hooked(self) -> None:
        """:meth:`run` with the attempt hooks exited after it: once the attempt is over and
        everything it started has stopped, outside its cancelled scope. (They are entered
        by :meth:`_run_handler`, once the journal has arrived.) An attempt with hooks has it
        as its ``run``, so that one without them takes not even a call more."""
        try:
            try:
                await Attempt.run(self)
            except BaseException as exc:
                await self._exit_hooks(exc)
                raise
            await self._exit_hooks(self._hook_error)
        finally:
            # The bound method in the instance dict is a cycle back to the attempt: break it,
            # as run() breaks the others, so that refcounting frees the attempt.
            self.__dict__.pop("run", None)

    async def _enter_hooks(self, hooks: HookSet) -> None:
        start = self.machine.start
        assert start is not None
        info = self.hook_info = AttemptInfo(
            invocation_id=start.debug_id,
            service=self.service,
            handler=self.handler.name,
            key=start.key,
            attempt=start.retry_count_since_last_stored_entry + 1,
            headers=self.attempt_headers,
            replaying=start.known_entries > 1,
        )
        self._entered_hooks = await enter_hooks(hooks.attempt, info)

    async def _exit_hooks(self, error: BaseException | None) -> None:
        entered, self._entered_hooks = self._entered_hooks, None
        info = self.hook_info
        if entered and info is not None:
            await exit_hooks(entered, error, info)

    async def run(self) -> None:
        """Run the handler (in this task) until the attempt ends; nothing it started outlives
        it."""
        try:
            self.base_deadline = trio.current_effective_deadline()
            async with trio.open_nursery() as nursery:
                self._scope = nursery.cancel_scope
                self.runs.open(nursery)
                if not self.machine.closed:
                    await self._run_handler()
                self._handler_done = True
                if self.runs.running:
                    nursery.cancel_scope.cancel()  # closures nobody awaits any more stop
        finally:
            self._handler_done = True
            if not self.machine.closed:  # only reachable through a bug in this module
                self.machine.notify_error(500, "restate_trio: the handler ended unexpectedly")
            self._after_machine()
            # Break the reference cycles through this attempt (its runs, its task and nursery,
            # the output listener),
            # so that refcounting frees an invocation as soon as the transport drops it: left
            # to the cyclic GC, every invocation's ~60 objects piled up until a collection,
            # whose pauses showed in the c=1 p99 latency.
            self.runs.close()
            self.scheduler = None
            self._owner = None
            self._scope = None
            self._listener = None  # the transport's writer, which holds this attempt

    # ------------------------------------------------------------------ the one command path

    def drive(self, fn: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
        """Call into the machine, then act on what changed (see :meth:`_after_machine`)."""
        try:
            return fn(*args, **kwargs)
        finally:
            self._after_machine()

    def _after_machine(self) -> None:
        machine = self.machine
        if machine.closed:
            if not self._closed_seen:
                self._closed_seen = True
                self._signal_output()
                if self.scheduler is not None:
                    self.scheduler.release_all()
                # Stop whatever still runs: the handler (unless it is the one that finished
                # the attempt) and run closures. Cancelling costs, so only when needed.
                if self._scope is not None and (not self._handler_done or self.runs.running):
                    self._scope.cancel()
                self._report_close()
        elif machine.has_output:
            self._signal_output()

    def _signal_output(self) -> None:
        listener = self._listener
        if listener is not None:
            listener()
        elif self._output_ready is not None:
            self._output_ready.set()

    @functools.cached_property
    def logger(self) -> InvocationLogger:
        """``ctx.logger``: made when first used, kept in the instance dict (an attempt that
        logs nothing stores nothing for it)."""
        return handler_logger(self)

    def _report_close(self) -> None:
        """Note how the attempt closed (for the hooks; a suspension at DEBUG), and say why it
        closed where it is a bug in the user's code: a journal
        mismatch means the handler is not deterministic (or its code changed under a running
        invocation). Runs while the diverging command is being issued, so the user's line is on
        the stack."""
        machine = self.machine
        info = self.hook_info
        failure = machine.failure
        if failure is None:
            # Closed without an error: the handler ended it (End), or an await suspended it.
            if self._handler_done:
                if info is not None:
                    info.outcome = AttemptOutcome.COMPLETED
                return
            if info is not None:
                info.outcome = AttemptOutcome.SUSPENDED
            if logger.isEnabledFor(logging.DEBUG):
                start = machine.start
                logger.debug(
                    "invocation %s (%s/%s) suspended: Restate resumes it when what it awaits "
                    "completes",
                    start.debug_id if start else "?",
                    self.service,
                    self.handler.name,
                    extra=invocation_attributes(self),
                )
            return
        if info is not None:
            info.outcome = AttemptOutcome.FAILED
            info.failure = failure[1]
        mismatch = machine.mismatch
        if mismatch is None:
            return
        start = machine.start
        logger.error(
            "journal mismatch in %s/%s, invocation %s, at %s: %s",
            self.service,
            self.handler.name,
            start.debug_id if start else "?",
            _user_code_line(),
            failure[1],
            extra={"restate_mismatch": mismatch, **invocation_attributes(self)},
        )

    def command(self, fn: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
        """Issue a machine command from the handler: checks the calling task, unwinds the
        handler when the attempt is (or becomes) over, and hands the output to the writer."""
        self.check_owner()
        machine = self.machine
        if machine.closed:
            self.unwind()
        try:
            value = fn(*args, **kwargs)
        except AttemptClosed:
            self.unwind()
        # What _after_machine does, inlined: this is the path of every context operation.
        if self._over():
            self._after_machine()
        elif machine.has_output:
            self._signal_output()
        return value

    def unwind(self) -> NoReturn:
        """End the calling durable task's part: the attempt is over."""
        self._after_machine()
        raise AttemptEnded

    def codec_for(self, operation: PayloadCodec | None) -> PayloadCodec:
        """An operation's codec: its own ``codec=``, else the handler's, already resolved by
        the service layer's nearest-wins rule (handler > service > endpoint > JSON)."""
        return operation or self.codec

    def check_owner(self) -> None:
        """Durable operations come from the handler's task only (see the module docstring)."""
        if IN_RUN.get():
            raise RuntimeError(
                "restate_trio context operations cannot be used inside a ctx.run closure: "
                "the closure's effects are journaled as one result; do durable work in the "
                "handler around it"
            )
        task = trio.lowlevel.current_task()
        scheduler = self.scheduler
        if scheduler is not None:
            if not scheduler.is_holder(task):
                raise scheduler.owner_error(task)
        elif task is not self._owner:
            raise RuntimeError(
                "a restate_trio context was used from a task other than its handler's task; "
                "start tasks that do durable work with restate_trio.open_nursery(ctx), so "
                "that their journal order is deterministic (or wait for several operations "
                "with the combinators, e.g. all_succeeded())"
            )

    def activate_scheduler(self) -> Scheduler:
        """Durable concurrency starts (a durable nursery or cancel scope is entered by the
        handler's task): from now on durable tasks take turns (see scheduler.py)."""
        self.check_owner()
        scheduler = self.scheduler
        if scheduler is None:
            assert self._owner is not None
            scheduler = self.scheduler = Scheduler(self, self._owner)
        return scheduler

    async def checkpoint(self) -> None:
        """Awaiting something already complete (eager state, a replayed result): a
        cancellation point every time, so loops stay cancellable, and a schedule point every
        ``_YIELD_EVERY``-th time in a row. Yielding on each one cost a pass of trio's run loop
        per state read (profiled: the eager ``ctx.get`` of a read-modify-write handler was ~8%
        of its in-process time), and an await that blocks yields anyway. Journal order does not
        depend on it: only the handler's task (or the durable scheduler's holder) journals."""
        self.check_owner()
        self._unyielded += 1
        if self._unyielded < _YIELD_EVERY:
            await trio.lowlevel.checkpoint_if_cancelled()
        else:
            self._unyielded = 0
            await trio.lowlevel.checkpoint()

    def wake(self) -> None:
        """Something changed (input, a run finished): a waiting await looks again."""
        if self.scheduler is not None:
            self.scheduler.wake()
            return
        task = self._waiter
        if task is not None:
            self._waiter = None
            trio.lowlevel.reschedule(task)

    async def _wait_for_change(self) -> None:
        """Wait for the next :meth:`wake`. Only the handler's task ever waits (every await goes
        through check_owner), so one task slot does what an Event would, without an Event
        and its parking lot per wake-up and two more frames per parked invocation (profiled:
        Event.wait/set ~3% of the SDK's CPU on ten sequential runs; tracemalloc: ~0.5 KiB of
        every parked invocation)."""
        self._waiter = trio.lowlevel.current_task()
        self._unyielded = 0
        await trio.lowlevel.wait_task_rescheduled(self._abort_wait)

    def _abort_wait(self, _: object) -> trio.lowlevel.Abort:
        self._waiter = None
        return trio.lowlevel.Abort.SUCCEEDED

    # ------------------------------------------------------------------ futures

    def result(self, nid: NotificationId) -> Result:
        result = self.machine.result(nid)
        assert result is not None, f"{nid} is not resolved"
        return result

    def resolved_at(self, tree: FutureTree) -> int | None:
        return self.machine.resolved_at(tree)

    def expect_await(self, nid: NotificationId, operation: str, name: str | None = None) -> None:
        """``operation`` does nothing unless its future is awaited (a run closure starts when
        awaited; a timer nobody waits for delays nothing): warn if the handler ends first.
        ``name`` (a run's) is formatted into the warning only if there is one: this is on
        every run's path."""
        self._unawaited[nid] = (operation, name)

    async def await_tree(self, tree: FutureTree) -> None:
        """Wait until ``tree`` resolves; suspends the attempt when it cannot in this one."""
        self.check_owner()
        unawaited = self._unawaited
        if unawaited:
            if type(tree) is Leaf:
                unawaited.pop(tree.id, None)
            else:
                for nid in leaves(tree):
                    unawaited.pop(nid, None)
        if self.scheduler is not None:
            await self.scheduler.wait(tree)
            return
        # The single-task model: the handler's task drives the machine itself. It is the
        # owner checked above all along (a durable scheduler starts only from this task, and
        # a closure it runs inline cannot use the context), so the machine is called directly,
        # not through command(): looking at notifications writes nothing unless it closes
        # the attempt (a suspension, a journal mismatch), which unwind() acts on.
        machine = self.machine
        runs = self.runs
        waited = False
        while True:
            if runs.waiting and not machine.replaying and not machine.settle(tree):
                inline = runs.take_inline(tree)
                if inline is not None:
                    await runs.execute_inline(*inline)
                    continue
                runs.start(tree)
            try:
                progress = machine.do_progress(tree)
            except AttemptClosed:
                self.unwind()
            if progress is _RESOLVED:
                if runs.executing:
                    # A combinator decided a race: its losers stop. (An await interrupted by
                    # a trio cancel scope leaves its closure running, to propose its result
                    # for a later await: that model predates durable concurrency, where
                    # every cancellation is deterministic and cancels the closures the task
                    # was waiting for.)
                    runs.forget_awaiter(tree)
                if waited:
                    # It blocked in _wait_for_change: that was this await's checkpoint
                    # already; one more would cost a pass of trio's run loop per step.
                    await trio.lowlevel.checkpoint_if_cancelled()
                else:
                    await self.checkpoint()
                return
            if progress is _CANCELLED:
                await self.propagate_cancel()
                raise Cancelled()
            if progress is _SUSPENDED:
                self.unwind()
            # _wait_for_change, inlined (a coroutine frame per step); the owner is the waiter.
            self._waiter = self._owner
            self._unyielded = 0
            await trio.lowlevel.wait_task_rescheduled(self._abort_wait)
            waited = True

    async def propagate_cancel(self) -> None:
        """Cancel the calls this invocation made, as the official SDKs do, before raising 409."""
        machine = self.machine
        children = machine.child_calls
        if not children:
            return
        await self.await_tree(Node(Combinator.ALL_COMPLETED, tuple(Leaf(c) for c in children)))
        for child in children:
            result = machine.result(child)
            if isinstance(result, InvocationIdResult):
                self.command(machine.sys_send_signal, result.invocation_id, index=CANCEL_SIGNAL_ID)

    # ------------------------------------------------------------------ the handler

    async def _run_handler(self) -> None:
        machine = self.machine
        while not machine.ready and not machine.closed:
            await self._wait_for_change()
        if machine.closed:
            return
        self._owner = trio.lowlevel.current_task()
        if self._hooks is not None:
            # Entered here, in the handler's task once the journal is in: context variables
            # a hook sets (a current span) are the handler's, and its run closures'.
            await self._enter_hooks(self._hooks)
            if self._over():  # the connection was lost while a hook entered
                return
        error: BaseException | None = None
        value: object = None
        try:
            value = await self._invoke()
        except AttemptEnded:
            return
        except Exception as exc:
            error = exc
        except BaseExceptionGroup as group:
            # A user nursery wraps errors in a group; our own control flow is in it too when
            # the attempt ended meanwhile.
            if self._over():
                return
            error = group
        if error is not None and self.hook_info is not None:
            self._hook_error = error
        if self._unawaited:
            self._warn_unawaited()
        self._handler_done = True
        if not self._over():
            self._complete(value, error)

    def _warn_unawaited(self) -> None:
        """Like Python's "coroutine was never awaited", for durable futures: only when the
        handler ended by itself (an attempt that suspends or fails has not finished awaiting)."""
        code = getattr(inspect.unwrap(self.handler.fn), "__code__", None)
        operations = ", ".join(
            sorted(
                {
                    f"{op}({name!r})" if name is not None else f"{op}()"
                    for op, name in self._unawaited.values()
                }
            )
        )
        message = (
            f"{operations} was never awaited in handler {self.handler.name!r}: a ctx.run "
            "closure only runs, and ctx.sleep only waits, when its future is awaited"
        )
        self._unawaited.clear()
        try:
            if code is None:
                warnings.warn(message, RuntimeWarning, stacklevel=1)
            else:
                warnings.warn_explicit(
                    message, RuntimeWarning, code.co_filename, code.co_firstlineno
                )
        except Warning:
            # Warnings configured as errors must not turn the handler's outcome into a bug.
            logger.error("restate_trio: %s", message, extra=invocation_attributes(self))

    def _over(self) -> bool:
        # A call, not a property read, so type checkers do not carry a narrowed value across
        # awaits: the machine may close while the handler runs.
        return self.machine.closed

    async def _invoke(self) -> object:
        handler = self.handler
        self.input = self.command(self.machine.sys_input)
        ctx = _context_class()(self)
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
                failure = Failure(terminal.code, terminal.message, terminal.metadata)
                self.drive(machine.sys_write_output, failure)
                self.drive(machine.sys_end)
                return
            if error is not None:
                self.fail(error)
                return
            handler = self.handler
            if handler.output_type is None:
                payload = b""
            else:
                try:
                    payload = handler.effective_output_codec.encode(value, handler.output_type)
                except CodecError as exc:
                    self.fail(exc, "failed to encode the handler output")
                    return
            deterministic = getattr(handler.effective_output_codec, "deterministic", True)
            self.drive(machine.sys_write_output, Success(payload), unstable=deterministic is False)
            self.drive(machine.sys_end)
        except AttemptClosed:
            return  # the machine already wrote the ErrorMessage (e.g. journal mismatch)

    def propose(self, nid: NotificationId, result: Success | Failure) -> None:
        """Propose a run closure's outcome (ignored when the attempt ended meanwhile)."""
        try:
            self.drive(self.machine.propose_run_completion, nid, result)
        except AttemptClosed:
            return

    def fail(
        self,
        error: BaseException,
        message: str | None = None,
        *,
        next_retry_delay_ms: int | None = None,
        related_run: NotificationId | None = None,
    ) -> None:
        """End the attempt with a retryable failure (Restate retries the invocation)."""
        text = message or _describe(error)
        stack = "".join(traceback.format_exception(error))
        start = self.machine.start
        if self.hook_info is not None and self._hook_error is None:
            self._hook_error = error
        logger.warning(
            "invocation %s (%s/%s) attempt failed, Restate will retry: %s",
            start.debug_id if start else "?",
            self.service,
            self.handler.name,
            text,
            exc_info=error,
            extra=invocation_attributes(self),
        )
        self.drive(
            self.machine.notify_error,
            500,
            text,
            stack,
            next_retry_delay_ms=next_retry_delay_ms,
            related_run=related_run,
        )


_PACKAGE_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
_TRIO_DIR = os.path.dirname(os.path.abspath(trio.__file__))


def _user_code_line() -> str:
    """``file:line`` of the innermost caller outside restate_trio (and trio): the user's code
    that issued the current command; "the handler's return" when the SDK itself is issuing it."""
    here = inspect.currentframe()
    frame: types.FrameType | None = here.f_back if here is not None else None
    while frame is not None and frame.f_code.co_filename.startswith(_PACKAGE_DIR):
        frame = frame.f_back
    if frame is None or frame.f_code.co_filename.startswith(_TRIO_DIR):
        return "the handler's return"  # no user code between the SDK and trio's task runner
    return f"{frame.f_code.co_filename}:{frame.f_lineno}"


def _describe(error: BaseException) -> str:
    """``Type: message`` of an error; of each leaf for a group (a nursery's), so that the
    failure Restate shows says what failed, not only that a nursery did."""
    name, text = type(error).__name__, str(error)
    exceptions: tuple[BaseException, ...] | None = getattr(error, "exceptions", None)
    if exceptions is None:
        return f"{name}: {text}"
    parts = [_describe(exc) for exc in exceptions]
    return f"{name} ({len(parts)}): " + "; ".join(parts)


def decode(codec: PayloadCodec, data: bytes, tp: object) -> object:
    """Decode with a codec; annotations are not always classes (``list[int]``, ``X | None``)."""
    return codec.decode(data, cast("type[object]", tp))
