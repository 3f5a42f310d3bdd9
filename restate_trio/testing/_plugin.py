"""The pytest plugin (entry point ``restate_trio`` in ``pytest11``): fixtures that run a real
restate-server, serve a test module's endpoint to it, and call it.

Installed with ``pip install 'restate-trio[testing]'``; disable it with ``-p no:restate_trio``.
See docs/testing.md for the user's guide. In short:

* ``restate_server``: a :class:`RestateServer` (one process per session and settings);
* ``restate_endpoint``: what the module serves; override it (or set the ``restate_endpoint``
  ini option to ``module:attribute``);
* ``restate_deployment``: the endpoint served (in a thread) and registered, for the module;
* ``restate_client``: a :class:`restate_trio.client.Client` on the server's ingress (and the
  deployment registered); ``restate_admin``: an :class:`~restate_trio.client.AdminClient`.

Settings (``always_replay``, ``disable_retries``, ``protocol_v7``) come from a module's
``pytestmark = pytest.mark.restate(...)``, else the command line (``--restate-always-replay``,
...), else the ini file (``restate_always_replay = true``, ...).
"""

from __future__ import annotations

import importlib
import os
import time
from typing import TYPE_CHECKING, cast

import pytest

from ._background import BackgroundEndpoint
from ._errors import RestateServerNotFoundError, describe_invocation
from ._http import sync_client
from ._install import find_restate_server, install_restate_server
from ._pool import ServerPool, ServerSettings
from ._server import RestateServer

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Generator, Iterator
    from pathlib import Path

    from ..client import AdminClient, Client
    from ..endpoint import ASGIApp, Endpoint
    from ._serve import ServableEndpoint

MARKER = "restate"
# The settings: marker keyword = option name suffix; help text.
_SETTINGS = {
    "always_replay": (
        "suspend at every await and replay (the server's inactivity timeout is 0), "
        "to find non-determinism"
    ),
    "disable_retries": "one attempt per invocation: a failed attempt kills it (no retries)",
    "protocol_v7": "let the server negotiate service protocol V7",
}
_LOG_TAIL_LINES = 60
_TEST_STARTED = pytest.StashKey[float]()
_POOL = pytest.StashKey[ServerPool]()


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("restate", "restate-trio (a real restate-server for tests)")
    for name, description in _SETTINGS.items():
        group.addoption(
            "--restate-" + name.replace("_", "-"),
            action="store_true",
            default=None,
            dest="restate_" + name,
            help=f"{description}; for every module without its own `restate` marker setting",
        )
        parser.addini("restate_" + name, f"{description} (default false)", type="bool")
    parser.addini(
        "restate_endpoint",
        "the endpoint test modules serve unless they override the restate_endpoint fixture, "
        "as module:attribute (e.g. myapp.services:endpoint)",
        default="",
    )


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        f"{MARKER}(always_replay=False, disable_retries=False, protocol_v7=False): the "
        "restate-server settings of a test module (set it with pytestmark, at module level)",
    )


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        for node, mark in item.iter_markers_with_node(MARKER):
            if not isinstance(node, pytest.Module):
                raise pytest.UsageError(
                    f"{node.nodeid}: the `{MARKER}` marker configures the server of a whole "
                    "module: set it with `pytestmark = pytest.mark.restate(...)` at module level"
                )
            unknown = set(mark.kwargs) - set(_SETTINGS)
            if mark.args or unknown:
                raise pytest.UsageError(
                    f"{node.nodeid}: the `{MARKER}` marker takes the keywords "
                    f"{', '.join(_SETTINGS)}, not {sorted(unknown) or list(mark.args)}"
                )


def _settings(request: pytest.FixtureRequest) -> ServerSettings:
    """The settings of the requesting module: marker, else command line, else ini."""
    marked: dict[str, object] = {}
    for mark in reversed(list(request.node.iter_markers(MARKER))):
        marked.update(mark.kwargs)
    values: dict[str, bool] = {}
    for name in _SETTINGS:
        value = marked.get(name)
        if value is None:
            value = request.config.getoption("restate_" + name)
        if value is None:
            value = request.config.getini("restate_" + name)
        values[name] = bool(value)
    return ServerSettings(**values)


@pytest.fixture(scope="session")
def restate_server_binary() -> Path:
    """The restate-server executable: ``$RESTATE_SERVER_BIN``, else the cached one, else it is
    installed from npm into the cache (once)."""
    try:
        return find_restate_server()
    except RestateServerNotFoundError:
        if os.environ.get("RESTATE_SERVER_BIN"):
            raise
        return install_restate_server()


