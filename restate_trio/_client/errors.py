"""The client's exceptions: what went wrong, with Restate's own code and message.

An answer from Restate that is not a success becomes one of these, chosen by where the request
went and what the server said; a request that got no answer becomes :class:`TransportError`.
"""

from __future__ import annotations

from collections.abc import Mapping

__all__ = [
    "AdminError",
    "ClientError",
    "IngressError",
    "InvocationFailedError",
    "InvocationNotFoundError",
    "InvocationNotReadyError",
    "NotFoundError",
    "TransportError",
]


class ClientError(Exception):
    """Base class of every error the Restate clients raise.

    :ivar message: what went wrong, in Restate's words when the server answered.
    :ivar code: Restate's code (an HTTP-like status) when the server answered, else ``None``.
    """

    def __init__(self, message: str, code: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.code = code

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.message!r}, code={self.code})"


class TransportError(ClientError):
    """No answer from Restate: the connection failed, broke, or the server is unreachable.

    The underlying exception is the ``__cause__``. Whether the request reached the server is
    unknown: a call without an idempotency key may or may not have started an invocation.
    """


class IngressError(ClientError):
    """The server answered a request with an error status that has no more specific class.

    :ivar status: the HTTP status of the answer (``code`` is Restate's code in the body, or
        the status when the body has none).
    :ivar body: the raw body of the answer.
    """

    def __init__(self, message: str, code: int | None, *, status: int, body: bytes) -> None:
        super().__init__(message, code)
        self.status = status
        self.body = body


class NotFoundError(IngressError):
    """Restate does not know what the request named (status 404): a service or handler that is
    not registered, an unknown awakeable, ..."""


class InvocationNotFoundError(NotFoundError):
    """No invocation matches the id, idempotency key or workflow key attached to (404)."""


class InvocationNotReadyError(IngressError):
    """The invocation has not finished, so it has no output yet (Restate's code 470).

    Raised by the ``output`` methods, which do not wait; ``attach`` waits instead.
    """


class InvocationFailedError(IngressError):
    """The invocation ended with a terminal failure: ``code`` and ``message`` are those the
    handler raised (``TerminalError(message, code)``), or Restate's when it ended the
    invocation (409 when cancelled or killed).

    :ivar invocation_id: the failed invocation's id, when the server said it.
    :ivar metadata: the failure's metadata pairs, when the server sent them.
    """

    def __init__(
        self,
        message: str,
        code: int | None,
        *,
        status: int,
        body: bytes,
        invocation_id: str | None = None,
        metadata: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(message, code, status=status, body=body)
        self.invocation_id = invocation_id
        self.metadata: dict[str, str] = dict(metadata or {})


class AdminError(ClientError):
    """The admin API refused a request (``code`` is its HTTP status, ``message`` its words).

    :ivar status: the HTTP status of the answer.
    """

    def __init__(self, message: str, code: int, *, status: int) -> None:
        super().__init__(message, code)
        self.status = status
