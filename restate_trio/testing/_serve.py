"""Serving an endpoint next to a :class:`RestateServer`."""

from __future__ import annotations

from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Protocol, cast

import trio

from ._errors import HarnessError, HarnessTimeoutError
from ._process import LOCALHOST

if TYPE_CHECKING:
    from collections.abc import AsyncGenerator, Awaitable, Callable, Sequence

    from ._server import RestateServer


class ServableEndpoint(Protocol):
    """What :func:`serve_endpoint` needs, i.e. :class:`restate_trio.Endpoint`.

    Its ``serve(address, *, task_status=..., shutdown_trigger=None)`` serves
    until cancelled and reports the bound URLs (``list[str]``) through
    ``task_status.started``.
    """

    @property
    def serve(self) -> Callable[..., Awaitable[object]]:
        """``async def serve(address: str, *, task_status, shutdown_trigger)``."""
        ...


def _local_url(urls: Sequence[str]) -> str:
    if not urls:
        raise HarnessError("the endpoint reported no bound URL")
    for url in urls:
        if url.startswith("http://"):
            return url
    return urls[0]


@asynccontextmanager
async def serve_endpoint(
    endpoint: ServableEndpoint,
    server: RestateServer,
    *,
    path_prefix: str = "",
    use_http_11: bool = False,
    address: str = f"{LOCALHOST}:0",
) -> AsyncGenerator[str]:
    """Serve ``endpoint`` on a free port and register it with ``server``.

    Yields the deployment URI, ``http://127.0.0.1:PORT{path_prefix}``; the
    server discovers the endpoint under that prefix (over HTTP/1.1 if
    ``use_http_11``, else h2c). The endpoint stops when the block exits.
    Exceptions raised in the block propagate unchanged (not wrapped in an
    exception group)::

        async with serve_endpoint(endpoint, server) as uri:
            response = await server.ingress("/Greeter/greet", "Ada")

    Raises:
        RegistrationError: the server could not discover the endpoint.
        HarnessTimeoutError: the endpoint did not start serving within
            ``server.request_timeout`` seconds.
    """
    if path_prefix and not path_prefix.startswith("/"):
        path_prefix = "/" + path_prefix
    path_prefix = path_prefix.rstrip("/")
    pending: BaseException | None = None
    async with trio.open_nursery() as nursery:
        try:
            try:
                with trio.fail_after(server.request_timeout):
                    urls = cast("list[str]", await nursery.start(endpoint.serve, address))
            except trio.TooSlowError as exc:
                raise HarnessTimeoutError(
                    f"the endpoint did not start serving within {server.request_timeout} s"
                ) from exc
            uri = _local_url(urls).rstrip("/") + path_prefix
            await server.register(uri, use_http_11=use_http_11)
        except Exception as exc:
            # Raised below, once the nursery is closed, so that it is not
            # wrapped in an exception group.
            pending = exc
            nursery.cancel_scope.cancel()
        else:
            try:
                yield uri
            except BaseException as exc:
                if isinstance(exc, trio.Cancelled | GeneratorExit):
                    raise
                pending = exc
            finally:
                nursery.cancel_scope.cancel()
    if pending is not None:
        raise pending
