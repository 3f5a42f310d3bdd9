"""restate_trio.endpoint in use: serving services inside a trio program, or as an ASGI app.

``tests/e2e/test_reference_definitions.py`` serves :data:`endpoint` both ways against a real
Restate server and calls it.
"""

from __future__ import annotations

import trio

import restate_trio as restate
from restate_trio.endpoint import ASGIApp


class Echo:
    async def echo(self, ctx: restate.Context, text: str) -> str:
        return text


# [Endpoint]
endpoint = restate.Endpoint(max_invocations=1_000).bind(restate.reflect(Echo()))


async def serve_in(nursery: trio.Nursery) -> str:
    # start() returns once the port is bound (port 0 picks a free one) with the URLs.
    urls: list[str] = await nursery.start(endpoint.serve, "127.0.0.1:0")
    return urls[0]  # register it: restate-trio register http://127.0.0.1:PORT


if __name__ == "__main__":
    endpoint.run("0.0.0.0:9080")  # a plain program: serves until SIGTERM or Ctrl-C
# [/Endpoint]

# [ASGIApp]
# For an ASGI server: hypercorn -k trio examples.reference.endpoint:app
app: ASGIApp = endpoint.app()
# [/ASGIApp]
