"""Test harness: run a real ``restate-server`` next to your services.

This module starts a genuine Restate server as a child process, registers
your :class:`restate_trio.Endpoint` with it and lets you call handlers
through the server's HTTP ingress, so tests exercise exactly the code path a
deployment does.

The server binary is the one published on npm as
``@restatedev/restate-server``; :func:`install_restate_server` (or
``python -m restate_trio.testing install``) downloads it into a local cache.

Typical use with ``pytest`` and ``pytest-trio``::

    import pytest
    from restate_trio.testing import RestateServer, serve_endpoint


    @pytest.fixture(scope="module")
    def restate_server():
        with RestateServer() as server:
            yield server


    async def test_greet(restate_server):
        async with serve_endpoint(my_endpoint, restate_server):
            response = await restate_server.ingress("/Greeter/greet", "world")
            assert response.json() == "Hello world!"

The server is started *synchronously* (:meth:`RestateServer.start` blocks
until it is healthy) so that it can live in a module- or session-scoped
synchronous fixture, while the helpers that talk to it are ``async`` and run
under trio.

Talking to the server needs :mod:`httpx` (``pip install restate-trio[testing]``);
it is imported on the first request, so installing the server works without it.
"""

from __future__ import annotations

# One concern per private module: _install (find/install the binary), _process (child
# process supervision), _http (requests and responses), _server (RestateServer),
# _serve (serve_endpoint), _cli (python -m restate_trio.testing).
from ._cli import main
from ._errors import (
    HarnessError,
    HarnessTimeoutError,
    InvocationTimeoutError,
    RegistrationError,
    RestateServerNotFoundError,
    ServerStartError,
)
from ._http import HttpResponse, IngressResponse
from ._install import (
    RESTATE_SERVER_VERSION,
    default_cache_dir,
    find_restate_server,
    install_restate_server,
)
from ._serve import ServableEndpoint, serve_endpoint
from ._server import RestateServer, generate_signing_key

__all__ = [
    "RESTATE_SERVER_VERSION",
    "HarnessError",
    "HarnessTimeoutError",
    "HttpResponse",
    "IngressResponse",
    "InvocationTimeoutError",
    "RegistrationError",
    "RestateServer",
    "RestateServerNotFoundError",
    "ServableEndpoint",
    "ServerStartError",
    "default_cache_dir",
    "find_restate_server",
    "generate_signing_key",
    "install_restate_server",
    "main",
    "serve_endpoint",
]

# Documented, shown in reprs and pickled as restate_trio.testing.<name>, wherever defined.
for _public in (
    HarnessError,
    HarnessTimeoutError,
    HttpResponse,
    IngressResponse,
    InvocationTimeoutError,
    RegistrationError,
    RestateServer,
    RestateServerNotFoundError,
    ServableEndpoint,
    ServerStartError,
    default_cache_dir,
    find_restate_server,
    generate_signing_key,
    install_restate_server,
    main,
    serve_endpoint,
):
    _public.__module__ = __name__
del _public
