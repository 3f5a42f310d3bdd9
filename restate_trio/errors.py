"""Errors that user code raises or sees.

Restate distinguishes two kinds of failure:

* a **terminal** error ends the invocation: it is written to the journal as the handler's
  failed output and the caller sees it (code and message) -- raise :class:`TerminalError`;
* every other exception fails only the current *attempt*: Restate retries the invocation
  (with its retry policy) and the handler runs again from the journal.

Example::

    import restate_trio as restate

    class Payments:
        async def charge(self, ctx: restate.Context, amount: int) -> str:
            if amount <= 0:
                raise restate.TerminalError("amount must be positive", code=400)
            return "ok"
"""

from __future__ import annotations

from collections.abc import Mapping

__all__ = ["Cancelled", "DurableTimeoutError", "ServiceDefinitionError", "TerminalError"]


class TerminalError(Exception):
    """An error that ends the invocation without retries.

    :param message: shown to the caller (the ingress answers ``{"code": …, "message": …}``).
    :param code: an HTTP-like status code; the ingress answers with it. Defaults to 500.
    :param metadata: string pairs carried with the failure (protocol V6 and later).
    """

    def __init__(
        self,
        message: str,
        code: int = 500,
        metadata: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.code = code
        self.metadata: dict[str, str] = dict(metadata or {})

    def __repr__(self) -> str:
        return f"TerminalError({self.message!r}, code={self.code})"


class ServiceDefinitionError(ValueError):
    """A class could not be turned into a service, or a service definition is invalid.

    Raised by :func:`restate_trio.reflect`, :func:`restate_trio.service_name`,
    :meth:`restate_trio.ServiceDefinition.configure_handler` and the option classes such as
    :class:`restate_trio.InvocationRetryPolicy`; messages start with ``Service.handler:`` (or
    ``Service:``) to say where the problem is.
    """


class DurableTimeoutError(TerminalError):
    """A durable deadline passed (code 408): :func:`~restate_trio.with_timeout`, or
    :func:`~restate_trio.fail_after` / :func:`~restate_trio.fail_at`.

    The deadline was a journaled timer, so a replay decides the same way. The operation
    itself is not cancelled on Restate's side (a call goes on) and may still be awaited
    later; a ``ctx.run`` closure still executing stops, and runs again if awaited again.
    """


class Cancelled(TerminalError):
    """The invocation was cancelled (code 409); raised by the durable await that noticed.

    Restate cancels an invocation on request (the UI, the CLI, ``ctx.cancel_invocation``). The
    SDK first propagates the cancellation to the calls this invocation made, then raises this
    from the current (or next) durable await. It is not sticky: catch it to run compensations,
    which journal normally; let it propagate (or raise it again) to end the invocation as
    cancelled. Not to be confused with ``trio.Cancelled``, which only unwinds a cancel scope.
    """

    def __init__(self, message: str = "cancelled", metadata: Mapping[str, str] | None = None):
        super().__init__(message, 409, metadata)

    def __repr__(self) -> str:
        return f"Cancelled({self.message!r})"
