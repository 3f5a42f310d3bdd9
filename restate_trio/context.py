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

These are typing protocols: the SDK passes one implementation object that provides them; the
annotation only tells the type checker, and :func:`~restate_trio.reflect`, what is allowed.
"""

from __future__ import annotations

from collections.abc import Awaitable, Mapping
from dataclasses import dataclass, field
from typing import Protocol, TypeVar, overload

__all__ = [
    "Context",
    "DurableFuture",
    "ObjectContext",
    "ObjectSharedContext",
    "Request",
    "WorkflowContext",
    "WorkflowSharedContext",
]

T = TypeVar("T")
T_co = TypeVar("T_co", covariant=True)


class DurableFuture(Awaitable[T_co], Protocol[T_co]):
    """The result of a journaled operation, available now or later.

    Awaiting it never changes the journal: the operation was recorded when it was started.
    Awaiting an already completed future still checkpoints (so loops over cached state can be
    cancelled), and a future may be awaited more than once.
    """


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
    """The context of a stateless Service handler."""

    def request(self) -> Request:
        """The invocation id, headers and raw body of this invocation."""
        ...


class ObjectSharedContext(Context, Protocol):
    """The context of a shared Virtual Object handler: it reads the object's state."""

    def key(self) -> str:
        """The key of this object (or workflow) instance, as the caller gave it."""
        ...

    @overload
    def get(self, name: str) -> DurableFuture[object]: ...
    @overload
    def get(self, name: str, *, type: type[T]) -> DurableFuture[T | None]: ...
    def get(
        self, name: str, *, type: type[T] | None = None
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

    def set(self, name: str, value: object) -> None:
        """Store ``value`` under ``name``."""
        ...

    def clear(self, name: str) -> None:
        """Remove the state entry ``name``."""
        ...

    def clear_all(self) -> None:
        """Remove every state entry of this object."""
        ...


class WorkflowSharedContext(ObjectSharedContext, Protocol):
    """The context of a shared Workflow handler: it reads the workflow's state."""


class WorkflowContext(WorkflowSharedContext, ObjectContext, Protocol):
    """The context of a Workflow's ``run`` handler, which runs once per workflow key."""
