"""One invocation attempt on trio: the handler task, its context, and the state machine.

The transport creates an :class:`Attempt`, feeds it the request body from its receive pump, and
calls :meth:`Attempt.run` with a function that writes response bytes. ``run`` returns once the
attempt has written its terminal frame (End, Error or Suspension), or was torn down.

Ordering: every context operation journals its command synchronously, from the handler's task,
before returning; trio's scheduling order therefore never reaches the journal.
"""

from __future__ import annotations

import logging
import traceback
from collections.abc import Awaitable, Callable, Mapping
from typing import NoReturn, TypeVar, cast, overload

import trio

from .._protocol.errors import AttemptClosed
from .._protocol.futures import Leaf
from .._protocol.machine import EagerValue, Progress, StateMachine
from .._protocol.types import (
    Failure,
    InputInfo,
    NotificationId,
    Result,
    StateKeysResult,
    Success,
    Void,
)
from .._service.definitions import HandlerDefinition
from ..codecs import DEFAULT_CODEC, CodecError, PayloadCodec
from ..context import DurableFuture, Request
from ..errors import TerminalError
from .futures import DurableFutureImpl

logger = logging.getLogger("restate_trio")

T = TypeVar("T")

SendBytes = Callable[[bytes], Awaitable[None]]


class AttemptEnded(BaseException):
    """Unwinds the handler once its attempt is over (suspended, failed, or disconnected).

    A BaseException, like ``trio.Cancelled``, so that ``except Exception`` in user code does not
    swallow it. The attempt's cancel scope is cancelled too, so a handler that catches it anyway
    cannot do anything durable afterwards: the state machine is closed.
    """


