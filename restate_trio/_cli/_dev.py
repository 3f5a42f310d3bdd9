"""``restate-trio dev``: a local restate-server, the endpoint served by a child process, and a
reload (new child, forced re-registration) on every code change.

Why a child process: a reload must run the new code from scratch (a module re-import leaves
old objects, registrations and imported state behind), and the child is the same
``restate-trio serve`` that production uses. The server is never restarted, so its data (state,
journals, idempotency keys) lives through reloads in its temporary folder, removed at exit.

Stopping: SIGINT and SIGTERM only set a flag (see _signals). Every loop here waits in slices
and checks it (the file watcher polls it every 50 ms), then the ``finally`` blocks stop the
child (SIGTERM: it drains like a production endpoint), stop the server and remove its folder.
Nothing is stopped from inside a signal handler, so a signal cannot cut the cleanup short.
"""

from __future__ import annotations

import itertools
import os
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, cast
from urllib.parse import urlsplit

import httpx
import trio
import watchfiles

from ..testing import RegistrationError, RestateServer, ServerStartError
from ..testing._process import terminate
from ._examples import curl_calls, input_content_types
from ._servers import DEFAULT_ENDPOINT_PORT, LOCALHOST, choose_port, local_server
from ._signals import StopFlag, stop_on_signals
from ._target import watch_root

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

    from ._output import Output

_READY_TIMEOUT = 60.0
_POLL = 0.05
# What the child gets to drain before SIGKILL (the endpoint's graceful timeout is 5 s).
_CHILD_GRACE = 6.0


def _accepts(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(1.0)
        return sock.connect_ex((LOCALHOST, port)) == 0


class EndpointChild:
    """The endpoint, served by ``restate-trio serve`` in a child process on a fixed port."""

    def __init__(self, target: str, port: int, out: Output) -> None:
        self.target = target
        self.port = port
        self.out = out
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def uri(self) -> str:
        """The deployment URI registered with the server."""
        return f"http://{LOCALHOST}:{self.port}"

    def start(self, stop: StopFlag) -> bool:
        """Start serving; True once the port accepts connections, False if the child
        exited first (its error is on the terminal) or a stop was requested."""
        command = [
            sys.executable,
            "-m",
            "restate_trio._cli",
            "serve",
            self.target,
            "--bind",
            f"{LOCALHOST}:{self.port}",
            "--dev-parent",
            str(os.getpid()),
        ]
        # stdout and stderr are the terminal's: the user's prints and logs show as they are.
        self.process = subprocess.Popen(command, stdin=subprocess.DEVNULL)
        deadline = time.monotonic() + _READY_TIMEOUT
        while not stop.is_set():
            code = self.process.poll()
            if code is not None:
                self.out.warning(f"the endpoint exited (status {code}); waiting for a change")
                return False
            if _accepts(self.port):
                return True
            if time.monotonic() > deadline:
                self.out.warning(f"the endpoint did not listen within {_READY_TIMEOUT:.0f} s")
                return False
            time.sleep(_POLL)
        return False

    def stop(self) -> None:
        """SIGTERM (the endpoint drains), SIGKILL after a grace period; waits for it."""
        if self.process is not None:
            terminate(self.process, _CHILD_GRACE)
            self.process = None


def _register(server: RestateServer, uri: str) -> list[Mapping[str, object]]:
    """Register (force: a reload may change or remove handlers); the services registered."""

    async def register() -> Mapping[str, object]:
        return await server.register(uri, force=True)

    services = trio.run(register).get("services")
    if not isinstance(services, list):
        return []
    return [cast("Mapping[str, object]", s) for s in cast("list[object]", services)]


def _manifest(uri: str) -> object:
    """The endpoint's discovery manifest (its handlers' content types), or None."""
    try:
        with httpx.Client(trust_env=False) as client:
            answer = client.get(
                f"{uri.rstrip('/')}/discover",
                headers={"accept": "application/vnd.restate.endpointmanifest.v3+json"},
                timeout=5.0,
            )
        return answer.json() if answer.status_code == 200 else None
    except (httpx.HTTPError, ValueError):
        return None


def _print_calls(
    out: Output, services: Sequence[Mapping[str, object]], ingress: str, uri: str
) -> None:
    calls = curl_calls(services, ingress, input_content_types(_manifest(uri)))
    if not calls:
        out.warning("the endpoint has no handlers")
        return
    out.heading("Call a handler:")
    for call in calls:
        out.command(call)


def _serve_and_register(
    child: EndpointChild, server: RestateServer, stop: StopFlag, out: Output, first: bool
) -> None:
    if not child.start(stop):
        return
    try:
        services = _register(server, child.uri)
    except RegistrationError as exc:
        out.warning(f"registration failed: {exc}")
        return
    names = ", ".join(sorted(str(s.get("name")) for s in services))
    out.event(f"registered {child.uri} ({names})" if first else f"reloaded: {names}")
    if first:
        _print_calls(out, services, server.ingress_url, child.uri)


def _changed(changes: set[tuple[watchfiles.Change, str]], root: Path) -> str:
    paths = sorted({os.path.relpath(path, root) for _, path in changes})
    shown = ", ".join(paths[:3])
    return shown + (f" and {len(paths) - 3} more" if len(paths) > 3 else "")


def run_dev(
    target: str,
    *,
    ingress_port: int | None,
    admin_port: int | None,
    endpoint_port: int | None,
    watch: Sequence[Path],
    out: Output,
) -> None:
    """Run the dev loop until SIGINT or SIGTERM."""
    roots = [*(path.resolve() for path in watch)] or [watch_root(target)]
    with stop_on_signals() as stop:
        server = local_server(out, ingress_port=ingress_port, admin_port=admin_port)
        try:
            server.start()
        except ServerStartError:
            # Ctrl-C reaches the server too (one process group): it stopped, as asked.
            if stop.is_set():
                return
            raise
        try:
            if stop.is_set():
                return
            taken = {
                urlsplit(server.ingress_url).port or 0,
                urlsplit(server.admin_url).port or 0,
                server.node_port,
            }
            port = choose_port("endpoint", endpoint_port, DEFAULT_ENDPOINT_PORT, taken, out)
            out.heading("Restate is running (restate-trio dev)")
            out.field("ingress", server.ingress_url)
            out.field("UI", server.ui_url)
            out.field("admin", server.admin_url)
            out.field("endpoint", f"http://{LOCALHOST}:{port}")
            out.field("server", f"{server.base_dir} (removed at exit)")
            out.field("watching", ", ".join(str(root) for root in roots))
            child = EndpointChild(target, port, out)
            try:
                changes = watchfiles.watch(
                    *roots,
                    watch_filter=watchfiles.PythonFilter(),
                    stop_event=stop,
                    raise_interrupt=False,
                    # Editors save in bursts; one reload per burst.
                    debounce=400,
                    # An empty batch at every timeout: the first one says the watcher is
                    # live, so "Watching" is only printed once no edit can be missed.
                    rust_timeout=250,
                    yield_on_timeout=True,
                )
                first = next(changes, None)
                if first is None:  # stopped
                    return
                _serve_and_register(child, server, stop, out, first=True)
                out.line()
                out.line("Watching for changes; Ctrl-C to stop.")
                for batch in itertools.chain([first], changes):
                    if not batch:
                        continue
                    out.event(f"{_changed(batch, roots[0])} changed: reloading")
                    child.stop()
                    if stop.is_set():
                        break
                    _serve_and_register(child, server, stop, out, first=False)
            finally:
                child.stop()
        finally:
            server.stop()
            out.event("stopped")
