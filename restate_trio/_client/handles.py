"""Handles on invocations started through the ingress: a send's, and a workflow's.

A handle is a name for an invocation plus the decoder of its output; ``attach`` and ``output``
are requests made when called, so a handle may be kept, passed around, or rebuilt later.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Generic, Literal, TypeVar

from .addressing import AttachOrOutput

__all__ = ["InvocationHandle", "SendStatus", "WorkflowHandle"]

O_co = TypeVar("O_co", covariant=True)

SendStatus = Literal["accepted", "previously_accepted"]
"""What Restate did with a send: started a new invocation (``"accepted"``), or found one
already started with the same idempotency key or workflow key (``"previously_accepted"``)."""

# Fetches the attach or output route of one invocation and decodes the answer.
Fetch = Callable[[AttachOrOutput], Awaitable[O_co]]


class InvocationHandle(Generic[O_co]):
    """An invocation started by a send (``Client.service_send`` ...): its id, what Restate
    did, and its result.

    :ivar invocation_id: the invocation's id (``inv_...``).
    :ivar status: ``"accepted"``, or ``"previously_accepted"`` when an invocation with the same
        idempotency key already existed (this handle then names that one).
    """

    __slots__ = ("_fetch", "invocation_id", "status")

    def __init__(self, invocation_id: str, status: SendStatus, fetch: Fetch[O_co]) -> None:
        self.invocation_id: str = invocation_id
        self.status: SendStatus = status
        self._fetch = fetch

    async def attach(self) -> O_co:
        """Wait for the invocation to finish and return its result (decoded as the handler
        declares); a terminal failure raises ``InvocationFailedError``."""
        return await self._fetch("attach")

    async def output(self) -> O_co:
        """The result if the invocation has finished; ``InvocationNotReadyError`` if not."""
        return await self._fetch("output")

    def __repr__(self) -> str:
        return f"InvocationHandle({self.invocation_id!r}, status={self.status!r})"


class WorkflowHandle(Generic[O_co]):
    """A workflow run, named by its workflow and key: attach to it or read its output.

    Returned by ``Client.workflow_submit`` (with the submission's ``invocation_id`` and
    ``status``) and by ``Client.workflow_handle`` (for a run submitted elsewhere; both are
    then ``None``).

    :ivar service: the workflow's name.
    :ivar key: the workflow key.
    :ivar invocation_id: the run's invocation id, when this handle submitted it.
    :ivar status: what the submission did, when this handle submitted it.
    """

    __slots__ = ("_fetch", "invocation_id", "key", "service", "status")

    def __init__(
        self,
        service: str,
        key: str,
        fetch: Fetch[O_co],
        *,
        invocation_id: str | None = None,
        status: SendStatus | None = None,
    ) -> None:
        self.service: str = service
        self.key: str = key
        self.invocation_id: str | None = invocation_id
        self.status: SendStatus | None = status
        self._fetch = fetch

    async def attach(self) -> O_co:
        """Wait for the run to finish and return its result (``InvocationNotFoundError`` if
        no run of this key was ever submitted)."""
        return await self._fetch("attach")

    async def output(self) -> O_co:
        """The run's result if it has finished; ``InvocationNotReadyError`` if not."""
        return await self._fetch("output")

    def __repr__(self) -> str:
        return f"WorkflowHandle({self.service!r}, {self.key!r}, status={self.status!r})"
