"""The context types a handler receives as its first parameter.

The annotation on a handler's first parameter after ``self`` decides what the handler is (see
:func:`restate_trio.reflect`):

=========================  ===================  ==============================================
annotation                 service kind         handler kind
=========================  ===================  ==============================================
``Context``                Service              stateless handler
``ObjectContext``          Virtual Object       exclusive: one at a time per key, reads/writes
``ObjectSharedContext``    Virtual Object       shared: concurrent, reads state
``WorkflowContext``        Workflow             the ``run`` handler: once per workflow key
``WorkflowSharedContext``  Workflow             shared: queries and signals while ``run`` runs
=========================  ===================  ==============================================

Every context operation is journaled by Restate *when it is called*, from the handler's own task,
and returns a :class:`DurableFuture` that may be awaited at once or later::

    import restate_trio as restate

    class Counter:
        async def add(self, ctx: restate.ObjectContext, delta: int) -> int:
            value = (await ctx.get("count", type=int) or 0) + delta
            ctx.set("count", value)
            return value

Every operation that carries a payload takes ``codec=`` to override the handler's codec for that
one value (nearest wins: operation → handler → service → endpoint → JSON); calls by method
reference use the callee's declared codecs by default.

These are typing protocols: the SDK passes one implementation object that provides them; the
annotation only tells the type checker, and :func:`~restate_trio.reflect`, what is allowed.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Protocol, TypedDict, TypeVar, TypeVarTuple, Unpack, overload

from ._context.random import DurableRandom
from .codecs import PayloadCodec
from .observability import InvocationLogger
from .retry import RetryPolicy

__all__ = [
    "CallFuture",
    "CallOptions",
    "Context",
    "DurableFuture",
    "DurablePromise",
    "DurableRandom",
    "ObjectContext",
    "ObjectSharedContext",
    "Request",
    "RetryPolicy",
    "SendHandle",
    "SendOptions",
    "WorkflowContext",
    "WorkflowSharedContext",
]

T = TypeVar("T")
T_co = TypeVar("T_co", covariant=True)
I = TypeVar("I")  # noqa: E741 - a handler's input type
O = TypeVar("O")  # noqa: E741 - a handler's output type
S = TypeVar("S")  # the service class of a handler reference
Ts = TypeVarTuple("Ts")  # the arguments of a ctx.run closure


class CallOptions(TypedDict, total=False):
    """The options every call takes as keywords (``ctx.service_call(..., headers=…)``).

    :ivar headers: headers for the callee (it reads them in ``ctx.request().headers``).
    :ivar idempotency_key: calls with the same key to the same handler (and object key) run
        once; later ones get the first one's result.
    :ivar scope: the invocation's scope (protocol V7, and the server's experimental vqueues
        feature ``RESTATE_EXPERIMENTAL_ENABLE_VQUEUES``; elsewhere the attempt fails).
    :ivar limit_key: the concurrency-limit key within ``scope`` (same requirements).
    """

    headers: Mapping[str, str] | None
    idempotency_key: str | None
    scope: str | None
    limit_key: str | None


class SendOptions(CallOptions, total=False):
    """The options of a one-way send: those of a call, and a delay.

    :ivar delay: when to deliver the message (a durable timer on the runtime's side).
    """

    delay: timedelta | None


class DurableFuture(Awaitable[T_co], Protocol[T_co]):
    """The result of a journaled operation, available now or later.

    Awaiting it never changes the journal: the operation was recorded when it was started.
    Awaiting an already completed future (eager state, a replayed result) is still a
    cancellation point, so loops over cached state can be cancelled; like awaiting a done
    asyncio future, it does not yield to other tasks each time, only every 16th time in a
    row. A future may be awaited more than once.

    Several futures are awaited together with the combinators :func:`~restate_trio.all_succeeded`,
    :func:`~restate_trio.first_completed` and friends.
    """


class CallFuture(DurableFuture[T_co], Protocol[T_co]):
    """The result of a call; the callee's invocation id is known earlier, on its own."""

    def invocation_id(self) -> DurableFuture[str]:
        """The callee's invocation id (``inv_…``)."""
        ...


class SendHandle(Protocol):
    """A one-way message that was sent (possibly delayed)."""

    def invocation_id(self) -> DurableFuture[str]:
        """The invocation id of the message's invocation (``inv_…``)."""
        ...


class DurablePromise(Protocol[T]):
    """A workflow's named durable promise: resolved once, read by any handler of the workflow."""

    def value(self) -> DurableFuture[T]:
        """Wait until the promise is resolved and return its value (or raise its rejection)."""
        ...

    def peek(self) -> DurableFuture[T | None]:
        """The value if the promise is resolved already, ``None`` otherwise."""
        ...

    def resolve(self, value: T) -> DurableFuture[None]:
        """Resolve the promise; the future fails with a TerminalError if it was already done."""
        ...

    def reject(self, message: str, code: int = 500) -> DurableFuture[None]:
        """Reject the promise with a terminal failure."""
        ...


@dataclass(frozen=True)
class Request:
    """What Restate tells the handler about the invocation.

    :ivar id: the invocation id (``inv_…``), stable across retries and suspensions.
    :ivar headers: the headers given by the caller (journaled, identical in every attempt).
    :ivar attempt_headers: the raw HTTP headers of this attempt (not journaled).
    :ivar body: the raw input payload, before decoding.
    :ivar idempotency_key: the caller's idempotency key, when the server sends it (protocol V7).
    """

    id: str
    headers: Mapping[str, str]
    attempt_headers: Mapping[str, str]
    body: bytes
    idempotency_key: str | None = None
    scope: str | None = field(default=None)
    limit_key: str | None = field(default=None)


class Context(Protocol):
    """The context of a stateless Service handler (every other context includes it)."""

    def request(self) -> Request:
        """The invocation id, headers and raw body of this invocation."""
        ...

    @property
    def logger(self) -> InvocationLogger:
        """A standard :mod:`logging` logger for this invocation that is silent while it
        replays: ``ctx.logger.info("charged %s", amount)`` logs once, not again on every retry
        or resumption. Its records (logger ``restate_trio.handler``) carry
        ``restate_invocation_id``, ``restate_service``, ``restate_handler``, ``restate_key``
        and ``restate_attempt`` as attributes (see :mod:`restate_trio.observability`)."""
        ...

    # -- durable steps and timers ----------------------------------------------------------

    @overload
    def run(
        self,
        name: str,
        fn: Callable[[*Ts], Awaitable[T]],
        *args: *Ts,
        type: type[T] | None = None,
        retry: RetryPolicy | None = None,
        codec: PayloadCodec | None = None,
    ) -> DurableFuture[T]: ...
    @overload
    def run(
        self,
        name: str,
        fn: Callable[[*Ts], T],
        *args: *Ts,
        type: type[T] | None = None,
        retry: RetryPolicy | None = None,
        codec: PayloadCodec | None = None,
    ) -> DurableFuture[T]: ...
    def run(
        self,
        name: str,
        fn: Callable[[*Ts], Awaitable[T]] | Callable[[*Ts], T],
        *args: *Ts,
        type: type[T] | None = None,
        retry: RetryPolicy | None = None,
        codec: PayloadCodec | None = None,
    ) -> DurableFuture[T]:
        """Run a side effect once and journal its result; replays return the journaled result.

        ``fn(*args)`` may be sync (it runs in a worker thread) or async (it runs in a task of
        this invocation); it starts when the future is first awaited and is cancelled if the
        attempt ends first. Raising :class:`~restate_trio.TerminalError` journals a failure;
        other exceptions are retried following ``retry`` (by default, forever) and become a
        terminal failure when it gives up. ``type`` is the result type to decode replayed
        results into (default: ``fn``'s return annotation).

        Example::

            receipt = await ctx.run("charge", payments.charge, card, amount)
        """
        ...

    def sleep(self, duration: timedelta, *, name: str = "") -> DurableFuture[None]:
        """A durable timer: survives restarts; the invocation may suspend meanwhile."""
        ...

    def time(self) -> DurableFuture[float]:
        """The current time (seconds since the epoch), journaled so replays see the same."""
        ...

    def random(self) -> DurableRandom:
        """A random generator seeded by the invocation: the same sequence in every attempt."""
        ...

    def uuid(self) -> str:
        """A random UUID (version 4) from :meth:`random`: the same in every attempt."""
        ...

    # -- calling other handlers --------------------------------------------------------------

    @overload
    def service_call(
        self,
        handler: Callable[[S, Context], Awaitable[O]],
        *,
        codec: PayloadCodec | None = None,
        **options: Unpack[CallOptions],
    ) -> CallFuture[O]: ...
    @overload
    def service_call(
        self,
        handler: Callable[[S, Context, I], Awaitable[O]],
        arg: I,
        *,
        codec: PayloadCodec | None = None,
        **options: Unpack[CallOptions],
    ) -> CallFuture[O]: ...
    def service_call(
        self,
        handler: Callable[..., Awaitable[O]],
        arg: object = None,
        *,
        codec: PayloadCodec | None = None,
        **options: Unpack[CallOptions],
    ) -> CallFuture[O]:
        """Call a Service handler by reference and get a future of its result.

        Example: ``greeting = await ctx.service_call(Greeter.greet, "Ada")``.
        """
        ...

    @overload
    def object_call(
        self,
        handler: Callable[[S, ObjectContext], Awaitable[O]],
        key: str,
        *,
        codec: PayloadCodec | None = None,
        **options: Unpack[CallOptions],
    ) -> CallFuture[O]: ...
    @overload
    def object_call(
        self,
        handler: Callable[[S, ObjectContext, I], Awaitable[O]],
        key: str,
        arg: I,
        *,
        codec: PayloadCodec | None = None,
        **options: Unpack[CallOptions],
    ) -> CallFuture[O]: ...
    def object_call(
        self,
        handler: Callable[..., Awaitable[O]],
        key: str,
        arg: object = None,
        *,
        codec: PayloadCodec | None = None,
        **options: Unpack[CallOptions],
    ) -> CallFuture[O]:
        """Call a Virtual Object handler of object ``key``.

        Example: ``total = await ctx.object_call(Counter.add, "alice", 5)``.
        """
        ...

    @overload
    def workflow_call(
        self,
        handler: Callable[[S, WorkflowContext], Awaitable[O]],
        key: str,
        *,
        codec: PayloadCodec | None = None,
        **options: Unpack[CallOptions],
    ) -> CallFuture[O]: ...
    @overload
    def workflow_call(
        self,
        handler: Callable[[S, WorkflowContext, I], Awaitable[O]],
        key: str,
        arg: I,
        *,
        codec: PayloadCodec | None = None,
        **options: Unpack[CallOptions],
    ) -> CallFuture[O]: ...
    def workflow_call(
        self,
        handler: Callable[..., Awaitable[O]],
        key: str,
        arg: object = None,
        *,
        codec: PayloadCodec | None = None,
        **options: Unpack[CallOptions],
    ) -> CallFuture[O]:
        """Call a Workflow handler of workflow ``key`` (its run handler, or a shared one)."""
        ...

    @overload
    def service_send(
        self,
        handler: Callable[[S, Context], Awaitable[object]],
        *,
        codec: PayloadCodec | None = None,
        **options: Unpack[SendOptions],
    ) -> SendHandle: ...
    @overload
    def service_send(
        self,
        handler: Callable[[S, Context, I], Awaitable[object]],
        arg: I,
        *,
        codec: PayloadCodec | None = None,
        **options: Unpack[SendOptions],
    ) -> SendHandle: ...
    def service_send(
        self,
        handler: Callable[..., Awaitable[object]],
        arg: object = None,
        *,
        codec: PayloadCodec | None = None,
        **options: Unpack[SendOptions],
    ) -> SendHandle:
        """Send a one-way message to a Service handler (optionally after ``delay``)."""
        ...

    @overload
    def object_send(
        self,
        handler: Callable[[S, ObjectContext], Awaitable[object]],
        key: str,
        *,
        codec: PayloadCodec | None = None,
        **options: Unpack[SendOptions],
    ) -> SendHandle: ...
    @overload
    def object_send(
        self,
        handler: Callable[[S, ObjectContext, I], Awaitable[object]],
        key: str,
        arg: I,
        *,
        codec: PayloadCodec | None = None,
        **options: Unpack[SendOptions],
    ) -> SendHandle: ...
    def object_send(
        self,
        handler: Callable[..., Awaitable[object]],
        key: str,
        arg: object = None,
        *,
        codec: PayloadCodec | None = None,
        **options: Unpack[SendOptions],
    ) -> SendHandle:
        """Send a one-way message to a Virtual Object handler of object ``key``."""
        ...

    @overload
    def workflow_send(
        self,
        handler: Callable[[S, WorkflowContext], Awaitable[object]],
        key: str,
        *,
        codec: PayloadCodec | None = None,
        **options: Unpack[SendOptions],
    ) -> SendHandle: ...
    @overload
    def workflow_send(
        self,
        handler: Callable[[S, WorkflowContext, I], Awaitable[object]],
        key: str,
        arg: I,
        *,
        codec: PayloadCodec | None = None,
        **options: Unpack[SendOptions],
    ) -> SendHandle: ...
    def workflow_send(
        self,
        handler: Callable[..., Awaitable[object]],
        key: str,
        arg: object = None,
        *,
        codec: PayloadCodec | None = None,
        **options: Unpack[SendOptions],
    ) -> SendHandle:
        """Start a workflow (or message a shared workflow handler) without waiting."""
        ...

    def generic_call(
        self,
        service: str,
        handler: str,
        payload: bytes,
        *,
        key: str | None = None,
        **options: Unpack[CallOptions],
    ) -> CallFuture[bytes]:
        """Call any handler by name with a raw payload; the result is the raw output.

        ``scope`` and ``limit_key`` need protocol V7 and the server's experimental vqueues
        feature (``RESTATE_EXPERIMENTAL_ENABLE_VQUEUES``): without it the server refuses the
        call and retries the attempt. On V5/V6 they fail the attempt (unsupported feature).
        """
        ...

    def generic_send(
        self,
        service: str,
        handler: str,
        payload: bytes,
        *,
        key: str | None = None,
        **options: Unpack[SendOptions],
    ) -> SendHandle:
        """Send a one-way message to any handler by name with a raw payload."""
        ...

    # -- other invocations -------------------------------------------------------------------

    def attach_invocation(
        self,
        invocation_id: str,
        *,
        type: type[T] | None = None,
        codec: PayloadCodec | None = None,
    ) -> DurableFuture[T]:
        """Wait for another invocation to finish and return its result."""
        ...

    def get_invocation_output(
        self,
        invocation_id: str,
        *,
        type: type[T] | None = None,
        codec: PayloadCodec | None = None,
    ) -> DurableFuture[T | None]:
        """Another invocation's result if it has finished, ``None`` if not (no waiting)."""
        ...

    def attach_workflow(self, handler: Callable[..., Awaitable[O]], key: str) -> DurableFuture[O]:
        """Wait for the workflow run of ``key`` (its run handler given by reference).

        Example: ``welcome = await ctx.attach_workflow(Signup.run, "ada@example.com")``.
        """
        ...

    def attach_idempotent(
        self,
        handler: Callable[..., Awaitable[O]],
        idempotency_key: str,
        *,
        key: str | None = None,
    ) -> DurableFuture[O]:
        """Wait for the invocation of ``handler`` made with ``idempotency_key`` (and, for
        objects, object ``key``), typed by the handler's output."""
        ...

    def cancel_invocation(self, invocation_id: str) -> None:
        """Ask Restate to cancel another invocation."""
        ...

    # -- awakeables and signals --------------------------------------------------------------

    def awakeable(
        self, *, type: type[T] | None = None, codec: PayloadCodec | None = None
    ) -> tuple[str, DurableFuture[T]]:
        """An id to hand to an external system, and a future it completes.

        Complete it from outside with ``POST /restate/awakeables/{id}/resolve`` (or
        ``/reject``), or from a handler with :meth:`resolve_awakeable`.
        """
        ...

    def resolve_awakeable(
        self, awakeable_id: str, value: object, *, codec: PayloadCodec | None = None
    ) -> None:
        """Complete an awakeable with a value."""
        ...

    def reject_awakeable(self, awakeable_id: str, message: str, code: int = 500) -> None:
        """Complete an awakeable with a terminal failure."""
        ...

    def signal(
        self, name: str, *, type: type[T] | None = None, codec: PayloadCodec | None = None
    ) -> DurableFuture[T]:
        """A future completed when another handler signals this invocation by ``name``."""
        ...

    def resolve_signal(
        self, invocation_id: str, name: str, value: object, *, codec: PayloadCodec | None = None
    ) -> None:
        """Send the signal ``name`` with ``value`` to invocation ``invocation_id``."""
        ...

    def reject_signal(self, invocation_id: str, name: str, message: str, code: int = 500) -> None:
        """Send the signal ``name`` as a terminal failure to invocation ``invocation_id``."""
        ...


class ObjectSharedContext(Context, Protocol):
    """The context of a shared Virtual Object handler: it reads the object's state."""

    def key(self) -> str:
        """The key of this object (or workflow) instance, as the caller gave it."""
        ...

    @overload
    def get(self, name: str, *, codec: PayloadCodec | None = None) -> DurableFuture[object]: ...
    @overload
    def get(
        self, name: str, *, type: type[T], codec: PayloadCodec | None = None
    ) -> DurableFuture[T | None]: ...
    def get(
        self, name: str, *, type: type[T] | None = None, codec: PayloadCodec | None = None
    ) -> DurableFuture[T | None] | DurableFuture[object]:
        """Read state entry ``name`` decoded as ``type``; ``None`` when it is not set.

        Without ``type`` the value is decoded as plain JSON data (dicts, lists, numbers…).
        """
        ...

    def state_keys(self) -> DurableFuture[list[str]]:
        """The names of all state entries, sorted."""
        ...


class ObjectContext(ObjectSharedContext, Protocol):
    """The context of an exclusive Virtual Object handler: it reads and writes state."""

    def set(self, name: str, value: object, *, codec: PayloadCodec | None = None) -> None:
        """Store ``value`` under ``name``."""
        ...

    def clear(self, name: str) -> None:
        """Remove the state entry ``name``."""
        ...

    def clear_all(self) -> None:
        """Remove every state entry of this object."""
        ...


class WorkflowSharedContext(ObjectSharedContext, Protocol):
    """The context of a shared Workflow handler: it reads state and uses promises."""

    def promise(
        self, name: str, *, type: type[T] | None = None, codec: PayloadCodec | None = None
    ) -> DurablePromise[T]:
        """The workflow's durable promise ``name`` (shared by all its handlers)."""
        ...


class WorkflowContext(WorkflowSharedContext, ObjectContext, Protocol):
    """The context of a Workflow's ``run`` handler, which runs once per workflow key."""


# DurableRandom is implemented next to the context (it needs the invocation's seed); its public
# home is this module.
DurableRandom.__module__ = __name__
