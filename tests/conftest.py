"""Shared fixtures: real restate-server processes for end-to-end tests.

The suite runs with restate-trio's own pytest plugin (restate_trio.testing._plugin, loaded
here): ``restate_server_binary`` comes from it, and it attaches
the log tail (and the unfinished invocations) of every server a failed test received as a
fixture value. This file overrides the plugin's ``restate_server`` (as users may) so that a
module can start its server with any :class:`RestateServer` option:

* ``restate_server`` -- one server per test *module* (a synchronous fixture,
  so it can outlive each test's trio run). A module configures it by
  overriding ``restate_server_options``::

      @pytest.fixture(scope="module")
      def restate_server_options() -> dict[str, object]:
          return {"enable_protocol_v7": True}

* ``make_restate_server`` -- start extra servers with other settings inside
  one test; they are stopped after the test.

When a test fails, the tail of the log of every server ``make_restate_server``
started for it is attached to the report too (the "restate-server log" section).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

import pytest

from restate_trio.testing import RestateServer, generate_signing_key

# The plugin from the working tree (pyproject.toml's addopts block its entry point); pytester
# runs the plugin's own tests (tests/testing/).
pytest_plugins = ["pytester", "restate_trio.testing._plugin"]

if TYPE_CHECKING:
    from collections.abc import Generator, Iterator
    from pathlib import Path

_LOG_TAIL_LINES = 80
_USED_SERVERS = pytest.StashKey[list[RestateServer]]()


class MakeRestateServer(Protocol):
    """Type of the ``make_restate_server`` fixture."""

    def __call__(self, **options: object) -> RestateServer: ...


@pytest.fixture(scope="module")
def restate_server_options() -> dict[str, object]:
    """Keyword arguments for the module's ``restate_server``; override per module."""
    return {}


@pytest.fixture(scope="module")
def restate_server(
    restate_server_binary: Path, restate_server_options: dict[str, object]
) -> Iterator[RestateServer]:
    """A restate-server shared by all tests of a module."""
    server = RestateServer(binary=restate_server_binary, **restate_server_options)  # type: ignore[arg-type]
    with server:
        yield server


@pytest.fixture
def make_restate_server(
    request: pytest.FixtureRequest, restate_server_binary: Path
) -> Iterator[MakeRestateServer]:
    """Factory: ``make_restate_server(enable_protocol_v7=True, ...)`` starts a
    fresh server (same options as :class:`RestateServer`); it is stopped when
    the test ends."""
    started: list[RestateServer] = []

    def make(**options: object) -> RestateServer:
        options.setdefault("binary", restate_server_binary)
        server = RestateServer(**options)  # type: ignore[arg-type]
        server.start()
        started.append(server)
        request.node.stash.setdefault(_USED_SERVERS, []).append(server)
        return server

    try:
        yield make
    finally:
        for server in reversed(started):
            server.stop()


@pytest.fixture(scope="session")
def signing_key() -> tuple[bytes, str]:
    """An Ed25519 request-signing key pair: ``(private_key_pem, "publickeyv1_...")``."""
    return generate_signing_key()


def _servers_of(item: pytest.Item) -> list[RestateServer]:
    # The plugin reports the servers among the fixture values.
    funcargs: dict[str, object] = getattr(item, "funcargs", {})
    servers: list[RestateServer] = []
    for server in item.stash.get(_USED_SERVERS, []):
        if server not in servers and all(server is not value for value in funcargs.values()):
            servers.append(server)
    return servers


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    report = yield
    if report.failed:
        for server in _servers_of(item):
            tail = server.log_tail(_LOG_TAIL_LINES)
            if tail:
                report.sections.append((f"restate-server log ({server!r}), last lines", tail))
    return report
