"""Serving an endpoint (or any ASGI app) on a free port next to a :class:`RestateServer`."""

from __future__ import annotations

import os
from contextlib import asynccontextmanager
from functools import partial
from typing import TYPE_CHECKING, Literal, Protocol, cast, runtime_checkable

import trio

from ._errors import HarnessError, HarnessTimeoutError
from ._process import LOCALHOST

if TYPE_CHECKING:
    from collections.abc import AsyncGenerator, Awaitable, Callable, Sequence

    from ..endpoint import ASGIApp, Endpoint
    from ._server import RestateServer


@runtime_checkable
class ServableEndpoint(Protocol):
    """An object that serves itself, like :class:`restate_trio.Endpoint`.

    Its ``serve(address, *, task_status=..., shutdown_trigger=None)`` serves
    until cancelled and reports the bound URLs (``list[str]``) through
    ``task_status.started``. :func:`serve_endpoint` also takes a plain ASGI
    app, which is usually simpler than writing such a method.
    """

    @property
    def serve(self) -> Callable[..., Awaitable[object]]:
        """``async def serve(address: str, *, task_status, shutdown_trigger)``."""
        ...


async def _serve_app(
    app: ASGIApp,
    address: str,
    *,
    task_status: trio.TaskStatus[list[str]] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Serve an ASGI app as ``Endpoint.serve(server="hypercorn")`` serves its own: hypercorn's
    trio worker with the Restate-tuned configuration, h2c and HTTP/1.1 on one port."""
    # Imported here so that importing restate_trio.testing (and its CLI) stays light.
    from hypercorn.trio import serve  # pyright: ignore[reportUnknownVariableType]
    from hypercorn.typing import ASGIFramework

    from .._transport.serve import restate_config

    await serve(cast("ASGIFramework", app), restate_config(address), task_status=task_status)


def _server_from_environment() -> Literal["builtin", "hypercorn"] | None:
    value = os.environ.get("RESTATE_TRIO_SERVER", "")
    if value == "builtin":
        return "builtin"
    if value == "hypercorn":
        return "hypercorn"
    if value:
        raise HarnessError(f"RESTATE_TRIO_SERVER must be 'builtin' or 'hypercorn', not {value!r}")
    return None


def _local_url(urls: Sequence[str]) -> str:
    if not urls:
        raise HarnessError("the endpoint reported no bound URL")
    for url in urls:
        if url.startswith("http://"):
            return url
    return urls[0]


@asynccontextmanager
async def serve_endpoint(
    endpoint: Endpoint | ServableEndpoint | ASGIApp,
    server: RestateServer,
    *,
    path_prefix: str = "",
    use_http_11: bool = False,
    address: str = f"{LOCALHOST}:0",
    register: bool = True,
    http_server: Literal["builtin", "hypercorn"] | None = None,
) -> AsyncGenerator[str]:
    """Serve ``endpoint`` on a free port and register it with ``server``.

    ``endpoint`` is one of:

    * a :class:`restate_trio.Endpoint` (with whatever options it was built
      with), served by its own :meth:`~restate_trio.Endpoint.serve`;
    * any ASGI app, e.g. ``endpoint.app()`` wrapped in a middleware that
      records requests; it is served by hypercorn's trio worker, configured
      for Restate (as ``Endpoint.serve(server="hypercorn")`` would);
    * any other :class:`ServableEndpoint`.

    Yields the deployment URI, ``http://127.0.0.1:PORT{path_prefix}``; the
    server discovers the endpoint under that prefix (over HTTP/1.1 if
    ``use_http_11``, else h2c). With ``register=False`` nothing is
    registered and the URI is only yielded, e.g. to call
    :meth:`RestateServer.register` yourself. The endpoint stops when the
    block exits. Exceptions raised in the block propagate unchanged (not
    wrapped in an exception group).

    ``http_server`` is passed to :meth:`restate_trio.Endpoint.serve` as its
    ``server`` (``"builtin"`` or ``"hypercorn"``) when ``endpoint`` is an
    :class:`~restate_trio.Endpoint`; by default it comes from the
    ``RESTATE_TRIO_SERVER`` environment variable, else ``serve``'s own
    default (``"builtin"``). That lets a whole test suite run on either
    server, over HTTP/2 and HTTP/1.1 alike.

    Example (a complete script)::

        import trio

        import restate_trio as restate
        from restate_trio.testing import RestateServer, serve_endpoint


        class Greeter:
            async def greet(self, ctx: restate.Context, name: str) -> str:
                return f"Hello {name}!"


        async def main(server: RestateServer) -> None:
            endpoint = restate.Endpoint().bind(restate.reflect(Greeter()))
            async with serve_endpoint(endpoint, server) as uri:
                response = await server.ingress("/Greeter/greet", "Ada")
                assert response.json() == "Hello Ada!", response.text
                print(f"{uri} answered {response.json()!r}")


        with RestateServer() as server:
            trio.run(main, server)

    To observe what the runtime sends, pass an ASGI app instead::

        app = endpoint.app()

        async def logged(scope, receive, send):
            print(scope["type"], scope.get("path"))
            await app(scope, receive, send)

        async with serve_endpoint(logged, server):
            ...

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
                    from ..endpoint import Endpoint as _Endpoint

                    choice = http_server or _server_from_environment()
                    if choice is not None and isinstance(endpoint, _Endpoint):
                        serve = partial(endpoint.serve, server=choice)
                        started = await nursery.start(serve, address)
                    elif isinstance(endpoint, ServableEndpoint):
                        started = await nursery.start(endpoint.serve, address)
                    else:
                        started = await nursery.start(_serve_app, endpoint, address)
            except trio.TooSlowError as exc:
                raise HarnessTimeoutError(
                    f"the endpoint did not start serving within {server.request_timeout} s"
                ) from exc
            uri = _local_url(cast("list[str]", started)).rstrip("/") + path_prefix
            if register:
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
