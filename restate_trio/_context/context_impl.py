"""The object handlers receive as ``ctx``: every context protocol, on one attempt.

Each method checks it runs in the handler's task, journals its command synchronously through the
state machine, and returns a durable future. The annotation on the handler's ``ctx`` parameter
restricts (for the type checker) which of these a handler may use.
"""

from __future__ import annotations

import functools
import inspect
import time
import typing
from collections.abc import Callable
from datetime import timedelta
from typing import TypeVar, Unpack, cast

from .._protocol.types import (
    CANCEL_SIGNAL_ID,
    Failure,
    IdempotentTarget,
    InvocationIdResult,
    NotificationId,
    Result,
    StateKeysResult,
    Success,
    WorkflowTarget,
)
from .._service.targets import Target, target_of, with_codec
from ..codecs import PayloadCodec
from ..context import CallOptions, Request, SendOptions
from ..errors import TerminalError
from ..observability import InvocationLogger
from ..retry import RetryPolicy
from .futures import CallFutureImpl, DurableFutureImpl, SendHandleImpl
from .invocation import Attempt, decode
from .random import DurableRandom
from .run import RunSpec

T = TypeVar("T")

_NO_RETRY_LIMITS = RetryPolicy()


def _raise_failure(result: Result) -> None:
    if isinstance(result, Failure):
        raise TerminalError(result.message, result.code, result.metadata)


def _decoder(codec: PayloadCodec, tp: object) -> Callable[[Result], object]:
    """Converter for results that carry a value (or a failure)."""

    decode_payload = codec.decode
    as_type = cast("type[object]", tp)  # annotations are not always classes (list[int]…)

    def convert(result: Result) -> object:
        if isinstance(result, Success):
            return decode_payload(result.value, as_type)
        _raise_failure(result)
        return None

    return convert


def _invocation_id(result: Result) -> str:
    _raise_failure(result)
    assert isinstance(result, InvocationIdResult)
    return result.invocation_id


def _void(result: Result) -> None:
    _raise_failure(result)


def _ms_from_now(delay: timedelta | None) -> int:
    if delay is None:
        return 0
    return int((time.time() + delay.total_seconds()) * 1000)


