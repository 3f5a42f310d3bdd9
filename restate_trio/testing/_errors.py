"""The harness's exceptions (re-exported by :mod:`restate_trio.testing`)."""

from __future__ import annotations

from collections.abc import Mapping


class HarnessError(Exception):
    """Base class of every error raised by :mod:`restate_trio.testing`."""


class HarnessTimeoutError(HarnessError, TimeoutError):
    """A call to the server did not complete within its deadline."""


class InvocationTimeoutError(HarnessTimeoutError):
    """An invocation did not get where a test waited for it to get in time.

    The message says what the server knows about the invocation, from its
    ``sys_invocation`` row: its status, how often it was retried, and the error
    of its last attempt (``last_failure``), which usually says why it is stuck.
    """

    def __init__(self, message: str, row: Mapping[str, object] | None) -> None:
        self.row: Mapping[str, object] | None = row
        """The invocation's ``sys_invocation`` row, or ``None`` if none was found."""
        self.invocation_id: str | None = _text(row, "id")
        """The invocation's id, if the invocation was found."""
        self.status: str | None = _text(row, "status")
        """Its status when the wait gave up (``running``, ``backing-off``, ...)."""
        self.last_failure: str | None = _text(row, "last_failure")
        """The error of its last failed attempt, if any attempt failed."""
        self._message = message
        super().__init__(message + describe_invocation(row))

    def __reduce__(
        self,
    ) -> tuple[type[InvocationTimeoutError], tuple[str, Mapping[str, object] | None]]:
        # Pickled (e.g. across processes) with the arguments it was made from.
        return (type(self), (self._message, self.row))


def _text(row: Mapping[str, object] | None, column: str) -> str | None:
    value = None if row is None else row.get(column)
    return None if value is None else str(value)


def describe_invocation(row: Mapping[str, object] | None) -> str:
    """The parts of a ``sys_invocation`` row that say why an invocation is stuck."""
    if row is None:
        return "; the server has no such invocation"
    parts = [f"; invocation {row.get('id')} ({row.get('target')}) is {row.get('status')!r}"]
    retries = row.get("retry_count")
    if retries:
        parts.append(f", retried {retries} times")
    failure = row.get("last_failure")
    if failure:
        code = row.get("last_failure_error_code")
        parts.append(f", last_failure: {failure}" + (f" (code {code})" if code else ""))
    return "".join(parts)


class RestateServerNotFoundError(HarnessError, FileNotFoundError):
    """No ``restate-server`` binary could be found (or installed)."""


class ServerStartError(HarnessError):
    """The server process exited or did not become healthy in time.

    The message includes the tail of the server log.
    """


class RegistrationError(HarnessError):
    """The admin API refused to register a deployment.

    Discovery problems (endpoint unreachable, bad manifest, ...) are reported
    by the server in the response body, which is part of the message.
    """

    def __init__(self, uri: str, status: int, body: str) -> None:
        super().__init__(f"registering deployment {uri!r} failed with HTTP {status}: {body}")
        self.uri = uri
        self.status = status
        self.body = body
