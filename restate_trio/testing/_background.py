"""Serving an endpoint for longer than one trio run: in a thread with its own trio loop.

pytest-trio runs every test in a trio run of its own, so an endpoint that serves a whole test
module (a module-scoped fixture) cannot live in any of them. :class:`BackgroundEndpoint` runs
:func:`serve_endpoint` in a daemon thread instead; the tests reach it over HTTP, through the
server, like a deployment.
"""

from __future__ import annotations

import contextlib
import threading
from typing import TYPE_CHECKING, cast

import trio

from ._errors import HarnessError
from ._serve import serve_endpoint

if TYPE_CHECKING:
    from collections.abc import Mapping

    from ..endpoint import ASGIApp, Endpoint
    from ._serve import ServableEndpoint
    from ._server import RestateServer

# Bounds, in seconds, on the thread's start and stop (each of which talks to the server).
_THREAD_TIMEOUT = 60.0


class BackgroundEndpoint:
    """``endpoint`` served in a thread and registered with ``server``, from :meth:`start`
    to :meth:`stop` (both blocking, called from outside any trio run)."""

    def __init__(
        self, endpoint: Endpoint | ServableEndpoint | ASGIApp, server: RestateServer
    ) -> None:
        self._endpoint = endpoint
        self._server = server
        self._ready = threading.Event()
        self._thread: threading.Thread | None = None
        self._error: BaseException | None = None
        self._token: trio.lowlevel.TrioToken | None = None
        self._stop: trio.Event | None = None
        self.uri = ""
        """The deployment URI, once started."""
        self.deployment_id = ""
        """The id the server gave the deployment, once started."""
        self.services: tuple[str, ...] = ()
        """The names of the services the server discovered."""

    def start(self) -> str:
        """Serve and register; return the deployment URI.

        Raises:
            RegistrationError: the server could not discover the endpoint.
            HarnessError: the endpoint did not start in time.
        """
        self._thread = threading.Thread(target=self._run, name="restate-endpoint", daemon=True)
        self._thread.start()
        if not self._ready.wait(_THREAD_TIMEOUT):
            raise HarnessError(f"the endpoint did not start serving within {_THREAD_TIMEOUT} s")
        if self._error is not None:
            self._thread.join()
            raise self._error
        return self.uri

    def stop(self) -> None:
        """Kill the deployment's unfinished invocations, remove the deployment, stop serving.

        Raises the error the endpoint failed with while it served, if any.
        """
        thread = self._thread
        if thread is None:
            return
        self._thread = None
        if self._token is not None and self._stop is not None:
            # RunFinishedError: it stopped on its own (failed); the error is raised below.
            with contextlib.suppress(trio.RunFinishedError):
                trio.from_thread.run_sync(self._stop.set, trio_token=self._token)
        thread.join(_THREAD_TIMEOUT)
        if thread.is_alive():
            raise HarnessError(f"the endpoint did not stop within {_THREAD_TIMEOUT} s")
        if self._error is not None:
            raise self._error

    def _run(self) -> None:
        try:
            trio.run(self._serve)
        except BaseException as exc:  # reported by start() or stop(), in the test's thread
            self._error = exc
        finally:
            self._ready.set()

    async def _serve(self) -> None:
        self._token = trio.lowlevel.current_trio_token()
        self._stop = trio.Event()
        async with serve_endpoint(self._endpoint, self._server, register=False) as uri:
            registered = await self._server.register(uri)
            self.uri = uri
            self.deployment_id = str(registered.get("id", ""))
            self.services = _service_names(registered)
            self._ready.set()
            await self._stop.wait()
            # The server is shared by the whole session: leave nothing of this module that
            # would keep retrying against an endpoint that is gone.
            await self._clean_up()

    async def _clean_up(self) -> None:
        server = self._server
        if self.services:
            names = ", ".join("'" + name.replace("'", "''") + "'" for name in self.services)
            rows = await server.query(
                "SELECT id FROM sys_invocation "
                f"WHERE status != 'completed' AND target_service_name IN ({names})"
            )
            for row in rows:
                response = await server.admin_patch(f"/invocations/{row['id']}/kill")
                # 404: it completed in between.
                if not response.ok and response.status != 404:
                    raise HarnessError(
                        f"killing invocation {row['id']} failed with HTTP {response.status}: "
                        f"{response.text}"
                    )
        if self.deployment_id:
            response = await server.admin_delete(f"/deployments/{self.deployment_id}?force=true")
            if not response.ok and response.status != 404:
                raise HarnessError(
                    f"removing deployment {self.deployment_id} failed with HTTP "
                    f"{response.status}: {response.text}"
                )


def _service_names(registered: Mapping[str, object]) -> tuple[str, ...]:
    services = registered.get("services")
    if not isinstance(services, list):
        return ()
    names: list[str] = []
    for service in cast("list[object]", services):
        if isinstance(service, dict):
            name = cast("dict[str, object]", service).get("name")
            if isinstance(name, str):
                names.append(name)
    return tuple(names)
