"""The harness's exceptions (re-exported by :mod:`restate_trio.testing`)."""

from __future__ import annotations


class HarnessError(Exception):
    """Base class of every error raised by :mod:`restate_trio.testing`."""


class HarnessTimeoutError(HarnessError, TimeoutError):
    """A call to the server did not complete within its deadline."""


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
