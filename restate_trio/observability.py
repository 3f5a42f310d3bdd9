"""Observability: the replay-aware handler logger and hooks around attempts and runs.

**Logging.** ``ctx.logger`` is a standard :class:`logging.LoggerAdapter` (an
:class:`InvocationLogger`) over the ``restate_trio.handler`` logger. Its records carry the
invocation's identity as record attributes (:data:`RECORD_ATTRIBUTES`) and it drops records
while the invocation is replaying, so a retried or resumed invocation does not log again what
it logged before::

    import restate_trio as restate

    class Payments:
        async def charge(self, ctx: restate.Context, amount: int) -> None:
            ctx.logger.info("charging %s", amount)  # once, not once per attempt
            ...

The SDK's own records go to children of the ``restate_trio`` logger: ``restate_trio.invocation``
(attempt failed, journal mismatch, suspended; with the same record attributes) and
``restate_trio.transport`` (connections, refused or rejected requests).

**Hooks.** A :class:`Hook`, given to :class:`~restate_trio.Endpoint` (``hooks=[...]``), wraps
every invocation attempt in an async context manager, made by ``hook.attempt(info)`` from an
:class:`AttemptInfo`, and every *executed* ``ctx.run`` closure (not the replayed ones) in one
made by ``hook.run(info)`` from a :class:`RunInfo`. They observe: what they return or raise
changes nothing about the attempt (an exception of a hook is logged and ignored). The
OpenTelemetry integration (:func:`restate_trio.otel.tracing_hook`) is one such hook.
"""

from __future__ import annotations

import enum
import logging
from collections.abc import Callable, Mapping, MutableMapping
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from typing import cast

__all__ = [
    "HANDLER_LOGGER",
    "RECORD_ATTRIBUTES",
    "AttemptHook",
    "AttemptInfo",
    "AttemptOutcome",
    "Hook",
    "InvocationLogger",
    "RunHook",
    "RunInfo",
]

#: The name of the logger under ``ctx.logger``.
HANDLER_LOGGER = "restate_trio.handler"

#: The attributes that ``ctx.logger`` (and the SDK's ``restate_trio.invocation`` logger) set on
#: each record: ``record.restate_invocation_id`` (``inv_…``), ``record.restate_service``,
#: ``record.restate_handler``, ``record.restate_key`` (the object or workflow key, ``""`` for
#: a plain service) and ``record.restate_attempt`` (see :attr:`AttemptInfo.attempt`). Use them
#: in a format string (``%(restate_invocation_id)s``) or a structured formatter.
RECORD_ATTRIBUTES = (
    "restate_invocation_id",
    "restate_service",
    "restate_handler",
    "restate_key",
    "restate_attempt",
)


class AttemptOutcome(enum.Enum):
    """How an attempt ended."""

    #: The invocation completed: the handler returned, or raised a terminal error.
    COMPLETED = "completed"
    #: The attempt failed and Restate retries the invocation: the handler raised a retryable
    #: exception, a ``ctx.run`` closure failed, the journal did not match, or the connection
    #: was lost.
    FAILED = "failed"
    #: The attempt suspended: it waits for something that completes later (a timer, a call,
    #: an awakeable), and Restate resumes the invocation in a new attempt.
    SUSPENDED = "suspended"


@dataclass(slots=True, eq=False)
class AttemptInfo:
    """One invocation attempt, as a :class:`Hook` sees it.

    :ivar invocation_id: the invocation id (``inv_…``), the same in every attempt.
    :ivar service: the service's name.
    :ivar handler: the handler's name.
    :ivar key: the Virtual Object or Workflow key; ``""`` for a plain service.
    :ivar attempt: the attempt's number since the invocation last made durable progress: 1,
        plus the retries Restate counted since the journal last grew (its StartMessage's
        ``retry_count_since_last_stored_entry``, best effort). Restate sends no absolute
        attempt number; an attempt resumed after a suspension is 1 again.
    :ivar headers: this attempt's HTTP request headers (lowercase names), e.g. the W3C
        ``traceparent`` of the span Restate opened for the attempt.
    :ivar replaying: whether the attempt begins by replaying a journal (a retry or a
        resumption) rather than starting afresh.
    :ivar outcome: how the attempt ended; ``None`` until then (it is set before the hook's
        context manager exits).
    :ivar failure: for a ``FAILED`` attempt, the message of the error Restate records.
    """

    invocation_id: str
    service: str
    handler: str
    key: str
    attempt: int
    headers: Mapping[str, str]
    replaying: bool
    outcome: AttemptOutcome | None = None
    failure: str | None = None


@dataclass(frozen=True, slots=True, eq=False)
class RunInfo:
    """A ``ctx.run`` closure about to execute (replayed runs, which do not, have none).

    :ivar name: the run's name (``ctx.run(name, ...)``).
    :ivar attempt: the attempt it executes in.
    """

    name: str
    attempt: AttemptInfo


#: Makes the async context manager that wraps one attempt. It is entered in the handler's task
#: once the attempt's journal has arrived, before the handler starts, and exited once the
#: attempt is over (``info.outcome`` set), with the handler's exception, if it raised one,
#: passed to its ``__aexit__`` (``None`` when the attempt suspended or was failed by a run).
AttemptHook = Callable[[AttemptInfo], AbstractAsyncContextManager[object]]

#: Makes the async context manager that wraps one executed ``ctx.run`` closure. It is entered
#: in the task that runs the closure (the handler's, or the closure's own), so context
#: variables it sets are seen by the closure; the closure's exception, if it raised one, is
#: passed to its ``__aexit__`` (``trio.Cancelled`` when the attempt ended or the run lost a
#: race meanwhile).
RunHook = Callable[[RunInfo], AbstractAsyncContextManager[object]]


@dataclass(frozen=True, slots=True)
class Hook:
    """Instrumentation around attempts and executed runs (either part may be left out), for
    :class:`~restate_trio.Endpoint`'s ``hooks``. With several hooks, the first given is the
    outermost.
    """

    attempt: AttemptHook | None = field(default=None)
    run: RunHook | None = field(default=None)


class InvocationLogger(logging.LoggerAdapter[logging.Logger]):
    """The type of ``ctx.logger``: a standard logger adapter for one invocation attempt.

    It logs through the ``restate_trio.handler`` logger (:data:`HANDLER_LOGGER`), adds the
    :data:`RECORD_ATTRIBUTES` to every record (an ``extra=`` given to a call is merged in,
    and wins), and drops every record while the invocation replays: code that runs again on a
    retry or after a suspension, up to where the previous attempt stopped, does not log twice;
    code that runs for the first time logs normally (a ``ctx.run`` closure only executes
    then). You do not construct it: the SDK does.
    """

    def __init__(
        self,
        logger: logging.Logger,
        attributes: Mapping[str, object],
        replaying: Callable[[], bool],
    ) -> None:
        super().__init__(logger, attributes)
        self._replaying = replaying

    def isEnabledFor(self, level: int) -> bool:
        """False while the invocation replays; else as the underlying logger says."""
        return not self._replaying() and self.logger.isEnabledFor(level)

    def process(
        self, msg: object, kwargs: MutableMapping[str, object]
    ) -> tuple[object, MutableMapping[str, object]]:
        """Add the invocation's attributes to the record (merged with the call's ``extra``)."""
        extra = kwargs.get("extra")
        attributes: Mapping[str, object] = self.extra if self.extra is not None else {}
        if isinstance(extra, Mapping):
            kwargs["extra"] = {**attributes, **cast("Mapping[str, object]", extra)}
        else:
            kwargs["extra"] = attributes
        return msg, kwargs
