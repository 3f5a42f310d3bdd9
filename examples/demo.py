"""End-to-end demo: a real restate-server, the example services, calls through the ingress.

Run it with ``nox -s demo`` (or ``python examples/demo.py`` with restate-trio[testing]
installed). It installs the pinned restate-server from npm into a cache folder if needed,
starts it on free ports, serves ``examples/services.py`` in-process with ``Endpoint.serve()``
(the builtin server), registers the deployment, and prints what the Greeter, the Counter
object and the Signup workflow answer.
"""

from __future__ import annotations

import sys
from pathlib import Path

import trio

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from examples.services import endpoint
from restate_trio.testing import RestateServer, install_restate_server, serve_endpoint


async def _demo(server: RestateServer) -> None:
    async with serve_endpoint(endpoint, server) as uri:
        print(f"endpoint registered at {uri}")
        calls: list[tuple[str, object]] = [
            ("/Greeter/greet", "Ada"),
            ("/Counter/demo/add", 5),
            ("/Counter/demo/add", 37),
            ("/Counter/demo/current", b""),
            ("/Signup/ada@example.com/run", "ada@example.com"),
            ("/Signup/ada@example.com/status", b""),
        ]
        for path, body in calls:
            response = await server.ingress(path, body)
            print(f"POST {path:34} -> {response.status} {response.body.decode()}")
            if response.status != 200:
                raise SystemExit(f"unexpected answer from {path}")


def main() -> None:
    install_restate_server()
    with RestateServer() as server:
        print(f"restate-server ingress at {server.ingress_url}, admin at {server.admin_url}")
        trio.run(_demo, server)


if __name__ == "__main__":
    main()
