"""The h2 server: restate-trio's own HTTP/2 (prior knowledge, cleartext) server on trio.

Opt-in for now (``Endpoint.serve(server="h2")``); hypercorn stays the default and serves
HTTP/1.1. What it does per connection is in ``h2connection.py``; this module listens, and
shuts down the way the hypercorn path does:

1. the shutdown trigger returns (the endpoint has already called ``Router.drain()``, so
   invocations waiting for the runtime suspend);
2. stop accepting; every connection refuses new streams (REFUSED_STREAM, which Restate
   retries elsewhere) and closes with a GOAWAY once its streams are done;
3. after ``graceful_timeout`` whatever still runs is cancelled.
"""

from __future__ import annotations

import logging
import socket as stdlib_socket
from collections.abc import Awaitable, Callable
from functools import partial

import trio

from .h2connection import H2ServerConnection
from .logs import RateLimitedWarning
from .router import Router

__all__ = ["serve_h2"]

logger = logging.getLogger("restate_trio")

# As the hypercorn path (serve.py restate_config): time the in-flight invocations get to
# finish or suspend after the shutdown trigger.
GRACEFUL_TIMEOUT = 5.0


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


async def serve_h2(
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
    connections: set[H2ServerConnection] = set()
    # Garbage and HTTP/1.x from peers that need no identity: rate-limited (logs.py).
    log_peer_error = RateLimitedWarning(logger)
    stopping = False

    async def handle(stream: trio.SocketStream) -> None:
        connection = H2ServerConnection(stream, router, log_peer_error)
        connections.add(connection)
        if stopping:  # accepted just before the listeners closed
            connection.shutdown()
        try:
            await connection.run()
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
            accepting.cancel_scope.cancel()
        for listener in listeners:
            await listener.aclose()
        handlers.cancel_scope.deadline = trio.current_time() + graceful_timeout