class ContextImpl:
    """Implements :mod:`restate_trio.context` for one invocation attempt."""

    __slots__ = ("_attempt", "_random", "_request")

    def __init__(self, attempt: Attempt) -> None:
        self._attempt = attempt
        self._request: Request | None = None
        self._random: DurableRandom | None = None

    @property
    def attempt(self) -> Attempt:
        """The attempt this context belongs to (for the SDK's own modules)."""
        return self._attempt

    # ------------------------------------------------------------------ metadata

    def request(self) -> Request:
        if self._request is None:
            attempt = self._attempt
            start = attempt.machine.start
            assert start is not None
            assert attempt.input is not None
            self._request = Request(
                id=start.debug_id,
                headers={h.key: h.value for h in attempt.input.raw_headers},
                attempt_headers=attempt.attempt_headers,
                body=attempt.input.value,
                idempotency_key=start.idempotency_key,
                scope=start.scope,
                limit_key=start.limit_key,
            )
        return self._request

    @property
    def logger(self) -> InvocationLogger:
        return self._attempt.logger

    def key(self) -> str:
        start = self._attempt.machine.start
        assert start is not None
        return start.key

    def random(self) -> DurableRandom:
        self._attempt.check_owner()
        if self._random is None:
            self._random = DurableRandom(self._attempt.machine.random_seed())
        return self._random

    def uuid(self) -> str:
        return str(self.random().uuid4())

    # ------------------------------------------------------------------ state

    def get(
        self, name: str, *, type: object = None, codec: PayloadCodec | None = None
    ) -> DurableFutureImpl[object]:
        attempt = self._attempt
        answer = attempt.command(attempt.machine.sys_get_state, name)
        codec = attempt.codec_for(codec)
        tp: object = object if type is None else type
        if isinstance(answer, NotificationId):
            return DurableFutureImpl(attempt, answer, _decoder(codec, tp))
        value = None if answer.value is None else decode(codec, answer.value, tp)
        return DurableFutureImpl[object].completed(attempt, value)

    def state_keys(self) -> DurableFutureImpl[list[str]]:
        attempt = self._attempt
        answer = attempt.command(attempt.machine.sys_get_state_keys)
        if isinstance(answer, list):
            return DurableFutureImpl[list[str]].completed(attempt, answer)

        def convert(result: Result) -> list[str]:
            _raise_failure(result)
            if isinstance(result, StateKeysResult):
                return sorted(result.keys)
            return []

        return DurableFutureImpl(attempt, answer, convert)

    def set(self, name: str, value: object, *, codec: PayloadCodec | None = None) -> None:
        attempt = self._attempt
        attempt.check_owner()
        codec = attempt.codec_for(codec)
        payload = codec.encode(value, type(value))
        unstable = not is_deterministic(codec)
        attempt.command(attempt.machine.sys_set_state, name, payload, unstable=unstable)

    def clear(self, name: str) -> None:
        attempt = self._attempt
        attempt.command(attempt.machine.sys_clear_state, name)

    def clear_all(self) -> None:
        attempt = self._attempt
        attempt.command(attempt.machine.sys_clear_all_state)

    # ------------------------------------------------------------------ run, sleep, time

    def run(
        self,
        name: str,
        fn: Callable[..., object],
        *args: object,
        type: object = None,
        retry: RetryPolicy | None = None,
        codec: PayloadCodec | None = None,
    ) -> DurableFutureImpl[object]:
        if not callable(fn):
            raise TypeError(f"ctx.run({name!r}, ...) needs a function, got {fn!r}")
        attempt = self._attempt
        codec = codec or attempt.codec  # codec_for, inlined: every run's path
        declared, is_async = _closure_info(fn)
        tp = type if type is not None else declared
        nid, execute = attempt.command(attempt.machine.sys_run, name)
        if execute:
            spec = RunSpec(fn, args, codec, tp, retry or _NO_RETRY_LIMITS, name, is_async)
            attempt.runs.register(nid, spec)
        attempt.expect_await(nid, "ctx.run", name)
        return DurableFutureImpl(attempt, nid, _decoder(codec, tp))

    def sleep(self, duration: timedelta, *, name: str = "") -> DurableFutureImpl[None]:
        attempt = self._attempt
        nid = attempt.command(attempt.machine.sys_sleep, _ms_from_now(duration), name)
        attempt.expect_await(nid, "ctx.sleep")
        return DurableFutureImpl(attempt, nid, _void)

    def time(self) -> DurableFutureImpl[object]:
        return self.run("time", time.time, type=float)

    # ------------------------------------------------------------------ calls

    def _call(
        self,
        target: Target,
        key: str,
        payload: bytes,
        options: CallOptions,
        convert: Callable[[Result], object] | None = None,
    ) -> CallFutureImpl[object]:
        attempt = self._attempt
        id_nid, result_nid = attempt.command(
            attempt.machine.sys_call,
            target.service,
            target.handler,
            payload,
            key=key,
            headers=sorted((options.get("headers") or {}).items()),
            idempotency_key=options.get("idempotency_key"),
            scope=options.get("scope"),
            limit_key=options.get("limit_key"),
            unstable=not is_deterministic(target.input_codec),
        )
        invocation_id = DurableFutureImpl(attempt, id_nid, _invocation_id)
        if convert is None:
            convert = (
                _void
                if target.output_type is None
                else _decoder(target.output_codec, target.output_type)
            )
        return CallFutureImpl(attempt, result_nid, convert, invocation_id)

    def _send(
        self, target: Target, key: str, payload: bytes, options: SendOptions
    ) -> SendHandleImpl:
        attempt = self._attempt
        id_nid = attempt.command(
            attempt.machine.sys_send,
            target.service,
            target.handler,
            payload,
            key=key,
            headers=sorted((options.get("headers") or {}).items()),
            idempotency_key=options.get("idempotency_key"),
            invoke_time_ms=_ms_from_now(options.get("delay")),
            scope=options.get("scope"),
            limit_key=options.get("limit_key"),
            unstable=not is_deterministic(target.input_codec),
        )
        return SendHandleImpl(DurableFutureImpl(attempt, id_nid, _invocation_id))

    def _typed_target(
        self, handler: Callable[..., object], arg: object, codec: PayloadCodec | None
    ) -> tuple[Target, bytes]:
        """A handler reference's target and the encoded argument (checked from this task:
        encoding runs user code, and must not happen for a context used elsewhere)."""
        self._attempt.check_owner()
        target = with_codec(target_of(handler), codec)
        if not target.has_input:
            return target, b""
        return target, target.input_codec.encode(arg, target.input_type)

    def service_call(
        self,
        handler: Callable[..., object],
        arg: object = None,
        *,
        codec: PayloadCodec | None = None,
        **options: Unpack[CallOptions],
    ) -> CallFutureImpl[object]:
        # A Service handler is addressed like an object handler with an empty key.
        return self.object_call(handler, "", arg, codec=codec, **options)

    def object_call(
        self,
        handler: Callable[..., object],
        key: str,
        arg: object = None,
        *,
        codec: PayloadCodec | None = None,
        **options: Unpack[CallOptions],
    ) -> CallFutureImpl[object]:
        target, payload = self._typed_target(handler, arg, codec)
        return self._call(target, key, payload, options)

    workflow_call = object_call

    def service_send(
        self,
        handler: Callable[..., object],
        arg: object = None,
        *,
        codec: PayloadCodec | None = None,
        **options: Unpack[SendOptions],
    ) -> SendHandleImpl:
        # A Service handler is addressed like an object handler with an empty key.
        return self.object_send(handler, "", arg, codec=codec, **options)

    def object_send(
        self,
        handler: Callable[..., object],
        key: str,
        arg: object = None,
        *,
        codec: PayloadCodec | None = None,
        **options: Unpack[SendOptions],
    ) -> SendHandleImpl:
        target, payload = self._typed_target(handler, arg, codec)
        return self._send(target, key, payload, options)

    workflow_send = object_send

    def generic_call(
        self,
        service: str,
        handler: str,
        payload: bytes,
        *,
        key: str | None = None,
        **options: Unpack[CallOptions],
    ) -> CallFutureImpl[object]:
        return self._call(_raw_target(service, handler), key or "", payload, options, _raw)

    def generic_send(
        self,
        service: str,
        handler: str,
        payload: bytes,
        *,
        key: str | None = None,
        **options: Unpack[SendOptions],
    ) -> SendHandleImpl:
        return self._send(_raw_target(service, handler), key or "", payload, options)

    # ------------------------------------------------------------------ other invocations

    def attach_invocation(
        self, invocation_id: str, *, type: object = None, codec: PayloadCodec | None = None
    ) -> DurableFutureImpl[object]:
        attempt = self._attempt
        nid = attempt.command(attempt.machine.sys_attach_invocation, invocation_id)
        return DurableFutureImpl(attempt, nid, _decoder(attempt.codec_for(codec), type or object))

    def get_invocation_output(
        self, invocation_id: str, *, type: object = None, codec: PayloadCodec | None = None
    ) -> DurableFutureImpl[object]:
        attempt = self._attempt
        nid = attempt.command(attempt.machine.sys_get_invocation_output, invocation_id)
        return DurableFutureImpl(attempt, nid, _decoder(attempt.codec_for(codec), type or object))

    def attach_workflow(
        self, handler: Callable[..., object], key: str
    ) -> DurableFutureImpl[object]:
        target = target_of(handler)
        return self._attach(WorkflowTarget(target.service, key), target)

    def attach_idempotent(
        self, handler: Callable[..., object], idempotency_key: str, *, key: str | None = None
    ) -> DurableFutureImpl[object]:
        if not idempotency_key:
            raise ValueError("idempotency_key must not be empty")
        target = target_of(handler)
        idempotent = IdempotentTarget(target.service, target.handler, idempotency_key, key)
        return self._attach(idempotent, target)

    def _attach(
        self, invocation: WorkflowTarget | IdempotentTarget, target: Target
    ) -> DurableFutureImpl[object]:
        attempt = self._attempt
        nid = attempt.command(attempt.machine.sys_attach_invocation, invocation)
        convert = (
            _void
            if target.output_type is None
            else _decoder(target.output_codec, target.output_type)
        )
        return DurableFutureImpl(attempt, nid, convert)

    def cancel_invocation(self, invocation_id: str) -> None:
        attempt = self._attempt
        attempt.command(attempt.machine.sys_send_signal, invocation_id, index=CANCEL_SIGNAL_ID)

    # ------------------------------------------------------------------ awakeables, signals

    def awakeable(
        self, *, type: object = None, codec: PayloadCodec | None = None
    ) -> tuple[str, DurableFutureImpl[object]]:
        attempt = self._attempt
        awakeable_id, nid = attempt.command(attempt.machine.sys_awakeable)
        return awakeable_id, DurableFutureImpl(
            attempt, nid, _decoder(attempt.codec_for(codec), type or object)
        )

    def resolve_awakeable(
        self, awakeable_id: str, value: object, *, codec: PayloadCodec | None = None
    ) -> None:
        attempt = self._attempt
        attempt.check_owner()
        payload = attempt.codec_for(codec).encode(value, type(value))
        attempt.command(attempt.machine.sys_complete_awakeable, awakeable_id, Success(payload))

    def reject_awakeable(self, awakeable_id: str, message: str, code: int = 500) -> None:
        attempt = self._attempt
        failure = Failure(code, message)
        attempt.command(attempt.machine.sys_complete_awakeable, awakeable_id, failure)

    def signal(
        self, name: str, *, type: object = None, codec: PayloadCodec | None = None
    ) -> DurableFutureImpl[object]:
        attempt = self._attempt
        attempt.command(_no_command)
        convert = _decoder(attempt.codec_for(codec), type or object)
        return DurableFutureImpl(attempt, NotificationId.named(name), convert)

    def resolve_signal(
        self, invocation_id: str, name: str, value: object, *, codec: PayloadCodec | None = None
    ) -> None:
        attempt = self._attempt
        attempt.check_owner()
        result = Success(attempt.codec_for(codec).encode(value, type(value)))
        attempt.command(
            attempt.machine.sys_send_signal, invocation_id, signal_name=name, result=result
        )

    def reject_signal(self, invocation_id: str, name: str, message: str, code: int = 500) -> None:
        attempt = self._attempt
        result = Failure(code, message)
        attempt.command(
            attempt.machine.sys_send_signal, invocation_id, signal_name=name, result=result
        )

    # ------------------------------------------------------------------ workflow promises

    def promise(
        self, name: str, *, type: object = None, codec: PayloadCodec | None = None
    ) -> PromiseImpl:
        self._attempt.check_owner()
        return PromiseImpl(self._attempt, name, type or object, self._attempt.codec_for(codec))


