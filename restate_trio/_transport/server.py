"""The builtin server: restate-trio's own HTTP server on trio, the default of
``Endpoint.serve()``.

One port, two protocols, told apart by the first bytes of each connection (:func:`sniff`):

* HTTP/2 prior knowledge (h2c), how Restate connects to ``http://`` deployments: served by
  ``h2connection.py`` (many concurrent bidirectional streams per connection);
* HTTP/1.x, for deployments registered with ``--use-http1.1`` (request/response mode), and
  for curl and health checks: served by ``h11connection.py`` (sequential keep-alive requests).

Both route through the endpoint's one :class:`Router`. This module listens, and shuts down the
way the hypercorn path does:

1. the shutdown trigger returns (the endpoint has already called ``Router.drain()``, so
   invocations waiting for the runtime suspend);
2. stop accepting; connections that have not sent a byte yet close; every HTTP/2 connection
   refuses new streams (REFUSED_STREAM, which Restate retries elsewhere) and closes with a
   GOAWAY once its streams are done; every HTTP/1.1 connection closes at once if idle, else
   after the response in flight (which says ``Connection: close`` if it has not started yet);
3. after ``graceful_timeout`` whatever still runs is cancelled.
"""

from __future__ import annotations

import logging
import socket as stdlib_socket
from collections.abc import Awaitable, Callable
from functools import partial
from typing import Literal

import trio

from .h2connection import H2ServerConnection
from .h11connection import H11Connection
from .logs import RateLimitedWarning
from .router import Router

__all__ = ["PREFACE", "serve_builtin", "sniff"]

logger = logging.getLogger("restate_trio.transport")

# As the hypercorn path (serve.py restate_config): time the in-flight invocations get to
# finish or suspend after the shutdown trigger.
GRACEFUL_TIMEOUT = 5.0

PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
# An HTTP/1.x request starts with its method, a token, then a space. Registered methods are
# at most 17 characters long; past this many token bytes it is not a request line.
_MAX_METHOD = 32
# RFC 9110 tchar.
_TOKEN = frozenset(b"!#$%&'*+-.^_`|~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz")


def sniff(data: bytes) -> Literal["h2", "http/1"] | None:
    """Which protocol a connection speaks, from its first bytes; ``None``: read more.

    ``"h2"`` for the HTTP/2 preface, and also for anything that is neither a preface nor the
    start of a request line (answered with a GOAWAY, http2.py); ``"http/1"`` once the bytes leave
    the preface and start with a method and a space (h11 answers the rest, 400 if malformed).
    """
    if PREFACE.startswith(data):
        return None if len(data) < len(PREFACE) else "h2"
    if data.startswith(PREFACE):
        return "h2"
    for index, byte in enumerate(data[: _MAX_METHOD + 1]):
        if byte not in _TOKEN:
            return "http/1" if byte == 0x20 and index > 0 else "h2"
    return None if len(data) <= _MAX_METHOD else "h2"


async def _first_bytes(stream: trio.SocketStream) -> tuple[Literal["h2", "http/1"], bytes] | None:
    """Read until :func:`sniff` decides; ``None`` if the peer left first."""
    data = b""
    while True:
        try:
            chunk = await stream.receive_some(1 << 16)
        except (trio.BrokenResourceError, trio.ClosedResourceError):
            return None
        if not chunk:
            return None
        data += chunk
        kind = sniff(data)
        if kind is not None:
            return kind, data


def _split(address: str) -> tuple[str, int]:
    host, _, port = address.rpartition(":")
    if not host or not port.isdigit():
        raise ValueError(f"expected host:port, got {address!r}")
    return host.strip("[]"), int(port)


def _url(listener: trio.SocketListener) -> str:
    sock = listener.socket
    host, port = sock.getsockname()[:2]
    if sock.family == stdlib_socket.AF_INET6:
        host = f"[{host}]"
    return f"http://{host}:{port}"


async def serve_builtin(
    router: Router,
    address: str,
    *,
    shutdown_trigger: Callable[[], Awaitable[None]] | None = None,
    graceful_timeout: float = GRACEFUL_TIMEOUT,
    task_status: trio.TaskStatus[list[str]] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Serve ``router`` on ``address`` (``host:port``, or ``fd://N`` for a listening socket
    the caller made, as hypercorn's bind does) until cancelled, or until ``shutdown_trigger``
    returns and the connections drained."""
    if address.startswith("fd://"):  # a listening socket made for us (e.g. SO_REUSEPORT)
        listeners = [trio.SocketListener(trio.socket.socket(fileno=int(address[5:])))]
    else:
        host, port = _split(address)
        listeners = await trio.open_tcp_listeners(port, host=host)
    connections: set[H2ServerConnection | H11Connection] = set()
    # Connections that have not said which protocol they speak yet: idle, closed on shutdown.
    undecided: set[trio.CancelScope] = set()
    # Garbage and malformed requests from peers that need no identity: rate-limited (logs.py).
    log_peer_error = RateLimitedWarning(logger)
    stopping = False

    async def handle(stream: trio.SocketStream) -> None:
        first = None
        with trio.CancelScope() as waiting:
            undecided.add(waiting)
            try:
                if stopping:  # accepted just before the listeners closed
                    waiting.cancel()
                first = await _first_bytes(stream)
            finally:
                undecided.discard(waiting)
        if first is None:  # gone, or shut down before it said anything
            with trio.CancelScope(shield=True):
                await stream.aclose()
            return
        kind, data = first
        connection: H2ServerConnection | H11Connection
        if kind == "h2":
            connection = H2ServerConnection(stream, router, log_peer_error)
        else:
            connection = H11Connection(stream, router, log_peer_error)
        connections.add(connection)
        if stopping:
            connection.shutdown()
        try:
            await connection.run(data)
        finally:
            connections.discard(connection)

    async with trio.open_nursery() as handlers:
        async with trio.open_nursery() as accepting:
            accepting.start_soon(
                partial(trio.serve_listeners, handle, listeners, handler_nursery=handlers)
            )
            task_status.started([_url(listener) for listener in listeners])
            if shutdown_trigger is None:
                await trio.sleep_forever()
            await shutdown_trigger()
            # No await between the trigger (which drained the router) and refusing new
            # streams: a stream that arrives now is refused, never started and left running.
            stopping = True
            for connection in list(connections):
                connection.shutdown()
            for waiting in list(undecided):
                waiting.cancel()
            accepting.cancel_scope.cancel()
        for listener in listeners:
            await listener.aclose()
        handlers.cancel_scope.deadline = trio.current_time() + graceful_timeout