class Attempt:
    """Runs one handler invocation attempt over a :class:`StateMachine`.

    It is also the context object user code receives: it implements every context protocol,
    and the annotation on the handler restricts which methods the type checker allows.
    """

    def __init__(
        self,
        machine: StateMachine,
        handler: HandlerDefinition,
        attempt_headers: Mapping[str, str],
        state_codec: PayloadCodec = DEFAULT_CODEC,
    ) -> None:
        self._machine = machine
        self._handler = handler
        self._attempt_headers = dict(attempt_headers)
        self._state_codec = state_codec
        self._input_changed = trio.Event()
        self._output_ready = trio.Event()
        self._scope = trio.CancelScope()
        self._owner: trio.lowlevel.Task | None = None
        self._input: InputInfo | None = None
        self._request: Request | None = None

    # ------------------------------------------------------------------ transport side

    def feed(self, data: bytes) -> None:
        """Bytes from the request body."""
        self._machine.feed(data)
        self._after_input()

    def feed_eof(self) -> None:
        """The request body ended."""
        self._machine.feed_eof()
        self._after_input()

    def abort(self) -> None:
        """The transport lost the connection: stop the handler, write nothing more."""
        self._machine.notify_error(500, "the runtime disconnected")
        self._machine.take_output()
        self._scope.cancel()
        self._wake_input()

    def _after_input(self) -> None:
        if self._machine.closed:
            # Bad input closed the machine (with an ErrorMessage): stop the handler.
            self._scope.cancel()
            self._output_ready.set()
        self._wake_input()

    def _wake_input(self) -> None:
        event, self._input_changed = self._input_changed, trio.Event()
        event.set()

    async def run(self, send: SendBytes) -> None:
        """Run the handler and write every frame through ``send`` until the attempt ends."""
        async with trio.open_nursery() as nursery:
            nursery.start_soon(self._writer, send)
            try:
                await self._run_handler()
            finally:
                self._output_ready.set()

    async def _writer(self, send: SendBytes) -> None:
        machine = self._machine
        while True:
            await self._output_ready.wait()
            self._output_ready = trio.Event()
            data = machine.take_output()
            if data:
                await send(data)
            if machine.closed and not machine.has_output:
                return

    def _flush(self) -> None:
        if self._machine.has_output or self._machine.closed:
            self._output_ready.set()

    async def _run_handler(self) -> None:
        machine = self._machine
        while not machine.ready and not machine.closed:
            await self._input_changed.wait()
        if machine.closed:
            return
        self._owner = trio.lowlevel.current_task()
        error: BaseException | None = None
        value: object = None
        with self._scope:
            try:
                value = await self._invoke()
            except AttemptEnded:
                return
            except Exception as exc:
                error = exc
            except BaseExceptionGroup as group:
                # A user nursery wraps errors in a group; our own control flow is in it too
                # when the attempt ended meanwhile. Only unwrap what is unambiguous.
                if self._closed():
                    return
                error = group
        if self._scope.cancelled_caught or self._closed():
            return
        self._complete(value, error)
        self._flush()

    def _closed(self) -> bool:
        # A call, not a property read, so type checkers do not carry a narrowed value across
        # awaits: the machine may close while the handler runs.
        return self._machine.closed

    async def _invoke(self) -> object:
        handler = self._handler
        try:
            self._input = self._machine.sys_input()
        except AttemptClosed:
            raise AttemptEnded from None
        self._flush()
        if not handler.has_input:
            return await handler.fn(self)
        if not self._input.value and not handler.input_required:
            return await handler.fn(self, None)
        try:
            arg = _decode(handler.input_codec, self._input.value, handler.input_type)
        except CodecError as exc:
            raise TerminalError(
                f"request could not be decoded into handler input type: {exc}", code=400
            ) from exc
        return await handler.fn(self, arg)

    def _complete(self, value: object, error: BaseException | None) -> None:
        machine = self._machine
        try:
            terminal = _as_terminal(error) if error is not None else None
            if terminal is not None:
                machine.sys_write_output(
                    Failure(terminal.code, terminal.message, terminal.metadata)
                )
                machine.sys_end()
                return
            if error is not None:
                self._fail_retryable(error)
                return
            handler = self._handler
            if handler.output_type is None:
                payload = b""
            else:
                try:
                    payload = handler.output_codec.encode(value, handler.output_type)
                except CodecError as exc:
                    self._fail_retryable(exc, "failed to encode the handler output")
                    return
            machine.sys_write_output(Success(payload))
            machine.sys_end()
        except AttemptClosed:
            return  # the machine already wrote the ErrorMessage (e.g. journal mismatch)

    def _fail_retryable(self, error: BaseException, message: str | None = None) -> None:
        text = message or f"{type(error).__name__}: {error}"
        stack = "".join(traceback.format_exception(error))
        start = self._machine.start
        logger.warning(
            "invocation %s (%s) attempt failed, Restate will retry: %s",
            start.debug_id if start else "?",
            self._handler.name,
            text,
            exc_info=error,
        )
        self._machine.notify_error(500, text, stack)

    # ------------------------------------------------------------------ awaiting

    def check_owner(self) -> None:
        if trio.lowlevel.current_task() is not self._owner:
            raise RuntimeError(
                "a restate_trio context was used from a task other than its handler's task; "
                "durable operations must be issued by the handler itself so that their "
                "journal order is deterministic"
            )

    async def await_notification(self, nid: NotificationId) -> Result:
        """Wait until notification ``nid`` resolves (or suspend the attempt)."""
        self.check_owner()
        machine = self._machine
        tree = Leaf(nid)
        while True:
            try:
                progress = machine.do_progress(tree)
            except AttemptClosed:
                self._end()
            if progress is Progress.RESOLVED:
                await trio.lowlevel.checkpoint()
                result = machine.result(nid)
                assert result is not None
                return result
            if progress is Progress.CANCELLED:
                self._flush()
                raise TerminalError("cancelled", code=409)
            if progress is Progress.SUSPENDED:
                self._end()
            await self._input_changed.wait()

    def _end(self) -> NoReturn:
        """The machine closed under the handler: flush and unwind it."""
        self._flush()
        self._scope.cancel()
        raise AttemptEnded

    def _journal(self) -> StateMachine:
        """The machine, after checking the caller may issue commands."""
        self.check_owner()
        if self._machine.closed:
            self._end()
        return self._machine

    def _call(self, fn: Callable[[], T]) -> T:
        """Run a machine command; translate a closed attempt into :class:`AttemptEnded`."""
        try:
            value = fn()
        except AttemptClosed:
            self._end()
        self._flush()
        return value

    # ------------------------------------------------------------------ context API

    def request(self) -> Request:
        if self._request is None:
            start = self._machine.start
            assert start is not None
            assert self._input is not None
            self._request = Request(
                id=start.debug_id,
                headers={h.key: h.value for h in self._input.headers},
                attempt_headers=self._attempt_headers,
                body=self._input.value,
                idempotency_key=start.idempotency_key,
                scope=start.scope,
                limit_key=start.limit_key,
            )
        return self._request

    def key(self) -> str:
        start = self._machine.start
        assert start is not None
        return start.key

    @overload
    def get(self, name: str) -> DurableFuture[object]: ...
    @overload
    def get(self, name: str, *, type: type[T]) -> DurableFuture[T | None]: ...
    def get(
        self, name: str, *, type: type[T] | None = None
    ) -> DurableFuture[T | None] | DurableFuture[object]:
        machine = self._journal()
        answer = self._call(lambda: machine.sys_get_state(name))
        codec = self._state_codec
        tp: object = object if type is None else type

        def convert(result: Result) -> object:
            if isinstance(result, Success):
                return _decode(codec, result.value, tp)
            if isinstance(result, Failure):
                raise TerminalError(result.message, result.code, result.metadata)
            return None

        if isinstance(answer, EagerValue):
            value = None if answer.value is None else _decode(codec, answer.value, tp)
            return DurableFutureImpl[object].completed(self, value)
        return DurableFutureImpl(self, answer, convert)

    def state_keys(self) -> DurableFuture[list[str]]:
        machine = self._journal()
        answer = self._call(machine.sys_get_state_keys)
        if isinstance(answer, list):
            return DurableFutureImpl[list[str]].completed(self, answer)

        def convert(result: Result) -> list[str]:
            if isinstance(result, StateKeysResult):
                return sorted(result.keys)
            if isinstance(result, Failure):
                raise TerminalError(result.message, result.code, result.metadata)
            assert isinstance(result, Void)
            return []

        return DurableFutureImpl(self, answer, convert)

    def set(self, name: str, value: object) -> None:
        machine = self._journal()
        payload = self._state_codec.encode(value)
        self._call(lambda: machine.sys_set_state(name, payload))

    def clear(self, name: str) -> None:
        machine = self._journal()
        self._call(lambda: machine.sys_clear_state(name))

    def clear_all(self) -> None:
        machine = self._journal()
        self._call(machine.sys_clear_all_state)


def _decode(codec: PayloadCodec, data: bytes, tp: object) -> object:
    # Annotations are not always classes (``list[int]``, ``int | None``); codecs accept them.
    return codec.decode(data, cast("type[object]", tp))


def _as_terminal(error: BaseException) -> TerminalError | None:
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