class PromiseImpl:
    """A workflow's durable promise, bound to one attempt."""

    __slots__ = ("_attempt", "_codec", "_name", "_type")

    def __init__(self, attempt: Attempt, name: str, tp: object, codec: PayloadCodec) -> None:
        self._attempt = attempt
        self._name = name
        self._type = tp
        self._codec = codec

    def value(self) -> DurableFutureImpl[object]:
        attempt = self._attempt
        nid = attempt.command(attempt.machine.sys_get_promise, self._name)
        return DurableFutureImpl(attempt, nid, _decoder(self._codec, self._type))

    def peek(self) -> DurableFutureImpl[object]:
        attempt = self._attempt
        nid = attempt.command(attempt.machine.sys_peek_promise, self._name)
        return DurableFutureImpl(attempt, nid, _decoder(self._codec, self._type))

    def resolve(self, value: object) -> DurableFutureImpl[None]:
        attempt = self._attempt
        attempt.check_owner()
        result = Success(self._codec.encode(value, self._type))
        return self._complete(result)

    def reject(self, message: str, code: int = 500) -> DurableFutureImpl[None]:
        return self._complete(Failure(code, message))

    def _complete(self, result: Success | Failure) -> DurableFutureImpl[None]:
        attempt = self._attempt
        nid = attempt.command(attempt.machine.sys_complete_promise, self._name, result)
        return DurableFutureImpl(attempt, nid, _void)