@pytest.fixture(scope="session")
def _restate_server_pool(
    request: pytest.FixtureRequest, restate_server_binary: Path
) -> Iterator[ServerPool]:
    pool = ServerPool(restate_server_binary)
    request.config.stash[_POOL] = pool
    try:
        yield pool
    finally:
        del request.config.stash[_POOL]
        pool.close()


@pytest.fixture(scope="module")
def restate_server(
    request: pytest.FixtureRequest, _restate_server_pool: ServerPool
) -> RestateServer:
    """A real restate-server for the module, with the module's settings.

    The process is started once per session (per distinct settings) and shared by the
    modules that use it: Virtual Object state and invocations outlive a module, so use
    keys of your own per test.
    """
    return _restate_server_pool.get(_settings(request))


@pytest.fixture(scope="module")
def restate_endpoint(request: pytest.FixtureRequest) -> Endpoint | ServableEndpoint | ASGIApp:
    """The endpoint the module serves: override this fixture (module or session scope), or
    set the ``restate_endpoint`` ini option (``module:attribute``) for a default."""
    spec = cast("str", request.config.getini("restate_endpoint")).strip()
    if not spec:
        pytest.fail(
            f"{request.node.nodeid}: no endpoint to serve: define a `restate_endpoint` "
            "fixture (scope='module') returning it, or set `restate_endpoint = module:attribute` "
            "in the pytest configuration",
            pytrace=False,
        )
    module_name, _, attribute = spec.partition(":")
    if not attribute:
        pytest.fail(f"restate_endpoint must be module:attribute, not {spec!r}", pytrace=False)
    value: object = importlib.import_module(module_name)
    for part in attribute.split("."):
        value = getattr(value, part)
    return cast("Endpoint | ServableEndpoint | ASGIApp", value)


@pytest.fixture(scope="module")
def restate_deployment(
    restate_endpoint: Endpoint | ServableEndpoint | ASGIApp, restate_server: RestateServer
) -> Iterator[str]:
    """``restate_endpoint``, served for the module (in a thread of its own) and registered
    with ``restate_server``; the deployment URI.

    When the module is done, the invocations of its services that have not finished are
    killed and the deployment is removed.
    """
    background = BackgroundEndpoint(restate_endpoint, restate_server)
    yield background.start()
    background.stop()


@pytest.fixture
async def restate_client(
    restate_server: RestateServer, restate_deployment: str
) -> AsyncIterator[Client]:
    """A :class:`restate_trio.client.Client` on ``restate_server``'s ingress, with the
    module's endpoint registered (for one test: it lives in the test's trio run)."""
    from ..client import Client

    async with Client(restate_server.ingress_url) as client:
        yield client


@pytest.fixture
async def restate_admin(restate_server: RestateServer) -> AsyncIterator[AdminClient]:
    """A :class:`restate_trio.client.AdminClient` on ``restate_server``'s admin API."""
    from ..client import AdminClient

    async with AdminClient(restate_server.admin_url) as admin:
        yield admin


# -- failure reports ---------------------------------------------------------------------


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Generator[None]:
    # Wall-clock time (the server's clock): invocations created since belong to this test.
    item.stash[_TEST_STARTED] = time.time()
    return (yield)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    report = yield
    if report.failed:
        started = item.stash.get(_TEST_STARTED, None)
        for server in _servers_of(item):
            if started is not None and call.when == "call" and server.is_running:
                unfinished = _unfinished_invocations(server, started)
                if unfinished:
                    report.sections.append(
                        (f"restate invocations not completed ({server!r})", unfinished)
                    )
            tail = server.log_tail(_LOG_TAIL_LINES)
            if tail:
                report.sections.append((f"restate-server log ({server!r}), last lines", tail))
    return report


def _servers_of(item: pytest.Item) -> list[RestateServer]:
    servers: list[RestateServer] = []
    funcargs: dict[str, object] = getattr(item, "funcargs", {})
    for value in funcargs.values():
        if isinstance(value, RestateServer) and value not in servers:
            servers.append(value)
    return servers


def _unfinished_invocations(server: RestateServer, since: float) -> str:
    """One line per invocation created since ``since`` that has not completed, with why (a
    blocking query: the report is made outside the test's trio run)."""
    sql = (
        "SELECT * FROM sys_invocation WHERE status != 'completed' AND "
        f"created_at >= to_timestamp_millis({int(since * 1000)}) ORDER BY created_at"
    )
    try:
        with sync_client() as client:
            response = client.post(
                f"{server.admin_url}/query",
                json={"query": sql},
                headers={"accept": "application/json"},
                timeout=5.0,
            )
        rows = cast("dict[str, list[dict[str, object]]]", response.json())["rows"]
    except Exception as exc:  # a report must not fail because the server does
        return f"(could not query the server: {exc!r})"
    return "\n".join(describe_invocation(row).removeprefix("; ") for row in rows)