def _no_command() -> None:
    """A signal is not a command: awaiting it only needs a live attempt in the right task."""


def _raw_target(service: str, handler: str) -> Target:
    return Target(service, handler, True, bytes, bytes)


def _raw(result: Result) -> bytes:
    _raise_failure(result)
    return result.value if isinstance(result, Success) else b""


def is_deterministic(codec: PayloadCodec) -> bool:
    """Whether replays may compare this codec's payload bytes (codecs promise it by default)."""
    flag: object = getattr(codec, "deterministic", True)
    return flag if isinstance(flag, bool) else True


def _closure_info(fn: Callable[..., object]) -> tuple[object, bool]:
    """A run closure's declared result type (plain JSON data when unknown), and whether it is
    a coroutine function (it runs on trio; otherwise in a worker thread)."""
    target: object = fn
    while isinstance(target, functools.partial):
        target = cast("functools.partial[object]", target).func
    # Closures are often defined in the handler, so a new function object per call, but their
    # code and annotation are the same each time: both answers are memoised on those
    # (profiled: typing.get_type_hints was 1.6% of the SDK's CPU on ten sequential runs, and
    # inspect.iscoroutinefunction per run closure 0.7% after that).
    code = getattr(target, "__code__", None)
    annotations = getattr(target, "__annotations__", None)
    if code is None or not isinstance(annotations, dict):
        return _resolve_return_type(target), inspect.iscoroutinefunction(fn)
    key = (code, cast("dict[str, object]", annotations).get("return", object))
    try:
        return _CLOSURES[key]
    except KeyError:
        pass
    except TypeError:  # an unhashable annotation
        return _resolve_return_type(target), inspect.iscoroutinefunction(fn)
    # The coroutine flag is the code object's (inspect looks through methods and partials to
    # it), so it is as much a property of the key as the annotation is.
    info = (_resolve_return_type(target), inspect.iscoroutinefunction(fn))
    if len(_CLOSURES) >= _CLOSURES_MAX:
        _CLOSURES.clear()
    _CLOSURES[key] = info
    return info


# (code object, raw return annotation) → (resolved type, is a coroutine function). The raw
# annotation is part of the key because one code object can carry different annotations (a
# string resolved against the function's globals, which are fixed per code object in practice,
# or a value evaluated at definition time). Bounded: code objects come from source, but a
# program may exec new ones.
_CLOSURES: dict[tuple[object, object], tuple[object, bool]] = {}
_CLOSURES_MAX = 4096


def _resolve_return_type(target: object) -> object:
    try:
        hints = typing.get_type_hints(target)
    except Exception:
        return object
    tp: object = hints.get("return", object)
    # ``-> None`` closures journal ``null``; decode it as plain data.
    return object if tp is type(None) else tp


__all__ = ["ContextImpl", "PromiseImpl"]
